"""Aliases, versioned index names, retention and prefix validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restructure_pipeline.search_index.naming import (
    MAX_PREFIX_BYTES,
    alias_name,
    indices_to_delete,
    new_index_name,
    next_version_name,
    orphaned_versions,
    validate_index_name,
    validate_prefix,
    version_time,
    versions_of,
)

NOW = datetime(2026, 11, 26, 3, 55, 1, tzinfo=UTC)
aware_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)
tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=16)


def version(alias: str, minutes: int, token: str = "run1") -> str:
    return new_index_name(alias, NOW + timedelta(minutes=minutes), token)


def test_alias_is_prefix_plus_logical_name() -> None:
    assert alias_name("companies") == "companies"
    assert alias_name("companies", "acme_") == "acme_companies"
    assert alias_name("company_prospect_view", "staging-") == "staging-company_prospect_view"


def test_alias_with_a_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="OPENSEARCH_INDEX_PREFIX"):
        alias_name("companies", "Acme_")


def test_new_index_name_is_alias_utc_time_and_token() -> None:
    assert new_index_name("companies", NOW, "ab12cd") == "companies-20261126t035501z-ab12cd"
    assert new_index_name("acme_prospects", NOW, "AB12CD") == "acme_prospects-20261126t035501z-ab12cd"


def test_new_index_name_converts_to_utc() -> None:
    local = datetime(2026, 11, 26, 5, 55, 1, tzinfo=timezone(timedelta(hours=2)))
    assert new_index_name("companies", local, "x") == "companies-20261126t035501z-x"


def test_new_index_name_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        new_index_name("companies", datetime(2026, 11, 26), "ab12cd")


@pytest.mark.parametrize("token", ["", "ab-12", "ab_12", "a" * 17, "é"])
def test_new_index_name_refuses_bad_tokens(token: str) -> None:
    with pytest.raises(ValueError, match="token"):
        new_index_name("companies", NOW, token)


@given(now=aware_times, token=tokens)
def test_version_name_round_trips_to_its_time(now: datetime, token: str) -> None:
    name = new_index_name("acme_companies", now, token)
    assert validate_index_name(name) == name
    assert version_time("acme_companies", name) == now.replace(microsecond=0)
    assert versions_of("acme_companies", [name]) == [name]


@given(times=st.lists(aware_times, min_size=1, max_size=12, unique_by=lambda t: t.replace(microsecond=0)))
def test_versions_sort_oldest_first(times: list[datetime]) -> None:
    names = [new_index_name("companies", moment, "t") for moment in times]
    assert versions_of("companies", reversed(names)) == [
        new_index_name("companies", moment, "t") for moment in sorted(times)
    ]


def test_versions_of_matches_the_exact_pattern_only() -> None:
    mine = [version("companies", 0), version("companies", 5, "zz9")]
    others = [
        "companies",
        "companies-old",
        "companies_archive-20261126t035501z-ab12cd",
        "acme_companies-20261126t035501z-ab12cd",
        "xcompanies-20261126t035501z-ab12cd",
        "companies-20261126t035501z-",
        "companies-20261126t035501z-ab12cd-copy",
        "companies-20261126t035501z-ab_12",
        "companies-20261126t035501-ab12cd",
        "companies-20261399t035501z-ab12cd",  # no 13th month
        "prospects-20261126t035501z-ab12cd",
    ]
    assert versions_of("companies", [*others, *reversed(mine), mine[0]]) == mine


def test_versions_of_prefixed_alias_excludes_unprefixed_and_regex_lookalikes() -> None:
    dotted = version("a.b_companies", 0)
    assert versions_of("a.b_companies", [dotted, "axb_companies-20261126t035501z-ab12cd"]) == [dotted]
    assert versions_of("companies", [dotted, version("acme-companies", 1)]) == []


def test_version_time_of_other_names_is_none() -> None:
    assert version_time("companies", "companies") is None
    assert version_time("companies", "acme_companies-20261126t035501z-ab12cd") is None


def test_retention_keeps_live_and_one_previous() -> None:
    v1, v2, v3, v4 = (version("companies", minutes) for minutes in (0, 10, 20, 30))
    names = [v4, v2, "companies_archive-20261126t035501z-ab12cd", v1, v3]
    assert indices_to_delete("companies", names, live=v4) == [v1, v2]
    assert indices_to_delete("companies", names, live=v4, keep_previous=2) == [v1]
    assert indices_to_delete("companies", names, live=v4, keep_previous=0) == [v1, v2, v3]


def test_retention_never_deletes_versions_newer_than_live() -> None:
    v1, v2, v3 = (version("companies", minutes) for minutes in (0, 10, 20))
    # v3 may be a build in progress, or left by a crash: it is older than the next live one and goes then.
    assert indices_to_delete("companies", [v1, v2, v3], live=v2) == []
    assert indices_to_delete("companies", [v1, v2, v3], live=v2, keep_previous=0) == [v1]


def test_retention_keeps_the_protected_rollback_target_over_a_failed_build() -> None:
    previous_live, failed_build, live = (version("companies", minutes) for minutes in (0, 10, 20))
    names = [previous_live, failed_build, live]
    assert indices_to_delete("companies", names, live=live, protect=[previous_live]) == [failed_build]
    assert indices_to_delete("companies", names, live=live) == [previous_live]


def test_orphans_are_every_version_but_live_and_the_kept_previous_one() -> None:
    v1, v2, v3, v4 = (version("companies", minutes) for minutes in (0, 10, 20, 30))
    names = [v4, v2, "companies_archive-20261126t035501z-ab12cd", "acme_companies-20261126t035501z-x", v1, v3]
    # v3 and v4 are newer than live: with the index-writer lock held, no build is in progress.
    assert orphaned_versions("companies", names, live=v2) == [v3, v4]
    assert orphaned_versions("companies", names, live=v3) == [v1, v4]
    assert orphaned_versions("companies", names, live=v3, keep_previous=0) == [v1, v2, v4]
    assert orphaned_versions("companies", [v1], live=v1) == []


def test_an_alias_on_no_index_leaves_only_orphans() -> None:
    v1, v2 = (version("companies", minutes) for minutes in (0, 10))
    assert orphaned_versions("companies", [v2, v1, "companies"], live=None) == [v1, v2]


def test_a_new_version_sorts_after_every_existing_one_even_with_a_lagging_clock() -> None:
    live = version("companies", 10, token="zzzz")
    assert next_version_name("companies", NOW + timedelta(minutes=20), "a", [live]) == version("companies", 20, "a")
    behind = next_version_name("companies", NOW, "aaaa", [live, "companies_archive-20991126t035501z-x"])
    assert behind > live and version_time("companies", behind) == version_time("companies", live) + timedelta(seconds=1)
    same_second = next_version_name("companies", NOW + timedelta(minutes=10), "aaaa", [live])
    assert same_second > live


def test_retention_needs_live_among_the_versions() -> None:
    with pytest.raises(ValueError, match="not among the versions"):
        indices_to_delete("companies", [version("companies", 0)], live="companies-legacy")
    with pytest.raises(ValueError, match="keep_previous"):
        indices_to_delete("companies", [version("companies", 0)], live=version("companies", 0), keep_previous=-1)


@pytest.mark.parametrize("prefix", ["", "acme_", "acme-", "team1.", "prod_eu_", "é_", "a" * MAX_PREFIX_BYTES])
def test_valid_prefixes_are_returned_unchanged(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("Acme_", "lowercase"),
        ("acme companies_", "must not contain ' '"),
        ("acme\t", "must not contain"),
        ("-acme", "must not start with '-', '_' or '+'"),
        ("_acme", "must not start"),
        ("+acme", "must not start"),
        (".acme", "must not start with '.'"),
        ("a" * (MAX_PREFIX_BYTES + 1), f"at most {MAX_PREFIX_BYTES} bytes"),
        *[(f"ac{char}me_", "must not contain") for char in '\\/*?"<>|,#:'],
    ],
)
def test_invalid_prefixes_are_refused_with_the_reason(prefix: str, problem: str) -> None:
    with pytest.raises(ValueError, match="invalid OPENSEARCH_INDEX_PREFIX") as error:
        validate_prefix(prefix)
    assert problem in str(error.value)


def test_longest_prefix_still_gives_valid_version_names() -> None:
    prefix = "a" * MAX_PREFIX_BYTES
    name = new_index_name(alias_name("company_prospect_view", prefix), NOW, "x" * 16)
    assert len(name.encode()) == 255


@pytest.mark.parametrize("name", ["", ".", "..", "Companies", "a,b", "_x", "a" * 256])
def test_invalid_index_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        validate_index_name(name)
