"""Values too long for a btree index: measured in UTF-8 bytes, kept at the limit, refused one byte over."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from restructure_pipeline.identity.emails import MAX_ADDRESS_OCTETS
from restructure_pipeline.identity.index_limits import (
    INDEXED_INPUT_COLUMNS,
    MAX_INDEXED_VALUE_BYTES,
    TOO_LONG_COLUMNS,
    too_long_columns,
)

# The btree maximum for Postgres's default 8 kB page (BTMaxItemSize).
BTREE_MAX_ITEM_BYTES = 2704
SCHEMA_PRISMA = Path(__file__).resolve().parents[2] / "schema.prisma"


def _too_long(**columns: str | None) -> list[str]:
    frame = pl.DataFrame({name: [value] for name, value in columns.items()}, schema=dict.fromkeys(columns, pl.String))
    return too_long_columns(frame).get_column(TOO_LONG_COLUMNS).to_list()[0]


def test_a_value_exactly_at_the_limit_is_kept() -> None:
    assert _too_long(jobTitle="x" * MAX_INDEXED_VALUE_BYTES) == []


def test_a_value_one_byte_over_the_limit_is_too_long() -> None:
    assert _too_long(jobTitle="x" * (MAX_INDEXED_VALUE_BYTES + 1)) == ["jobTitle"]


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    # "é" is 2 bytes and "東" 3: far fewer characters than the limit, yet over it.
    assert _too_long(city="é" * (MAX_INDEXED_VALUE_BYTES // 2)) == []
    assert _too_long(city="é" * (MAX_INDEXED_VALUE_BYTES // 2) + "x") == ["city"]
    assert _too_long(company="東" * (MAX_INDEXED_VALUE_BYTES // 3 + 1)) == ["company"]


def test_every_too_long_column_is_named_and_nulls_are_never_too_long() -> None:
    long = "x" * (MAX_INDEXED_VALUE_BYTES + 1)
    assert _too_long(externalId=long, industry=None, department=long, address=long) == ["externalId", "department"]


def test_columns_without_a_prisma_index_are_not_limited() -> None:
    long = "x" * 10 * 1024 * 1024
    assert _too_long(address=long, jobTitleLink=long, firstName=long, zipCode=long) == []


def test_a_frame_without_checked_columns_gets_an_empty_list() -> None:
    assert too_long_columns(pl.DataFrame({"address": ["x"]})).get_column(TOO_LONG_COLUMNS).to_list() == [[]]


def test_the_limit_fits_the_two_column_key_in_one_btree_entry() -> None:
    # (externalSource, externalId) is one unique index: both values at the limit, plus a
    # generous 64 bytes for the tuple and varlena headers and alignment.
    assert 2 * MAX_INDEXED_VALUE_BYTES + 64 <= BTREE_MAX_ITEM_BYTES


def test_every_prisma_indexed_text_column_is_checked_or_bounded_by_another_rule() -> None:
    """A new @@index in schema.prisma must be checked here too (or be bounded another way)."""
    indexed = set(re.findall(r"@@(?:index|unique)\(\[([^\]]+)\]\)", SCHEMA_PRISMA.read_text()))
    fields = {field.strip() for group in indexed for field in group.split(",")}
    # Ids are the pipeline's own; sizes and revenue are numbers; domain is at most 253 octets.
    bounded_elsewhere = {"companyId", "minEmployeeSize", "maxEmployeeSize", "revenue", "domain"}
    # "Company".name is the merged "company" input field.
    checked = {"name" if name == "company" else name for name in INDEXED_INPUT_COLUMNS}
    assert fields - bounded_elsewhere <= checked
    assert MAX_ADDRESS_OCTETS <= MAX_INDEXED_VALUE_BYTES  # a valid email always fits


@pytest.mark.parametrize("name", INDEXED_INPUT_COLUMNS)
def test_each_checked_column_is_limited(name: str) -> None:
    assert _too_long(**{name: "x" * (MAX_INDEXED_VALUE_BYTES + 1)}) == [name]
