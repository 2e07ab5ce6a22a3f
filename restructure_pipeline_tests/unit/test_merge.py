"""Merging a domain's rows into one company, and resolving people to companies by cleaned name."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.identity.merge import MERGED_COLUMNS, company_name_owners, merge_company_attributes

SCHEMA: dict[str, pl.DataType] = {
    "domain": pl.String(),
    "company": pl.String(),
    "industry": pl.String(),
    "minEmployeeSize": pl.Int32(),
    "maxEmployeeSize": pl.Int32(),
    "employeeSizeLink": pl.String(),
    "revenue": pl.Int64(),
    "address": pl.String(),
    "city": pl.String(),
    "state": pl.String(),
    "country": pl.String(),
    "zipCode": pl.String(),
    "phone": pl.String(),
    "mobilePhone": pl.String(),
    "updatedAt": pl.Datetime("ms"),
    "record_key": pl.String(),
}
T0 = datetime(2024, 1, 1)


def records(*rows: dict[str, Any]) -> pl.DataFrame:
    filled = [
        {"domain": "acme.com", "updatedAt": T0, "record_key": f"r{index:03d}"} | row for index, row in enumerate(rows)
    ]
    return pl.DataFrame(filled, schema=SCHEMA)


def merged_row(frame: pl.DataFrame, domain: str = "acme.com") -> dict[str, Any]:
    result = merge_company_attributes(frame)
    return result.filter(pl.col("domain") == domain).row(0, named=True)


def test_one_row_per_domain_with_the_company_columns() -> None:
    frame = records({"company": "Acme"}, {"company": "Acme"}, {"domain": "beta.io", "company": "Beta"})
    result = merge_company_attributes(frame)
    assert tuple(result.columns) == MERGED_COLUMNS
    assert result.get_column("domain").to_list() == ["acme.com", "beta.io"]
    assert result.get_column("name").to_list() == ["Acme", "Beta"]
    assert result.schema["minEmployeeSize"] == pl.Int32 and result.schema["revenue"] == pl.Int64


def test_most_frequent_value_wins() -> None:
    frame = records(
        {"industry": "Software", "updatedAt": T0},
        {"industry": "Software", "updatedAt": T0},
        {"industry": "Retail", "updatedAt": T0 + timedelta(days=30)},
    )
    assert merged_row(frame)["industry"] == "Software"


def test_empty_values_do_not_vote() -> None:
    frame = records({"industry": None}, {"industry": ""}, {"industry": "  "}, {"industry": "Software"})
    assert merged_row(frame)["industry"] == "Software"


def test_tie_goes_to_most_recently_updated_row() -> None:
    frame = records(
        {"industry": "Retail", "updatedAt": T0, "record_key": "z"},
        {"industry": "Software", "updatedAt": T0 + timedelta(days=1), "record_key": "a"},
    )
    assert merged_row(frame)["industry"] == "Software"


def test_tie_with_equal_update_times_goes_to_greatest_record_key() -> None:
    frame = records(
        {"industry": "Retail", "record_key": "k1"},
        {"industry": "Software", "record_key": "k2"},
    )
    assert merged_row(frame)["industry"] == "Software"


def test_null_updated_at_counts_as_oldest() -> None:
    frame = records(
        {"industry": "Retail", "updatedAt": None, "record_key": "z"},
        {"industry": "Software", "updatedAt": T0, "record_key": "a"},
    )
    assert merged_row(frame)["industry"] == "Software"


def test_company_attribute_name_comes_from_company() -> None:
    frame = records({"company": "Acme Corp"}, {"company": "ACME"}, {"company": "Acme Corp"})
    assert merged_row(frame)["name"] == "Acme Corp"


def test_employee_size_group_never_mixes_rows() -> None:
    # min 10 and max 500 are each most frequent alone, but no row carries (10, 500).
    frame = records(
        {"minEmployeeSize": 10, "maxEmployeeSize": 50, "employeeSizeLink": "a", "updatedAt": T0},
        {"minEmployeeSize": 10, "maxEmployeeSize": 100, "employeeSizeLink": "b", "updatedAt": T0},
        {"minEmployeeSize": 200, "maxEmployeeSize": 500, "employeeSizeLink": "c", "updatedAt": T0},
        {"minEmployeeSize": 300, "maxEmployeeSize": 500, "employeeSizeLink": "d", "updatedAt": T0 + timedelta(days=1)},
    )
    row = merged_row(frame)
    assert (row["minEmployeeSize"], row["maxEmployeeSize"], row["employeeSizeLink"]) == (300, 500, "d")


def test_employee_size_votes_only_when_min_or_max_is_set() -> None:
    frame = records(
        {"employeeSizeLink": "link-only", "updatedAt": T0 + timedelta(days=5)},
        {"employeeSizeLink": "link-only", "updatedAt": T0 + timedelta(days=5), "record_key": "x"},
        {"minEmployeeSize": None, "maxEmployeeSize": 20, "employeeSizeLink": None},
    )
    row = merged_row(frame)
    assert (row["minEmployeeSize"], row["maxEmployeeSize"], row["employeeSizeLink"]) == (None, 20, None)


def test_location_group_never_mixes_rows() -> None:
    location = ("address", "city", "state", "country", "zipCode")
    springfield = ("1 Main St", "Springfield", "IL", "US", "62701")
    frame = records(
        dict(zip(location, springfield, strict=True)),
        dict(zip(location, springfield, strict=True)),
        {"city": "Berlin", "country": "DE", "zipCode": "10115", "updatedAt": T0 + timedelta(days=1)},
        {"city": "Berlin", "country": "DE", "zipCode": "10117"},
        {"city": "Berlin", "country": "DE", "zipCode": "10119"},
    )
    row = merged_row(frame)
    # Field by field this would be ("1 Main St", "Berlin", "IL", "DE", "62701"): an address nobody has.
    assert tuple(row[name] for name in location) == springfield


def test_location_group_votes_when_any_field_is_set() -> None:
    frame = records({"zipCode": "10115"}, {"zipCode": "10115"}, {"city": "Paris", "updatedAt": T0 + timedelta(days=1)})
    row = merged_row(frame)
    assert (row["city"], row["zipCode"]) == (None, "10115")


def test_domain_without_any_value_gets_nulls() -> None:
    row = merged_row(records({}))
    assert all(row[name] is None for name in MERGED_COLUMNS if name != "domain")


def test_rows_without_domain_are_not_merged() -> None:
    result = merge_company_attributes(records({"domain": None, "company": "Ghost"}, {"company": "Acme"}))
    assert result.get_column("domain").to_list() == ["acme.com"]


def test_duplicate_record_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="record_key"):
        merge_company_attributes(records({"record_key": "same"}, {"record_key": "same"}))


def test_missing_column_is_rejected() -> None:
    with pytest.raises(ValueError, match="revenue"):
        merge_company_attributes(records({}).drop("revenue"))


def test_merge_on_empty_frame_gives_empty_result() -> None:
    result = merge_company_attributes(pl.DataFrame(schema=SCHEMA))
    assert result.height == 0 and tuple(result.columns) == MERGED_COLUMNS


def _tie_heavy_frame() -> pl.DataFrame:
    days = [T0 + timedelta(days=offset) for offset in (0, 0, 1, 1, 2)]
    rows = []
    for index in range(40):
        rows.append(
            {
                "domain": ["a.com", "b.com", "c.com"][index % 3],
                "company": ["A", "B", None][index % 3 if index % 5 else 2],
                "industry": ["x", "y"][index % 2] if index % 7 else None,
                "minEmployeeSize": [1, 10, None][index % 3],
                "maxEmployeeSize": [5, 50][index % 2],
                "employeeSizeLink": ["l1", None][index % 2],
                "revenue": [100, 200, None, 100][index % 4],
                "city": ["P", "Q", None][(index * 7) % 3],
                "country": ["FR", None][index % 2],
                "phone": [None, "1", "2"][index % 3],
                "updatedAt": days[index % 5],
                "record_key": f"k{(index * 17) % 40:02d}",
            }
        )
    return pl.DataFrame(rows, schema=SCHEMA)


@settings(max_examples=40, deadline=None)
@given(st.permutations(range(40)))
def test_merge_is_order_independent(order: list[int]) -> None:
    frame = _tie_heavy_frame()
    assert merge_company_attributes(frame[order]).equals(merge_company_attributes(frame))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "domain": st.sampled_from(["a.com", "b.com"]),
                "industry": st.sampled_from([None, "", "x", "y"]),
                "minEmployeeSize": st.sampled_from([None, 1, 2]),
                "maxEmployeeSize": st.sampled_from([None, 5]),
                "city": st.sampled_from([None, "P", "Q"]),
                "updatedAt": st.sampled_from([None, T0, T0 + timedelta(hours=1)]),
            }
        ),
        min_size=1,
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_merge_is_order_independent_under_any_row_permutation(rows: list[dict[str, Any]], random: Any) -> None:
    frame = pl.DataFrame([row | {"record_key": f"k{index}"} for index, row in enumerate(rows)], schema=SCHEMA)
    order = list(range(frame.height))
    random.shuffle(order)
    assert merge_company_attributes(frame[order]).equals(merge_company_attributes(frame))


def test_a_cleaned_name_carried_by_one_company_is_owned_by_it() -> None:
    companies = pl.DataFrame({"domain": ["beta.io", "acme.com"], "name_clean": ["beta", "acme"]})
    assert company_name_owners(companies).rows() == [("acme", "acme.com"), ("beta", "beta.io")]


def test_an_ambiguous_cleaned_name_has_no_owner() -> None:
    companies = pl.DataFrame({"domain": ["acme.com", "acme.de", "beta.io"], "name_clean": ["acme", "acme", "beta"]})
    assert company_name_owners(companies).rows() == [("beta", "beta.io")]


def test_missing_names_and_domains_own_nothing() -> None:
    companies = pl.DataFrame({"domain": ["x.com", None], "name_clean": [None, "acme"]})
    assert company_name_owners(companies).is_empty()


def test_same_company_listed_twice_is_not_ambiguous() -> None:
    companies = pl.DataFrame({"domain": ["acme.com", "acme.com"], "name_clean": ["acme", "acme"]})
    assert company_name_owners(companies).rows() == [("acme", "acme.com")]


def test_owners_of_no_companies_is_an_empty_frame_with_the_columns() -> None:
    owners = company_name_owners(pl.DataFrame(schema={"domain": pl.String, "name_clean": pl.String}))
    assert owners.schema == pl.Schema({"name_clean": pl.String, "domain": pl.String})
    assert owners.is_empty()
