"""Property-based tests of the rules on random inputs: never raise, deterministic, order-independent."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS, canonical_column_name, clean_attributes
from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.identity.index_limits import INDEXED_INPUT_COLUMNS, MAX_INDEXED_VALUE_BYTES
from restructure_pipeline.identity.merge import (
    EMPLOYEE_SIZE_GROUP,
    LOCATION_GROUP,
    company_name_owners,
    merge_company_attributes,
)
from restructure_pipeline.identity.records import normalize_records

_TEXT = st.one_of(st.none(), st.sampled_from(["", " ", "A", "a", "B", "Acme Inc", "Ünïcode", "x" * 40]))
_NUMBER = st.one_of(st.none(), st.integers(min_value=0, max_value=5000))

_RECORD = st.fixed_dictionaries(
    {
        "domain": st.sampled_from(["acme.com", "globex.de", "initech.co.uk"]),
        "company": _TEXT, "industry": _TEXT, "phone": _TEXT, "mobilePhone": _TEXT,
        "minEmployeeSize": _NUMBER, "maxEmployeeSize": _NUMBER, "employeeSizeLink": _TEXT,
        "revenue": _NUMBER, "address": _TEXT, "city": _TEXT, "state": _TEXT, "country": _TEXT, "zipCode": _TEXT,
        "minutes": st.integers(min_value=0, max_value=5),
    }
)


def _frame(records: list[dict]) -> pl.DataFrame:
    base = datetime(2024, 1, 1)
    rows = [
        {**{k: v for k, v in record.items() if k != "minutes"},
         "updatedAt": base + timedelta(minutes=record["minutes"]), "record_key": f"r{index:04d}"}
        for index, record in enumerate(records)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "domain": pl.String, "company": pl.String, "industry": pl.String, "phone": pl.String,
            "mobilePhone": pl.String, "minEmployeeSize": pl.Int32, "maxEmployeeSize": pl.Int32,
            "employeeSizeLink": pl.String, "revenue": pl.Int64, "address": pl.String, "city": pl.String,
            "state": pl.String, "country": pl.String, "zipCode": pl.String, "updatedAt": pl.Datetime("ms"),
            "record_key": pl.String,
        },
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(_RECORD, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_merge_is_order_independent_and_groups_come_from_one_row(records: list[dict], rng) -> None:
    frame = _frame(records)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 2**31))
    merged = merge_company_attributes(frame)
    assert merged.equals(merge_company_attributes(shuffled))
    assert merged["domain"].to_list() == sorted(set(frame["domain"]))
    for company in merged.iter_rows(named=True):
        rows = frame.filter(pl.col("domain") == company["domain"])
        for group in (EMPLOYEE_SIZE_GROUP, LOCATION_GROUP):
            chosen = tuple(company[name] for name in group)
            if any(value is not None for value in chosen):
                # The winning tuple is exactly one input row's (blanks read as absent).
                candidates = {
                    tuple(None if isinstance(v, str) and not v.strip() else v for v in row)
                    for row in rows.select(group).iter_rows()
                }
                assert chosen in candidates


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["acme", "globex", None]), st.sampled_from(["a.com", "b.com", "c.com"])),
             max_size=8),
    st.lists(st.sampled_from(["acme", "globex", "zeta", None]), max_size=8),
)
def test_name_resolution_is_all_or_nothing_and_order_independent(companies: list, people: list) -> None:
    companies_frame = pl.DataFrame(companies, schema={"name_clean": pl.String, "domain": pl.String}, orient="row")
    owners = company_name_owners(companies_frame)
    assert owners.equals(company_name_owners(companies_frame.reverse()))
    owner_of = dict(owners.iter_rows())
    for name in people:
        domains = {domain for company_name, domain in companies if company_name == name and name is not None}
        expected = next(iter(domains)) if len(domains) == 1 else None
        assert owner_of.get(name) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=len(ATTRIBUTE_COLUMNS) + 2,
                         max_size=len(ATTRIBUTE_COLUMNS) + 2), min_size=1, max_size=10))
def test_normalize_records_never_raises_and_is_deterministic_on_any_text(rows: list[list]) -> None:
    columns = ["externalSource", "externalId", *ATTRIBUTE_COLUMNS]
    frame = pl.DataFrame(rows, schema=dict.fromkeys(columns, pl.String), orient="row")
    first = normalize_records(frame, DomainLists.default())
    assert first.height == frame.height
    assert first.equals(normalize_records(frame, DomainLists.default()))
    assert set(first["record_problem"].drop_nulls()) <= {
        "missing_external_id", "missing_external_source", "value_too_long", "invalid_email", "invalid_domain",
        "disposable_domain",
    }


# Runs of 1- to 4-byte characters around the limit, so both sides of it are hit often.
_NEAR_LIMIT = st.one_of(
    st.none(),
    st.builds(
        lambda char, count: char * count,
        st.sampled_from(["x", "é", "東", "😀"]),
        st.integers(min_value=MAX_INDEXED_VALUE_BYTES // 4 - 2, max_value=MAX_INDEXED_VALUE_BYTES + 2),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(INDEXED_INPUT_COLUMNS, _NEAR_LIMIT)))
def test_too_long_is_exactly_more_bytes_than_the_limit_in_a_checked_column(row: dict) -> None:
    frame = pl.DataFrame([row], schema=dict.fromkeys(row, pl.String))
    decided = normalize_records(frame, DomainLists.default()).row(0, named=True)
    expected = [
        name for name in INDEXED_INPUT_COLUMNS
        if row[name] is not None and len(row[name].encode("utf-8")) > MAX_INDEXED_VALUE_BYTES
    ]
    assert decided["too_long_columns"] == expected
    if row["externalId"] is not None and row["externalSource"] is not None and expected:
        assert decided["record_problem"] == "value_too_long"


@given(st.text(max_size=40))
def test_header_and_attribute_cleaning_never_raise(text: str) -> None:
    canonical_column_name(text)
    cleaned = clean_attributes(pl.DataFrame({"minEmployeeSize": [text], "revenue": [text], "city": [text]}))
    assert cleaned.height == 1
