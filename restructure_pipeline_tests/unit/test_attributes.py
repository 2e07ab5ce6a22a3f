"""Raw attribute cleaning (trim, numbers) and CSV header canonicalization."""

from __future__ import annotations

import polars as pl
import pytest

from restructure_pipeline.identity.attributes import (
    ATTRIBUTE_COLUMNS,
    SYSTEM_COLUMNS,
    canonical_column_name,
    clean_attributes,
)


def test_attribute_and_system_columns_are_the_customer_fields() -> None:
    assert len(ATTRIBUTE_COLUMNS) == 21 and "zipCode" in ATTRIBUTE_COLUMNS and "jobTitleLink" in ATTRIBUTE_COLUMNS
    assert SYSTEM_COLUMNS == ("id", "externalSource", "externalId", "createdAt", "updatedAt")


def test_text_attributes_are_trimmed_and_blank_becomes_null() -> None:
    frame = pl.DataFrame({"city": ["  Berlin ", "", "   ", None, "\u00a0Rome\t"], "firstName": ["a", "b", "c", "d", "e"]})
    result = clean_attributes(frame)
    assert result.get_column("city").to_list() == ["Berlin", None, None, None, "Rome"]


def test_missing_attribute_columns_are_added_as_typed_nulls() -> None:
    result = clean_attributes(pl.DataFrame({"email": ["a@b.com"]}))
    assert set(ATTRIBUTE_COLUMNS) <= set(result.columns)
    assert result.schema["minEmployeeSize"] == pl.Int32
    assert result.schema["revenue"] == pl.Int64
    assert result.schema["zipCode"] == pl.String
    assert result.row(0, named=True)["zipCode"] is None


def test_system_columns_are_left_untouched() -> None:
    frame = pl.DataFrame({"externalId": [" 42 "], "externalSource": [" crm"], "id": ["  c1"]})
    result = clean_attributes(frame)
    assert result.select("externalId", "externalSource", "id").row(0) == (" 42 ", " crm", "  c1")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1000", 1000),
        (" 1000 ", 1000),
        ("1,000", 1000),
        ("1 000", 1000),
        ("1\u00a0000\u00a0000", 1_000_000),
        ("1'000", 1000),
        ("1000.0", 1000),
        ("1,000.00", 1000),
        ("+7", 7),
        ("007", 7),
        ("0", 0),
    ],
)
def test_grouped_and_zero_fraction_numbers_are_accepted(raw: str, value: int) -> None:
    result = clean_attributes(pl.DataFrame({"minEmployeeSize": [raw], "revenue": [raw]}))
    assert result.select("minEmployeeSize", "revenue", "invalid_numbers").row(0) == (value, value, [])


def test_employee_sizes_parse_to_int32_and_revenue_to_int64() -> None:
    frame = pl.DataFrame({"minEmployeeSize": ["10"], "maxEmployeeSize": ["50"], "revenue": ["5000000000"]})
    result = clean_attributes(frame)
    assert (result.schema["minEmployeeSize"], result.schema["maxEmployeeSize"], result.schema["revenue"]) == (
        pl.Int32,
        pl.Int32,
        pl.Int64,
    )
    assert result.select("minEmployeeSize", "maxEmployeeSize", "revenue").row(0) == (10, 50, 5_000_000_000)


@pytest.mark.parametrize(
    "raw",
    ["-5", "abc", "10.5", "1e3", "$1000", "1.000", "100.000", "1000,50", "1,00", "12 345 6", "99999999999999999999"],
)
def test_rejected_numbers_are_null_and_listed_in_invalid_numbers(raw: str) -> None:
    result = clean_attributes(pl.DataFrame({"maxEmployeeSize": [raw], "revenue": [raw]}))
    assert result.select("maxEmployeeSize", "revenue").row(0) == (None, None)
    assert result.get_column("invalid_numbers").to_list() == [["maxEmployeeSize", "revenue"]]


def test_employee_size_overflowing_int32_is_rejected_but_fits_revenue() -> None:
    result = clean_attributes(pl.DataFrame({"minEmployeeSize": ["3000000000"], "revenue": ["3000000000"]}))
    assert result.select("minEmployeeSize", "revenue", "invalid_numbers").row(0) == (None, 3_000_000_000, ["minEmployeeSize"])


def test_blank_numbers_are_null_but_not_invalid() -> None:
    result = clean_attributes(pl.DataFrame({"revenue": ["", "  ", None]}))
    assert result.get_column("revenue").to_list() == [None, None, None]
    assert result.get_column("invalid_numbers").to_list() == [[], [], []]


def test_already_typed_numeric_columns_are_accepted() -> None:
    frame = pl.DataFrame({"minEmployeeSize": [5, -1, None], "maxEmployeeSize": [10.0, 2.5, None], "revenue": [1, 2, 3]})
    result = clean_attributes(frame)
    assert result.get_column("minEmployeeSize").to_list() == [5, None, None]
    assert result.get_column("maxEmployeeSize").to_list() == [10, None, None]
    assert result.get_column("invalid_numbers").to_list() == [[], ["minEmployeeSize", "maxEmployeeSize"], []]


def test_min_greater_than_max_is_kept_as_given() -> None:
    result = clean_attributes(pl.DataFrame({"minEmployeeSize": ["500"], "maxEmployeeSize": ["10"]}))
    assert result.select("minEmployeeSize", "maxEmployeeSize").row(0) == (500, 10)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("firstName", "firstName"),
        ("first_name", "firstName"),
        ("First Name", "firstName"),
        ("FIRSTNAME", "firstName"),
        ("first-name", "firstName"),
        ("zip code", "zipCode"),
        ("external_id", "externalId"),
        ("External Source", "externalSource"),
        ("\ufeffexternalId", "externalId"),
        (" Job_Title-Link ", "jobTitleLink"),
        ("E-Mail", "email"),
        ("min employee size", "minEmployeeSize"),
        ("updated_at", "updatedAt"),
    ],
)
def test_csv_headers_match_fields_ignoring_case_spaces_underscores_and_hyphens(header: str, field: str) -> None:
    assert canonical_column_name(header) == field


@pytest.mark.parametrize("header", ["", "nickname", "first.name", "zip"])
def test_unknown_header_is_none(header: str) -> None:
    assert canonical_column_name(header) is None
