"""Turns a raw chunk of a source into staging rows (``restructure.source_record``'s shape).

Pure: no connection. The identity rules decide each record; this module adds the
lineage columns (source, reference, sequence, line), the timestamps a prospect will
inherit, the raw values that could not be used (``rejected_values``), and a content hash
used to detect changes between runs.

``rejected_values`` is a JSON object by field name, or null when nothing was rejected:

- numbers that did not parse: the field is null on the row and its raw text is here
  (every textual numeric field is listed, null when it parsed);
- values too long to index (``too_long_columns``): *moved* here, verbatim, and null on the
  row, so that no staged column holds a value its index would refuse (the staging table
  indexes ``externalSource``/``externalId`` itself). The quarantine's ``raw`` record puts
  them back under their field.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from restructure_pipeline.identity.attributes import INTEGER_COLUMNS, INVALID_NUMBERS
from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.identity.index_limits import INDEXED_INPUT_COLUMNS, TOO_LONG_COLUMNS, VALUE_LIMITS
from restructure_pipeline.identity.records import normalize_records
from restructure_pipeline.store.staging import STAGING_COLUMNS

_HASH_SEED = 0x5EED


def _blank_to_null(name: str) -> pl.Expr:
    """Null for a blank value; any other value exactly as it came.

    Identity values are not trimmed: ``"42"`` and ``" 42"`` are two rows of "Customer" (its
    unique key compares them exactly), and trimming would make one supersede the other.
    """
    text = pl.col(name).cast(pl.String)
    return pl.when(text.str.strip_chars().str.len_bytes() > 0).then(text)


def _json_members(fields: list[pl.Expr]) -> pl.Expr:
    """``"name":value,...``: the members of a JSON object, encoded (and escaped) by polars."""
    return pl.struct(fields).struct.json_encode().str.strip_prefix("{").str.strip_suffix("}")


def _rejected_values(decided: pl.DataFrame, textual: list[str]) -> pl.DataFrame:
    """Raw values kept out of their columns, as a JSON object by field (null when none).

    ``textual`` are the numeric fields that arrived as text (typed legacy columns cannot be rejected).
    A row with no value too long is encoded exactly as before that rule existed, so its
    content hash, and hence what a rerun considers changed, stays the same.
    """
    rejected_number = pl.col(INVALID_NUMBERS).list.len() > 0 if textual else pl.lit(False)
    too_long = pl.col(TOO_LONG_COLUMNS)
    members = [
        pl.when(too_long.list.contains(name)).then(_json_members([pl.col(name).cast(pl.String)]))
        for name in VALUE_LIMITS
        if name in decided.columns
    ]
    if textual:
        numbers = _json_members([
            pl.when(pl.col(INVALID_NUMBERS).list.contains(name)).then(pl.col(f"raw_{name}")).alias(name)
            for name in textual
        ])
        members.insert(0, pl.when(rejected_number).then(numbers))
    body = pl.concat_str(members, separator=",", ignore_nulls=True)
    return decided.select(
        pl.when(rejected_number | (too_long.list.len() > 0)).then("{" + body + "}").alias("rejected_values")
    )


def _without_too_long_values() -> list[pl.Expr]:
    """Each checked column, null where its value is too long (the value is in ``rejected_values``)."""
    return [
        pl.when(~pl.col(TOO_LONG_COLUMNS).list.contains(name)).then(pl.col(name)).alias(name)
        for name in INDEXED_INPUT_COLUMNS
    ]


def staging_rows(
    raw: pl.DataFrame,
    *,
    source: str,
    source_seq: int,
    lists: DomainLists,
    observed_at: datetime | None = None,
    default_external_source: str | None = None,
) -> pl.DataFrame:
    """Decide and annotate one chunk.

    Legacy chunks carry ``id``, ``createdAt`` and ``updatedAt``; drop chunks carry a
    ``line`` and get ``observed_at`` (the drop's registration time) as both timestamps.
    """
    is_legacy = "id" in raw.columns
    raw = raw.with_columns(
        pl.lit(None, dtype=pl.String).alias(name) for name in ("externalSource", "externalId") if name not in raw.columns
    )
    identity = [
        _blank_to_null("externalId").alias("externalId"),
        (
            pl.coalesce(_blank_to_null("externalSource"), pl.lit(default_external_source, dtype=pl.String))
            if default_external_source
            else _blank_to_null("externalSource")
        ).alias("externalSource"),
    ]
    textual = [name for name in INTEGER_COLUMNS if name in raw.columns and raw[name].dtype == pl.String]
    prepared = raw.with_columns(*identity, *[pl.col(name).alias(f"raw_{name}") for name in textual])
    decided = normalize_records(prepared, lists)
    decided = pl.concat([decided, _rejected_values(decided, textual)], how="horizontal").with_columns(
        _without_too_long_values()
    )
    if is_legacy:
        lineage = [
            pl.col("id").alias("source_ref"),
            pl.col("id").alias("customer_id"),
            pl.lit(None, dtype=pl.Int32).alias("line"),
            pl.col("createdAt").cast(pl.Datetime("ms")),
            pl.col("updatedAt").cast(pl.Datetime("ms")),
        ]
    else:
        if observed_at is None:
            raise ValueError("drop rows need observed_at (the drop's registration time)")
        stamp = pl.lit(observed_at, dtype=pl.Datetime("ms"))
        lineage = [
            pl.col("line").cast(pl.String).alias("source_ref"),
            pl.lit(None, dtype=pl.String).alias("customer_id"),
            pl.col("line").cast(pl.Int32),
            stamp.alias("createdAt"),
            stamp.alias("updatedAt"),
        ]
    rows = decided.with_columns(
        *lineage,
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.lit(source_seq, dtype=pl.Int64).alias("source_seq"),
    ).select([name for name in STAGING_COLUMNS if name != "content_hash"])
    return rows.with_columns(
        pl.struct(pl.all()).hash(seed=_HASH_SEED).cast(pl.String).alias("content_hash")
    )
