"""Rows to documents: ids, value normalization, nulls left out, and the field-by-field comparison."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.search_index.documents import (
    DocumentError,
    document_id,
    format_timestamp,
    source_matches_row,
    to_document,
)
from restructure_pipeline.search_index.mappings import (
    COMPANIES,
    COMPANY_PROSPECT_VIEW,
    INDEX_DEFINITIONS,
    PROSPECTS,
    IndexDefinition,
)

T0 = datetime(2024, 1, 1, 12, 30, 45, 123000)
ISO_UTC_MILLIS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
ID_FIELDS = {"id", "company_id", "prospect_id", "companyId"}

# psycopg's values for TIMESTAMP(3): naive UTC datetimes at millisecond precision.
timestamps = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda value: value.replace(microsecond=value.microsecond // 1000 * 1000)
)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=30)


def value_strategy(kind: str) -> st.SearchStrategy:
    return {
        "keyword": st.text(max_size=40),
        "text": st.text(max_size=80),
        "integer": st.integers(*INT32),
        "long": st.integers(*INT64),
        "date": timestamps,
    }[kind]


def rows(definition: IndexDefinition) -> st.SearchStrategy[dict]:
    """Rows as psycopg returns them for this relation (nullable columns sometimes None)."""
    # Ids are NOT NULL, except the view's prospect_id (a company without prospects).
    nullable_id = definition.id_field if definition.fallback_id_field else None
    columns = {}
    for name in definition.source_fields:
        if name == nullable_id:
            columns[name] = st.none() | ids
        elif name in ID_FIELDS:
            columns[name] = ids
        else:
            columns[name] = st.none() | value_strategy(definition.field_type(name))
    return st.fixed_dictionaries(columns)


def compatible(kind: str, value: object) -> bool:
    """Would OpenSearch accept ``value`` in a field of this type (the way documents.py sends it)?"""
    if kind in ("keyword", "text"):
        return isinstance(value, str)
    if kind in ("integer", "long"):
        low, high = INT32 if kind == "integer" else INT64
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind == "date":
        return isinstance(value, str) and ISO_UTC_MILLIS.fullmatch(value) is not None
    return False


def company_row(**changes: object) -> dict:
    row = dict.fromkeys(COMPANIES.source_fields)
    row.update(
        id="c1", domain="acme.com", name="Acme Inc", minEmployeeSize=51, maxEmployeeSize=200, revenue=12_000_000,
        externalSource="legacy", externalId="acme.com", createdAt=T0, updatedAt=T0,
    )
    row.update(changes)
    return row


def view_row(**changes: object) -> dict:
    row = dict.fromkeys(COMPANY_PROSPECT_VIEW.source_fields)
    row.update(company_id="c1", domain="acme.com", company_name="Acme Inc", prospect_id="p1", first_name="Jane")
    row.update(created_at=T0, updated_at=T0)
    row.update(changes)
    return row


@pytest.mark.parametrize("definition", INDEX_DEFINITIONS, ids=lambda d: d.logical_name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_document_field_is_mapped_with_a_compatible_type(definition: IndexDefinition, data) -> None:
    row = data.draw(rows(definition))
    doc_id, source = to_document(definition, row)
    mapped = definition.mappings["properties"]
    for name, value in source.items():
        assert name in mapped, name
        assert compatible(mapped[name]["type"], value), (name, value)
    assert set(source) == {name for name, value in row.items() if value is not None}
    assert doc_id == document_id(definition, row)
    assert source_matches_row(definition, row, source) == []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 1), "2024-01-01T00:00:00.000Z"),
        (datetime(2024, 1, 1, 12, 30, 45, 123000), "2024-01-01T12:30:45.123Z"),
        (datetime(2024, 1, 1, 12, 30, 45, 123999), "2024-01-01T12:30:45.123Z"),  # truncated, not rounded
        (datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), "2023-12-31T23:00:00.000Z"),
        (datetime(2024, 6, 1, 8, 0, tzinfo=UTC), "2024-06-01T08:00:00.000Z"),
        (datetime(999, 1, 2, 3, 4, 5), "0999-01-02T03:04:05.000Z"),  # four-digit year, as strict formats need
    ],
)
def test_timestamps_become_iso_utc_with_milliseconds_and_z(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text


def test_dates_in_documents_use_the_timestamp_format() -> None:
    _, source = to_document(COMPANIES, company_row(createdAt=datetime(2024, 1, 1)))
    assert source["createdAt"] == "2024-01-01T00:00:00.000Z"
    assert source["updatedAt"] == "2024-01-01T12:30:45.123Z"


def test_null_columns_are_left_out_and_values_kept_as_stored() -> None:
    doc_id, source = to_document(COMPANIES, company_row(name="  Acme, Inc. ", industry=None, domain="ACME.com"))
    assert doc_id == "c1"
    assert "industry" not in source and "revenue" in source
    assert source["name"] == "  Acme, Inc. "
    assert source["domain"] == "ACME.com"  # the normalizer lowercases matching, never _source


def test_companies_and_prospects_use_their_id() -> None:
    prospect = dict.fromkeys(PROSPECTS.source_fields) | {"id": "ckxyz", "companyId": "c1"}
    assert document_id(PROSPECTS, prospect) == "ckxyz"
    assert document_id(COMPANIES, company_row(id="c9")) == "c9"


def test_view_row_with_a_prospect_is_identified_by_the_prospect() -> None:
    assert document_id(COMPANY_PROSPECT_VIEW, view_row(company_id="c1", prospect_id="p7")) == "p7"


def test_view_row_of_a_company_without_prospects_is_identified_by_the_company() -> None:
    row = view_row(prospect_id=None, first_name=None, created_at=None, updated_at=None)
    doc_id, source = to_document(COMPANY_PROSPECT_VIEW, row)
    assert doc_id == "c1"
    assert "prospect_id" not in source and source["company_id"] == "c1"


@pytest.mark.parametrize("bad", [None, "", 42])
def test_row_without_a_usable_id_is_refused(bad: object) -> None:
    with pytest.raises(DocumentError, match="no usable id"):
        document_id(COMPANIES, company_row(id=bad))
    with pytest.raises(DocumentError, match="prospect_id / company_id"):
        document_id(COMPANY_PROSPECT_VIEW, view_row(prospect_id=None, company_id=bad))


def test_ids_longer_than_opensearch_allows_are_refused() -> None:
    with pytest.raises(DocumentError, match="512 bytes"):
        document_id(COMPANIES, company_row(id="é" * 257))


def test_missing_column_is_refused_extra_columns_ignored() -> None:
    row = company_row()
    del row["revenue"]
    with pytest.raises(DocumentError, match="lacks column 'revenue'"):
        to_document(COMPANIES, row)
    _, source = to_document(COMPANIES, company_row(row_number=7))
    assert "row_number" not in source


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revenue", "12000000"),
        ("revenue", 1.5),
        ("minEmployeeSize", True),
        ("minEmployeeSize", 2**31),
        ("revenue", 2**63),
        ("name", 42),
        ("createdAt", "2024-01-01T00:00:00.000Z"),
        ("createdAt", datetime(2024, 1, 1).date()),
    ],
)
def test_values_of_the_wrong_type_or_range_are_refused(field: str, value: object) -> None:
    with pytest.raises(DocumentError, match=field):
        to_document(COMPANIES, company_row(**{field: value}))


def test_equal_document_matches_its_row() -> None:
    row = company_row(city="Austin")
    _, source = to_document(COMPANIES, row)
    assert source_matches_row(COMPANIES, row, source) == []


def test_changed_field_is_reported() -> None:
    row = company_row(city="Austin")
    _, source = to_document(COMPANIES, row)
    assert source_matches_row(COMPANIES, row, source | {"city": "Dallas", "revenue": 1}) == ["revenue", "city"]


def test_absent_and_null_are_equal() -> None:
    row = company_row(industry=None)
    _, source = to_document(COMPANIES, row)
    assert source_matches_row(COMPANIES, row, source | {"industry": None}) == []


def test_value_missing_from_the_document_is_reported() -> None:
    row = company_row(city="Austin")
    _, source = to_document(COMPANIES, row)
    del source["city"]
    assert source_matches_row(COMPANIES, row, source) == ["city"]


def test_dates_compare_as_instants() -> None:
    row = company_row(createdAt=datetime(2024, 1, 1))
    _, source = to_document(COMPANIES, row)
    for same in ("2024-01-01T00:00:00Z", "2024-01-01T01:00:00.000+01:00", 1704067200000):
        assert source_matches_row(COMPANIES, row, source | {"createdAt": same}) == []
    for other in ("2024-01-01T00:00:00.001Z", "not a date", 1704067200001):
        assert source_matches_row(COMPANIES, row, source | {"createdAt": other}) == ["createdAt"]


def test_type_changes_are_differences() -> None:
    row = company_row()
    _, source = to_document(COMPANIES, row)
    assert source_matches_row(COMPANIES, row, source | {"revenue": "12000000"}) == ["revenue"]
    assert source_matches_row(COMPANIES, row, source | {"minEmployeeSize": True}) == ["minEmployeeSize"]


def test_unknown_fields_in_the_document_are_reported_last() -> None:
    row = company_row()
    _, source = to_document(COMPANIES, row)
    assert source_matches_row(COMPANIES, row, source | {"zz": 1, "aa": 2, "name": "X"}) == ["name", "aa", "zz"]
