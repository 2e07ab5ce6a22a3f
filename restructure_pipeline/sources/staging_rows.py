"""Turns a raw chunk of a source into staging rows (``restructure.source_record``'s shape).

Pure: no connection. The identity rules decide each record; this module adds the
lineage columns (source, reference, sequence, line), the timestamps a prospect will
inherit, the raw values that could not be parsed, and a content hash used to detect
changes between runs.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from restructure_pipeline.identity.attributes import INTEGER_COLUMNS, INVALID_NUMBERS
from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.identity.records import normalize_records
from restructure_pipeline.store.staging import STAGING_COLUMNS

_HASH_SEED = 0x5EED


def _blank_to_null(name: str) -> pl.Expr:
    text = pl.col(name).cast(pl.String).str.strip_chars()
    return pl.when(text.str.len_bytes() > 0).then(text)


def _rejected_values(decided: pl.DataFrame, textual: list[str]) -> pl.DataFrame:
    """Raw numeric values the cleaner rejected, as a JSON object by field (null when none).

    ``textual`` are the numeric fields that arrived as text (typed legacy columns cannot be rejected).
    """
    if not textual:
        return pl.DataFrame({"rejected_values": pl.Series([None] * decided.height, dtype=pl.String)})
    fields = [
        pl.when(pl.col(INVALID_NUMBERS).list.contains(name)).then(pl.col(f"raw_{name}")).alias(name)
        for name in textual
    ]
    encoded = pl.struct(fields).struct.json_encode()
    return decided.select(
        pl.when(pl.col(INVALID_NUMBERS).list.len() > 0).then(encoded).alias("rejected_values")
    )


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
    decided = pl.concat([decided, _rejected_values(decided, textual)], how="horizontal")
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
