"""Values too long for the btree indexes that ``schema.prisma`` declares.

A btree index entry must fit in a third of a page: for Postgres's default 8 kB page that is
2,704 bytes (``BTMaxItemSize``). A longer value is read without complaint and fails only where
a step writes it to an indexed column (the company or prospect step; for the identity, staging
already): ``index row requires ... bytes, maximum size is 8191``, naming the index and not the
input row, on every run until the source is fixed. So the rule is applied to the record, here,
and the record is quarantined as ``value_too_long`` instead.

Checked columns (:data:`INDEXED_INPUT_COLUMNS`), by the indexed output they feed:

- ``externalSource``, ``externalId``: the unique ``(externalSource, externalId)`` of
  ``"Prospect"`` and ``"Company"`` (and the staging table's key index).
- ``email``: ``"Prospect".email`` and the view's ``email``. The email rule already refuses
  an address over 254 octets; a value over the limit is reported as too long rather than
  invalid, because that says exactly what is wrong with it.
- ``company``, ``industry``: ``"Company".name`` / ``industry`` (merged from the rows of the
  company) and the view's ``company_name`` / ``industry``.
- ``jobTitle``, ``jobTitleLevel``, ``department``: their ``"Prospect"`` indexes.
- ``city``, ``state``, ``country``: indexed in both ``"Prospect"`` and ``"Company"``.

The limit, :data:`MAX_INDEXED_VALUE_BYTES`, is counted in UTF-8 bytes (what the index
stores), not characters: 1,000 bytes are 1,000 ASCII letters but only 333 CJK characters.

A legacy row's ``id`` is checked too, against :data:`MAX_DOCUMENT_ID_BYTES`: the migrated
prospect keeps it, and it is the prospect's OpenSearch document id, which OpenSearch limits
to 512 bytes (a longer one would fail every index run). Unlike the other columns it stays on
the staged row, as its lineage.
"""

from __future__ import annotations

import polars as pl

#: Longest value, in UTF-8 bytes, kept in a column that feeds a btree index. Under half of the
#: 2,704-byte btree maximum, so that even the two-column key (externalSource, externalId) fits
#: with both values at the limit and without relying on Postgres compressing them; and far
#: above any real name, title or place.
MAX_INDEXED_VALUE_BYTES = 1_000

INDEXED_INPUT_COLUMNS: tuple[str, ...] = (
    "externalSource",
    "externalId",
    "email",
    "company",
    "industry",
    "jobTitle",
    "jobTitleLevel",
    "department",
    "city",
    "state",
    "country",
)

#: OpenSearch refuses document ids longer than this many bytes.
MAX_DOCUMENT_ID_BYTES = 512

#: Every checked column and its limit in UTF-8 bytes.
VALUE_LIMITS: dict[str, int] = {**dict.fromkeys(INDEXED_INPUT_COLUMNS, MAX_INDEXED_VALUE_BYTES), "id": MAX_DOCUMENT_ID_BYTES}

#: List column naming, per record, each checked column whose value is over the limit.
TOO_LONG_COLUMNS = "too_long_columns"


def too_long_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Add :data:`TOO_LONG_COLUMNS`: the checked columns of each record longer than the limit.

    Values are measured as they are (trim first: the stored value is the trimmed one);
    checked columns absent from the frame are skipped; the list is empty when all fit.
    """
    over_limit = [
        pl.when(pl.col(name).cast(pl.String).str.len_bytes() > limit).then(pl.lit(name))
        for name, limit in VALUE_LIMITS.items()
        if name in frame.columns
    ]
    if not over_limit:
        return frame.with_columns(pl.lit([], dtype=pl.List(pl.String)).alias(TOO_LONG_COLUMNS))
    return frame.with_columns(pl.concat_list(over_limit).list.drop_nulls().alias(TOO_LONG_COLUMNS))
