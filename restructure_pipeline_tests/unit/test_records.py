"""The per-record pipeline: which records are quarantined, which need a name match, which have a company."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from restructure_pipeline.identity.domains import DomainLists
from restructure_pipeline.identity.index_limits import MAX_INDEXED_VALUE_BYTES
from restructure_pipeline.identity.records import normalize_records

TOO_LONG = "x" * (MAX_INDEXED_VALUE_BYTES + 1)


@pytest.fixture(scope="module")
def lists() -> DomainLists:
    return DomainLists.default()


def decide(lists: DomainLists, **row: Any) -> dict[str, Any]:
    raw = {"externalSource": "crm", "externalId": "1", "email": None, "company": "Acme Inc"} | row
    frame = pl.DataFrame([raw], schema=dict.fromkeys(raw, pl.String))
    return normalize_records(frame, lists).row(0, named=True)


@pytest.mark.parametrize("external_id", [None, "", "   "])
def test_missing_external_id_is_quarantined_first(lists: DomainLists, external_id: str | None) -> None:
    assert decide(lists, externalId=external_id, email="not an email")["record_problem"] == "missing_external_id"


@pytest.mark.parametrize("external_source", [None, "", "   "])
def test_a_missing_external_source_is_quarantined_after_a_missing_external_id(
    lists: DomainLists, external_source: str | None
) -> None:
    row = decide(lists, externalSource=external_source, email="ann@acme.com")
    assert (row["record_problem"], row["company_domain"], row["needs_name_resolution"]) == (
        "missing_external_source", None, False
    )
    assert decide(lists, externalSource=external_source, externalId=None)["record_problem"] == "missing_external_id"


def test_absent_external_id_column_means_missing_external_id(lists: DomainLists) -> None:
    frame = pl.DataFrame({"email": ["john@acme.com"]})
    assert normalize_records(frame, lists).get_column("record_problem").to_list() == ["missing_external_id"]


@pytest.mark.parametrize("column", ["jobTitle", "company", "city", "externalId", "externalSource"])
def test_a_value_too_long_to_index_is_quarantined_and_named(lists: DomainLists, column: str) -> None:
    row = decide(lists, email="john@acme.com", **{column: TOO_LONG})
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == ("value_too_long", False, None)
    assert row["too_long_columns"] == [column]


def test_a_value_at_the_limit_is_no_problem(lists: DomainLists) -> None:
    row = decide(lists, email="john@acme.com", jobTitle="x" * MAX_INDEXED_VALUE_BYTES)
    assert (row["record_problem"], row["company_domain"], row["too_long_columns"]) == (None, "acme.com", [])


def test_value_too_long_comes_after_missing_external_id_and_before_the_email_rules(lists: DomainLists) -> None:
    assert decide(lists, externalId=None, city=TOO_LONG)["record_problem"] == "missing_external_id"
    assert decide(lists, email="john@@acme", city=TOO_LONG)["record_problem"] == "value_too_long"
    assert decide(lists, email="temp@mailinator.com", city=TOO_LONG)["record_problem"] == "value_too_long"
    # A 10 MB email is refused by the email rule as well; the length is what to fix.
    assert decide(lists, email="j@" + "a" * 10 * 1024 * 1024 + ".com")["record_problem"] == "value_too_long"


def test_the_columns_are_named_whatever_the_reason(lists: DomainLists) -> None:
    assert decide(lists, externalId=None, city=TOO_LONG)["too_long_columns"] == ["city"]


def test_invalid_email_is_quarantined(lists: DomainLists) -> None:
    row = decide(lists, email="john@@acme")
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == ("invalid_email", False, None)


@pytest.mark.parametrize("email", ["john@1.2.3.4", "john@[10.0.0.1]", "john@localhost", "john@acme.notatld", "john@co.uk"])
def test_email_without_company_domain_is_invalid_domain(lists: DomainLists, email: str) -> None:
    assert decide(lists, email=email)["record_problem"] == "invalid_domain"


def test_disposable_domain_is_quarantined(lists: DomainLists) -> None:
    row = decide(lists, email="temp@mailinator.com")
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == (
        "disposable_domain",
        False,
        None,
    )


@pytest.mark.parametrize("email", [None, "", "  ", "mailto:"])
def test_missing_email_is_not_a_problem_but_needs_name_resolution(lists: DomainLists, email: str | None) -> None:
    row = decide(lists, email=email)
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == (None, True, None)


def test_personal_domain_is_never_a_company(lists: DomainLists) -> None:
    row = decide(lists, email="Jane.Doe@GMail.com")
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == (None, True, None)
    assert (row["domain"], row["domain_kind"]) == ("gmail.com", "personal")


def test_company_email_gets_its_company_domain(lists: DomainLists) -> None:
    row = decide(lists, email="John Doe <john@Mail.Acme.co.uk>")
    assert (row["record_problem"], row["needs_name_resolution"], row["company_domain"]) == (None, False, "acme.co.uk")
    assert row["email_normalized"] == "john@mail.acme.co.uk"


def test_unicode_and_idna_emails_share_a_company_domain(lists: DomainLists) -> None:
    assert decide(lists, email="a@bücher.de")["company_domain"] == decide(lists, email="b@xn--bcher-kva.de")["company_domain"]


def test_company_name_is_cleaned_for_resolution(lists: DomainLists) -> None:
    assert decide(lists, company="  Müller GmbH ")["company_name_clean"] == "muller"


def test_every_row_comes_back_in_order_with_attributes_cleaned(lists: DomainLists) -> None:
    frame = pl.DataFrame(
        {
            "externalSource": ["crm"] * 6,
            "externalId": [str(index) for index in range(6)],
            "email": ["a@acme.com", "b@gmail.com", None, "bad", "c@1.2.3.4", "d@mailinator.com"],
            "company": ["Acme", "Acme", "Acme", "x", "y", "z"],
            "revenue": ["1,000", "lots", None, None, None, None],
            "city": ["  Paris ", "", None, None, None, None],
        }
    )
    result = normalize_records(frame, lists)
    assert result.get_column("externalId").to_list() == frame.get_column("externalId").to_list()
    assert result.get_column("record_problem").to_list() == [
        None,
        None,
        None,
        "invalid_email",
        "invalid_domain",
        "disposable_domain",
    ]
    assert result.get_column("needs_name_resolution").to_list() == [False, True, True, False, False, False]
    assert result.get_column("company_domain").to_list() == ["acme.com", None, None, None, None, None]
    assert result.get_column("revenue").to_list()[:2] == [1000, None]
    assert result.get_column("invalid_numbers").to_list()[1] == ["revenue"]
    assert result.get_column("city").to_list()[:2] == ["Paris", None]
    assert result.schema["record_problem"] == pl.String
    assert result.schema["needs_name_resolution"] == pl.Boolean
