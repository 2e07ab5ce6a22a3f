"""Cleaning of the raw Customer attributes, and CSV header names mapped to Customer fields.

:func:`clean_attributes` (vectorized, one pass of polars expressions):

- Every text attribute is cast to text, trimmed, and empty or whitespace-only
  becomes null. Attribute columns missing from the frame are added as nulls so
  every chunk leaves with the same schema. System columns (``id``,
  ``externalSource``, ``externalId``, timestamps) are left exactly as they came:
  they are identities, and trimming them would change which row they name.
- ``minEmployeeSize`` / ``maxEmployeeSize`` become Int32 and ``revenue`` Int64.
  Accepted: integers, optionally with a leading ``+``, grouped in threes by
  ``,``, ``'``, ``_`` or a space (``1,000``, ``1 000``), optionally with a zero
  fraction (``1000.0``). Rejected to null: negatives, fractions, other text,
  overflow, and dot-grouped thousands like ``1.000`` (a decimal point or a German
  thousands separator; guessing would silently change the value by 1000x).
- ``invalid_numbers`` (list of field names) names each numeric field whose
  non-empty value was rejected, so nothing is lost without a trace.
- A row with ``minEmployeeSize > maxEmployeeSize`` keeps both as given; the
  company merge takes the pair from one row and the values are the source's.

:func:`canonical_column_name` maps CSV headers to Customer field names ignoring
case, spaces, ``_`` and ``-`` (and a UTF-8 BOM on the first header).
"""

from __future__ import annotations

import polars as pl

ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "salutation",
    "firstName",
    "lastName",
    "email",
    "phone",
    "mobilePhone",
    "jobTitle",
    "jobTitleLevel",
    "department",
    "jobTitleLink",
    "company",
    "industry",
    "minEmployeeSize",
    "maxEmployeeSize",
    "employeeSizeLink",
    "revenue",
    "address",
    "city",
    "state",
    "country",
    "zipCode",
)
SYSTEM_COLUMNS: tuple[str, ...] = ("id", "externalSource", "externalId", "createdAt", "updatedAt")

INTEGER_COLUMNS: dict[str, pl.DataType] = {
    "minEmployeeSize": pl.Int32(),
    "maxEmployeeSize": pl.Int32(),
    "revenue": pl.Int64(),
}
TEXT_ATTRIBUTE_COLUMNS: tuple[str, ...] = tuple(name for name in ATTRIBUTE_COLUMNS if name not in INTEGER_COLUMNS)
INVALID_NUMBERS = "invalid_numbers"

_SEPARATOR_CLASS = r"[,'_ \u00a0\u202f]"
_INTEGER_TEXT = rf"^\+?(?:[0-9]+|[0-9]{{1,3}}(?:{_SEPARATOR_CLASS}[0-9]{{3}})+)(?:\.0+)?$"
_ZERO_FRACTION = r"\.0+$"
# A lone "1.000" reads as one thousand in much of Europe: refuse rather than guess.
_DOT_GROUPED = r"^\+?[0-9]{1,3}(?:\.[0-9]{3})+$"

_HEADER_KEYS: dict[str, str] = {name.casefold(): name for name in (*SYSTEM_COLUMNS, *ATTRIBUTE_COLUMNS)}


def canonical_column_name(header: str) -> str | None:
    """The Customer field a CSV header names, or None if it names none."""
    key = header.lstrip("\ufeff").strip().casefold()
    for ignored in (" ", "_", "-"):
        key = key.replace(ignored, "")
    return _HEADER_KEYS.get(key)


def _blank_to_null(expr: pl.Expr) -> pl.Expr:
    trimmed = expr.cast(pl.String).str.strip_chars()
    return pl.when(trimmed.str.len_bytes() > 0).then(trimmed)


def _parsed_integer(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``text`` (already trimmed, blank as null) as a non-negative integer of ``dtype``, else null."""
    well_formed = text.str.contains(_INTEGER_TEXT) & ~text.str.contains(_DOT_GROUPED)
    digits = text.str.replace_all(_SEPARATOR_CLASS, "").str.replace(_ZERO_FRACTION, "").str.strip_prefix("+")
    # Out-of-range digits fail the cast to null here, then the range check catches Int32 overflow.
    value = pl.when(well_formed).then(digits).cast(pl.Int64, strict=False)
    upper = 2**31 - 1 if dtype == pl.Int32() else 2**63 - 1
    return pl.when(value <= upper).then(value).cast(dtype)


def clean_attributes(frame: pl.DataFrame) -> pl.DataFrame:
    """Trim text attributes to null-if-empty, parse the numeric ones, and list rejected numbers."""
    missing = [
        pl.lit(None, dtype=INTEGER_COLUMNS.get(name, pl.String())).alias(name)
        for name in ATTRIBUTE_COLUMNS
        if name not in frame.columns
    ]
    raw = {name: f"__raw_{name}" for name in INTEGER_COLUMNS}
    rejected = [
        pl.when(pl.col(scratch).is_not_null() & pl.col(name).is_null()).then(pl.lit(name))
        for name, scratch in raw.items()
    ]
    return (
        frame.with_columns(missing)
        .with_columns(
            *[_blank_to_null(pl.col(name)).alias(name) for name in TEXT_ATTRIBUTE_COLUMNS],
            *[_blank_to_null(pl.col(name)).alias(scratch) for name, scratch in raw.items()],
        )
        .with_columns(_parsed_integer(pl.col(raw[name]), dtype).alias(name) for name, dtype in INTEGER_COLUMNS.items())
        .with_columns(pl.concat_list(rejected).list.drop_nulls().alias(INVALID_NUMBERS))
        .drop(raw.values())
    )
