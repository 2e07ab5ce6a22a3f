"""Staging rows: lineage columns, drop timestamps, rejected raw values and the change hash."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import pytest

from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.identity.index_limits import (
    INDEXED_INPUT_COLUMNS,
    MAX_DOCUMENT_ID_BYTES,
    MAX_INDEXED_VALUE_BYTES,
)
from restructure_pipeline.sources.staging_rows import staging_rows
from restructure_pipeline.store.staging import STAGING_COLUMNS

REGISTERED = datetime(2026, 11, 26, 3, 0, 0)


def _drop(**columns: list) -> pl.DataFrame:
    lines = list(range(2, 2 + len(next(iter(columns.values())))))
    frame = pl.DataFrame({name: pl.Series(values, dtype=pl.Utf8) for name, values in columns.items()})
    return frame.with_columns(pl.Series("line", lines, dtype=pl.Int32))


def _stage(frame: pl.DataFrame) -> pl.DataFrame:
    return staging_rows(
        frame, source="drop.csv", source_seq=7, lists=DomainLists.default(), observed_at=REGISTERED,
        default_external_source="csv_drop",
    )


def test_drop_rows_get_lineage_and_the_drop_registration_time() -> None:
    rows = _stage(_drop(externalId=["a"], email=["ann@acme.com"], externalSource=[None]))
    row = rows.row(0, named=True)
    assert list(rows.columns) == list(STAGING_COLUMNS)
    assert (row["source"], row["source_ref"], row["line"], row["source_seq"]) == ("drop.csv", "2", 2, 7)
    assert row["createdAt"] == row["updatedAt"] == REGISTERED
    assert row["externalSource"] == "csv_drop" and row["customer_id"] is None
    assert row["company_domain"] == "acme.com"


def test_unparseable_numbers_keep_their_raw_text() -> None:
    rows = _stage(_drop(externalId=["a"], email=["ann@acme.com"], minEmployeeSize=["ten"], maxEmployeeSize=["50"]))
    row = rows.row(0, named=True)
    assert row["minEmployeeSize"] is None and row["maxEmployeeSize"] == 50
    rejected = {key: value for key, value in json.loads(row["rejected_values"]).items() if value is not None}
    assert rejected == {"minEmployeeSize": "ten"}


def test_a_value_too_long_to_index_moves_verbatim_into_rejected_values() -> None:
    title, external_id = "é" * MAX_INDEXED_VALUE_BYTES, "x" * (10 * 1024 * 1024)
    rows = _stage(_drop(externalId=["a", external_id], email=["ann@acme.com"] * 2, jobTitle=[title, "CTO"],
                        minEmployeeSize=["ten", "5"]))
    first, second = rows.iter_rows(named=True)
    assert (first["record_problem"], first["jobTitle"]) == ("value_too_long", None)
    assert json.loads(first["rejected_values"]) == {"minEmployeeSize": "ten", "jobTitle": title}
    # The staging table indexes the identity: too long, it is kept out of it too.
    assert (second["record_problem"], second["externalId"], second["jobTitle"]) == ("value_too_long", None, "CTO")
    assert json.loads(second["rejected_values"]) == {"externalId": external_id}
    assert all(
        value is None or len(value.encode()) <= MAX_INDEXED_VALUE_BYTES
        for row in (first, second) for value in (row[name] for name in INDEXED_INPUT_COLUMNS)
    )


def test_a_legacy_row_with_a_value_too_long_keeps_it_in_rejected_values() -> None:
    legacy = pl.DataFrame(
        {"id": ["c1"], "externalSource": ["crm"], "externalId": ["e1"], "email": ["ann@acme.com"],
         "company": ["Acme " * 300], "revenue": [5], "createdAt": [REGISTERED], "updatedAt": [REGISTERED]},
        schema_overrides={"revenue": pl.Int64},
    )
    row = staging_rows(legacy, source="legacy", source_seq=0, lists=DomainLists.default()).row(0, named=True)
    assert (row["record_problem"], row["company"], row["revenue"]) == ("value_too_long", None, 5)
    assert json.loads(row["rejected_values"]) == {"company": ("Acme " * 300).strip()}


def test_no_rejected_values_when_every_number_parses() -> None:
    rows = _stage(_drop(externalId=["a"], email=["ann@acme.com"], revenue=["1,000"]))
    assert rows.row(0, named=True)["rejected_values"] is None


@pytest.mark.parametrize("column, value", [("jobTitle", "CTO"), ("email", "ann@globex.com"), ("city", "Paris")])
def test_content_hash_changes_with_content_and_only_then(column: str, value: str) -> None:
    base = {"externalId": ["a"], "email": ["ann@acme.com"], "jobTitle": ["Engineer"], "city": ["Berlin"]}
    first, again = _stage(_drop(**base)), _stage(_drop(**base))
    changed = _stage(_drop(**{**base, column: [value]}))
    assert first["content_hash"][0] == again["content_hash"][0]
    assert changed["content_hash"][0] != first["content_hash"][0]


def test_drop_rows_need_a_registration_time() -> None:
    with pytest.raises(ValueError, match="observed_at"):
        staging_rows(_drop(externalId=["a"]), source="d", source_seq=1, lists=DomainLists.default())


def test_identity_values_are_kept_as_they_came_and_blank_ones_are_missing() -> None:
    legacy = pl.DataFrame(
        {"id": ["c1", "c2", "c3"], "externalSource": ["crm", "crm", "  "], "externalId": ["42", " 42", "43"],
         "email": ["ann@acme.com", "bob@acme.com", "cy@acme.com"],
         "createdAt": [REGISTERED] * 3, "updatedAt": [REGISTERED] * 3}
    )
    rows = staging_rows(legacy, source="legacy", source_seq=0, lists=DomainLists.default())
    # "42" and " 42" are two Customer rows, so two identities; a blank source is no source.
    assert rows.select("externalSource", "externalId", "record_problem", "company_domain").rows() == [
        ("crm", "42", None, "acme.com"),
        ("crm", " 42", None, "acme.com"),
        (None, "43", "missing_external_source", None),
    ]
    # A drop's blank source takes the drop's default.
    drop = _stage(_drop(externalId=["a"], email=["ann@acme.com"], externalSource=["  "]))
    assert drop.select("externalSource", "record_problem").row(0) == ("csv_drop", None)


def test_a_legacy_id_too_long_for_a_document_id_is_quarantined_and_kept_as_lineage() -> None:
    long_id, at_limit = "c" * (MAX_DOCUMENT_ID_BYTES + 1), "é" * (MAX_DOCUMENT_ID_BYTES // 2)
    legacy = pl.DataFrame(
        {"id": [long_id, at_limit], "externalSource": ["crm"] * 2, "externalId": ["e1", "e2"],
         "email": ["ann@acme.com", "bob@acme.com"], "createdAt": [REGISTERED] * 2, "updatedAt": [REGISTERED] * 2}
    )
    first, second = staging_rows(legacy, source="legacy", source_seq=0, lists=DomainLists.default()).iter_rows(named=True)
    assert (first["record_problem"], first["source_ref"], first["customer_id"]) == ("value_too_long", long_id, long_id)
    assert json.loads(first["rejected_values"]) == {"id": long_id}
    assert (second["record_problem"], second["source_ref"], second["rejected_values"]) == (None, at_limit, None)
