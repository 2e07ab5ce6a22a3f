"""Merging the source rows of one domain into one company, and joining people to companies by name.

:func:`merge_company_attributes`, per domain, deterministic and independent of row order:

- Each attribute takes its most frequent non-empty value among the domain's rows
  (null and blank text do not vote; values are compared exactly as stored, so
  spell-variants are separate votes).
- A tie goes to the value carried by the most recently updated row: rows are
  ordered by ``updatedAt`` (null counts as oldest) and then by ``record_key``
  (greater wins), and each value is ranked by the latest row carrying it.
- Two groups are taken whole from one row so they never mix rows:
  the employee-size group (``minEmployeeSize``, ``maxEmployeeSize``,
  ``employeeSizeLink``; a row votes when min or max is set, its vote is the
  triple) and the location group (``address``, ``city``, ``state``, ``country``,
  ``zipCode``; a row votes when any of them is set, its vote is the 5-tuple).
  A winning min greater than max is kept as the source had it.
- ``name`` is the merged ``company``; rows without a domain are not merged.
- ``record_key`` must be unique: it is the final tie-break that makes the
  result independent of row order, so a duplicate raises ``ValueError``.

Everything is group_by/sort/join over the whole chunk; the number of Python
steps is fixed by the attribute list, never by the number of domains.

:func:`company_name_owners` gives each cleaned company name carried by ONE company
its domain: a person on a personal or missing email joins the company owning their
cleaned company name, and stays unresolved when none or several carry it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

MERGED_COLUMNS: tuple[str, ...] = (
    "domain",
    "name",
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
    "phone",
    "mobilePhone",
)
EMPLOYEE_SIZE_GROUP: tuple[str, ...] = ("minEmployeeSize", "maxEmployeeSize", "employeeSizeLink")
LOCATION_GROUP: tuple[str, ...] = ("address", "city", "state", "country", "zipCode")
# Output name -> source column, for the attributes that vote alone.
SINGLE_ATTRIBUTES: dict[str, str] = {
    "name": "company",
    "industry": "industry",
    "revenue": "revenue",
    "phone": "phone",
    "mobilePhone": "mobilePhone",
}
SOURCE_COLUMNS: tuple[str, ...] = (
    "domain",
    *SINGLE_ATTRIBUTES.values(),
    *EMPLOYEE_SIZE_GROUP,
    *LOCATION_GROUP,
    "updatedAt",
    "record_key",
)

_RECENCY = "__recency"
_VOTES = "__votes"
_LATEST = "__latest"


def _blank_to_null(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    text = [name for name in columns if frame.schema[name] == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.strip_chars().str.len_bytes() > 0).then(pl.col(name)).alias(name) for name in text
    )


def _winners(ranked: pl.DataFrame, columns: Sequence[str], votes_when: pl.Expr) -> pl.DataFrame:
    """Per domain, the value (tuple of ``columns``) with most votes, then the latest carrier row."""
    tallied = (
        ranked.filter(votes_when)
        .group_by(["domain", *columns])
        .agg(pl.len().alias(_VOTES), pl.col(_RECENCY).max().alias(_LATEST))
    )
    return (
        tallied.sort(["domain", _VOTES, _LATEST], descending=[False, True, True])
        .unique(subset="domain", keep="first", maintain_order=True)
        .select("domain", *columns)
    )


def merge_company_attributes(records: pl.DataFrame) -> pl.DataFrame:
    """One row per domain with the merged company attributes, sorted by domain (see module docstring)."""
    missing = [name for name in SOURCE_COLUMNS if name not in records.columns]
    if missing:
        raise ValueError(f"merge_company_attributes needs columns {missing}")
    if records.get_column("record_key").is_duplicated().any():
        raise ValueError("merge_company_attributes needs a unique record_key per row")

    attributes = [*SINGLE_ATTRIBUTES.values(), *EMPLOYEE_SIZE_GROUP, *LOCATION_GROUP]
    # One global order by (updatedAt, record_key) turns "most recently updated" into an integer rank.
    ranked = (
        _blank_to_null(records.select(SOURCE_COLUMNS).filter(pl.col("domain").is_not_null()), attributes)
        .sort(["updatedAt", "record_key"], nulls_last=False)
        .with_row_index(_RECENCY)
    )

    merged = ranked.select("domain").unique()
    for output, source in SINGLE_ATTRIBUTES.items():
        winners = _winners(ranked, [source], pl.col(source).is_not_null()).rename({source: output})
        merged = merged.join(winners, on="domain", how="left")
    size_votes = pl.col("minEmployeeSize").is_not_null() | pl.col("maxEmployeeSize").is_not_null()
    merged = merged.join(_winners(ranked, EMPLOYEE_SIZE_GROUP, size_votes), on="domain", how="left")
    location_votes = pl.any_horizontal(pl.col(name).is_not_null() for name in LOCATION_GROUP)
    merged = merged.join(_winners(ranked, LOCATION_GROUP, location_votes), on="domain", how="left")
    return merged.select(MERGED_COLUMNS).sort("domain")


def company_name_owners(companies: pl.DataFrame) -> pl.DataFrame:
    """``name_clean`` and ``domain``: each cleaned name carried by exactly ONE company domain.

    A person whose cleaned company name is one of them joins that company; a name several
    companies carry, or none, leaves the person unresolved.
    """
    return (
        companies.filter(pl.col("name_clean").is_not_null() & pl.col("domain").is_not_null())
        .group_by("name_clean")
        .agg(pl.col("domain").n_unique().alias("__companies"), pl.col("domain").min())
        .filter(pl.col("__companies") == 1)
        .select(pl.col("name_clean").cast(pl.String), pl.col("domain").cast(pl.String))
        .sort("name_clean")
    )
