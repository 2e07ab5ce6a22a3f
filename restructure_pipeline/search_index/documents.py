"""From a Postgres row (a psycopg dict row) to an OpenSearch document, and back for checks.

The rules:

- ``_source`` holds exactly the definition's ``source_fields`` (the table's or view's
  columns, same names). Extra keys in the row are ignored; a missing column is a
  :class:`DocumentError` (a wrong SELECT must not silently index half a row).
- **Null columns are left out of** ``_source``: documents stay small, and an absent field
  and a null one search the same (``exists`` is false for both). Comparisons
  (:func:`source_matches_row`) therefore treat absent and null as equal.
- Strings are kept exactly as stored (no trimming, no case change: the ``email`` and
  ``domain`` normalizer only affects matching, never ``_source``). Integers stay
  integers, range-checked against the mapped ``integer``/``long``.
- Timestamps (``TIMESTAMP(3)``: naive datetimes in UTC) become ISO-8601 UTC strings with
  exactly three fractional digits and ``Z``: ``2024-01-01T00:00:00.000Z``. An aware
  datetime is converted to UTC first; sub-millisecond digits are truncated.
- The document id is the Postgres id (:func:`document_id`): ``id`` for companies and
  prospects; ``prospect_id`` for a view row, or its ``company_id`` when the company has
  no prospect (then it has exactly one view row). Company ids are cuids the pipeline
  makes, prospect ids are cuids or legacy ``Customer`` ids, so the two never meet.

Indexing does not build documents row by row in Python: :func:`document_query` has
Postgres build the same ``_source`` as JSON text (``json_build_object`` + ``json_strip_nulls``,
timestamps by ``to_char``), which the bulk writer sends as it is. :func:`to_document`
stays the reference the checks compare with, and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from psycopg import sql

from restructure_pipeline.identity.index_limits import MAX_DOCUMENT_ID_BYTES
from restructure_pipeline.search_index.mappings import IndexDefinition

INTEGER_RANGE = (-(2**31), 2**31 - 1)
LONG_RANGE = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DocumentError(ValueError):
    """A row that cannot become a document of its index (missing column, wrong type, bad id)."""


def format_timestamp(value: datetime) -> str:
    """``2024-01-01T00:00:00.000Z``: UTC, milliseconds (truncated), ``Z``; a naive value is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def document_id(definition: IndexDefinition, row: Mapping[str, object]) -> str:
    """The document id of a row: its Postgres id (for the view: prospect id, else company id)."""
    value = row.get(definition.id_field)
    if value is None and definition.fallback_id_field is not None:
        value = row.get(definition.fallback_id_field)
    return checked_document_id(definition, value)


def checked_document_id(definition: IndexDefinition, value: object) -> str:
    """``value`` if it is a usable document id, else :class:`DocumentError`."""
    if not isinstance(value, str) or not value:
        fields = " / ".join(name for name in (definition.id_field, definition.fallback_id_field) if name)
        raise DocumentError(f"{definition.logical_name} row has no usable id in {fields}: {value!r}")
    if len(value.encode()) > MAX_DOCUMENT_ID_BYTES:
        raise DocumentError(f"{definition.logical_name} id {value[:40]!r}... is longer than {MAX_DOCUMENT_ID_BYTES} bytes")
    return value


def to_document(definition: IndexDefinition, row: Mapping[str, object]) -> tuple[str, dict]:
    """``(document id, _source)`` for one row; null columns are left out of ``_source``."""
    doc_id = document_id(definition, row)
    source: dict[str, object] = {}
    for name in definition.source_fields:
        if name not in row:
            raise DocumentError(f"{definition.logical_name} row {doc_id!r} lacks column {name!r}")
        value = row[name]
        if value is not None:
            source[name] = _field_value(definition, name, value, doc_id)
    return doc_id, source


def _field_value(definition: IndexDefinition, name: str, value: object, doc_id: str) -> object:
    kind = definition.field_type(name)
    if kind in ("keyword", "text") and isinstance(value, str):
        return value
    if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        low, high = INTEGER_RANGE if kind == "integer" else LONG_RANGE
        if not low <= value <= high:
            raise DocumentError(
                f"{definition.logical_name} row {doc_id!r}: {name}={value} is out of range for {kind}"
            )
        return value
    if kind == "date" and isinstance(value, datetime):
        return format_timestamp(value)
    raise DocumentError(
        f"{definition.logical_name} row {doc_id!r}: {name} is mapped as {kind} but the row holds "
        f"{type(value).__name__} {value!r:.60}"
    )


def source_matches_row(
    definition: IndexDefinition, row: Mapping[str, object], source: Mapping[str, object]
) -> list[str]:
    """Names of the fields where an indexed ``_source`` differs from the row (empty: equal).

    The row is normalized as :func:`to_document` does; absent and null are equal; dates
    are compared as instants (so ``...00.000Z`` equals ``...00Z`` or epoch millis).
    Fields in ``source`` that the definition does not know come last, sorted.
    """
    expected = to_document(definition, row)[1]
    differing = [
        name
        for name in definition.source_fields
        if not _same_value(definition.field_type(name), expected.get(name), source.get(name))
    ]
    differing.extend(sorted(set(source) - set(definition.source_fields)))
    return differing


def _same_value(kind: str, expected: object, actual: object) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(actual, bool):
        return False
    if kind == "date":
        expected_instant, actual_instant = _instant(expected), _instant(actual)
        return expected_instant is not None and expected_instant == actual_instant
    return type(expected) is type(actual) and expected == actual


def _instant(value: object) -> datetime | None:
    """A ``date`` field's value as an aware UTC datetime (ISO string or epoch millis), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


# ``json_build_object`` takes at most 100 arguments: 50 fields.
_MAX_SQL_FIELDS = 50
_TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'


def document_query(definition: IndexDefinition, relation: sql.Composable) -> sql.Composed:
    """``SELECT document id, _source JSON text FROM relation``, equal to :func:`to_document`.

    Postgres' types already bound integers to the mapped ``integer``/``long``, and the
    timestamps are ``TIMESTAMP(3)`` in UTC; callers append their own ``WHERE``.
    """
    if len(definition.source_fields) > _MAX_SQL_FIELDS:
        raise ValueError(f"{definition.logical_name} has more than {_MAX_SQL_FIELDS} fields for json_build_object")
    pairs = sql.SQL(", ").join(
        sql.SQL("{}, {}").format(sql.Literal(name), _json_value(definition, name)) for name in definition.source_fields
    )
    return sql.SQL("SELECT {doc_id}, json_strip_nulls(json_build_object({pairs}))::text FROM {relation}").format(
        doc_id=document_id_sql(definition), pairs=pairs, relation=relation
    )


def document_id_sql(definition: IndexDefinition) -> sql.Composable:
    """The document id as a SQL expression over the source's columns, as :func:`document_id` takes it."""
    doc_id = sql.Identifier(definition.id_field)
    if definition.fallback_id_field is None:
        return doc_id
    return sql.SQL("coalesce({}, {})").format(doc_id, sql.Identifier(definition.fallback_id_field))


def _json_value(definition: IndexDefinition, name: str) -> sql.Composable:
    column = sql.Identifier(name)
    if definition.field_type(name) == "date":
        return sql.SQL("to_char({}, {})").format(column, sql.Literal(_TIMESTAMP_FORMAT))
    return column
