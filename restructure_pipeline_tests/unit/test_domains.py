"""Host -> company domain by the offline Public Suffix List, and personal/disposable classification."""

from __future__ import annotations

import socket
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.identity import domains
from restructure_pipeline.identity.domains import DomainLists, classify_domain, domain_column, registrable_domain
from restructure_pipeline.identity.reasons import DomainKind

COMMON_PERSONAL = [
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "gmx.de",
    "web.de",
    "proton.me",
    "protonmail.com",
    "mail.ru",
    "yandex.ru",
    "qq.com",
    "163.com",
]


@pytest.fixture(scope="module")
def lists() -> DomainLists:
    return DomainLists.default()


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("mail.acme.co.uk", "acme.co.uk"),
        ("eu.sales.acme.com", "acme.com"),
        ("acme.com", "acme.com"),
        ("smtp.acme.com.au", "acme.com.au"),
    ],
)
def test_subdomain_collapses_to_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain


@pytest.mark.parametrize("host", ["bücher.de", "xn--bcher-kva.de", "BÜCHER.de", "XN--BCHER-KVA.DE", "mail.bücher.de"])
def test_idna_and_unicode_hosts_are_one_company(host: str) -> None:
    assert registrable_domain(host) == "xn--bcher-kva.de"


def test_full_width_letters_map_to_ascii() -> None:
    assert registrable_domain("ＡＣＭＥ.com") == "acme.com"


@pytest.mark.parametrize(
    "host", ["1.2.3.4", "[1.2.3.4]", "[ipv6:2001:db8::1]", "[IPv6:::1]", "::1", "2001:db8::1", "[300.1.1.1]"]
)
def test_ip_literal_is_invalid_domain(host: str) -> None:
    assert registrable_domain(host) is None


@pytest.mark.parametrize("host", ["localhost", "foo.notatld", "acme.local", "acme.invalid", "acme.example"])
def test_host_without_public_suffix_is_invalid_domain(host: str) -> None:
    assert registrable_domain(host) is None


@pytest.mark.parametrize("host", ["co.uk", "com", "foo.kawasaki.jp"])
def test_bare_public_suffix_is_invalid_domain(host: str) -> None:
    assert registrable_domain(host) is None


@pytest.mark.parametrize(
    "host", ["", " ", ".", "acme..com", "-acme.com", "acme-.com", "acme_corp.com", "xn--zz.com", "☃.net", "a" * 64 + ".com"]
)
def test_invalid_labels_are_invalid_domain(host: str) -> None:
    assert registrable_domain(host) is None


def test_null_host_has_no_domain() -> None:
    assert registrable_domain(None) is None


def test_trailing_dot_is_tolerated() -> None:
    assert registrable_domain("mail.acme.com.") == "acme.com"
    assert registrable_domain("acme.com..") is None


def test_private_psl_suffixes_are_ignored() -> None:
    # Private section off: the registrable domain is the operator's, not the tenant's.
    assert registrable_domain("foo.blogspot.com") == "blogspot.com"


def test_psl_is_read_offline_without_network_or_cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for variable in ("TLDEXTRACT_CACHE", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.setenv(variable, str(tmp_path))
    # Fresh extractor and fresh hosts, so the list is really loaded under the patches.
    domains._psl_extractor.cache_clear()
    registrable_domain.cache_clear()
    try:
        assert registrable_domain("offline-check.example.co.uk") == "example.co.uk"
        assert registrable_domain("news.offline-check.org") == "offline-check.org"
    finally:
        domains._psl_extractor.cache_clear()
        registrable_domain.cache_clear()
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("domain", COMMON_PERSONAL)
def test_personal_domain_is_never_a_company(domain: str, lists: DomainLists) -> None:
    assert domain in lists.personal
    assert classify_domain(domain, lists) is DomainKind.PERSONAL


def test_personal_subdomain_host_is_personal(lists: DomainLists) -> None:
    assert classify_domain(registrable_domain("mail.gmx.de") or "", lists, "mail.gmx.de") is DomainKind.PERSONAL


def test_company_domain_is_a_company(lists: DomainLists) -> None:
    assert classify_domain("acme.com", lists, "mail.acme.com") is DomainKind.COMPANY


def test_disposable_domain_is_disposable(lists: DomainLists) -> None:
    assert classify_domain("mailinator.com", lists) is DomainKind.DISPOSABLE


def test_domain_in_both_lists_counts_as_disposable(lists: DomainLists) -> None:
    both = sorted(lists.personal & lists.disposable)
    assert both, "the packaged lists overlap; this test needs one such domain"
    assert classify_domain(both[0], lists) is DomainKind.DISPOSABLE
    custom = DomainLists(personal=frozenset({"x.com"}), disposable=frozenset({"x.com"}))
    assert classify_domain("x.com", custom) is DomainKind.DISPOSABLE


def test_disposable_entry_below_the_registrable_domain_is_matched_through_the_host() -> None:
    custom = DomainLists(personal=frozenset(), disposable=frozenset({"trash.shared.net"}))
    assert classify_domain("shared.net", custom, "trash.shared.net") is DomainKind.DISPOSABLE
    assert classify_domain("shared.net", custom, "inbox.trash.shared.net") is DomainKind.DISPOSABLE
    assert classify_domain("shared.net", custom, "other.shared.net") is DomainKind.COMPANY


def test_extra_personal_and_not_personal_override_the_list() -> None:
    lists = DomainLists.default(extra_personal=["Family-Mail.example.COM", "bücher.de"], not_personal=["gmx.de"])
    assert "family-mail.example.com" in lists.personal
    assert classify_domain("xn--bcher-kva.de", lists) is DomainKind.PERSONAL
    assert classify_domain("gmx.de", lists) is DomainKind.COMPANY
    assert "gmx.de" in DomainLists.default().personal


def test_default_lists_are_cached_and_normalized() -> None:
    assert DomainLists.default() is DomainLists.default()
    lists = DomainLists.default()
    assert all(domain == domain.lower() and domain.isascii() for domain in lists.personal | lists.disposable)


def test_domain_column_decides_each_distinct_host_once_and_plain_hosts_without_python(
    monkeypatch: pytest.MonkeyPatch, lists: DomainLists
) -> None:
    seen: list[str | None] = []
    original = domains.registrable_domain

    def counting(host: str | None) -> str | None:
        seen.append(host)
        return original(host)

    monkeypatch.setattr(domains, "registrable_domain", counting)
    hosts = ["mail.acme.com", "gmail.com", None, "Mail.ACME.com", "1.2.3.4", "bücher.de", "a.b.ck", "acme.co.uk"]
    frame = pl.DataFrame({"email_host": hosts * 200})
    result = domain_column(frame, lists)
    # IP literals, IDNA and the wildcard territory of *.ck go through Python, once each.
    assert sorted(seen, key=str) == ["1.2.3.4", "a.b.ck", "bücher.de"]
    assert result.height == frame.height
    assert result.head(len(hosts)).select("email_host", "domain", "domain_kind").rows() == [
        ("mail.acme.com", "acme.com", "company"),
        ("gmail.com", "gmail.com", "personal"),
        (None, None, None),
        ("Mail.ACME.com", "acme.com", "company"),
        ("1.2.3.4", None, None),
        ("bücher.de", "xn--bcher-kva.de", "company"),
        ("a.b.ck", "a.b.ck", "company"),
        ("acme.co.uk", "acme.co.uk", "company"),
    ]


# Labels that reach every branch of the suffix walk: plain, multi-label and wildcard
# suffixes with their exceptions, personal and disposable names, IDNA, digits, and labels
# the syntax refuses.
_HOST_LABELS = st.sampled_from([
    "com", "uk", "co", "sch", "jp", "kobe", "city", "tokyo", "ck", "www", "br", "nom", "de", "au", "com", "net",
    "dynv6", "0-mailer", "gmail", "yahoo", "mailinator", "mail", "acme", "eu", "sales", "xn--bcher-kva",
    "bücher", "1", "255", "a-b", "-a", "a-", "", "x" * 63, "y" * 64, "ＡＣＭＥ", "notatld", "localhost",
])


def _reference(host: str, lists: DomainLists) -> tuple[str | None, str | None]:
    domain = registrable_domain(host)
    return domain, classify_domain(domain, lists, host).value if domain is not None else None


@settings(max_examples=400, deadline=None)
@given(
    hosts=st.lists(
        st.lists(_HOST_LABELS, min_size=1, max_size=10).map(".".join)
        | st.from_regex(r"[a-zA-Z0-9.\-]{1,30}", fullmatch=True)
        | st.text(max_size=30),
        max_size=20,
    ),
    upper=st.booleans(),
)
def test_domain_column_equals_the_reference_functions(hosts: list[str], upper: bool, lists: DomainLists) -> None:
    hosts = [host.upper() if upper else host for host in hosts]
    result = domain_column(pl.DataFrame({"email_host": hosts}, schema={"email_host": pl.String}), lists)
    assert list(zip(result["domain"], result["domain_kind"], strict=True)) == [_reference(h, lists) for h in hosts]


def test_domain_column_equals_the_reference_functions_on_generated_customers(lists: DomainLists) -> None:
    from restructure_pipeline.identity.emails import EMAIL_HOST, normalize_email_column
    from restructure_pipeline.sample_data import generate_customers

    hosts = normalize_email_column(generate_customers(20_000, seed=7), "email").get_column(EMAIL_HOST)
    distinct = hosts.drop_nulls().unique().to_list()
    result = domain_column(pl.DataFrame({"email_host": distinct}, schema={"email_host": pl.String}), lists)
    assert len(distinct) > 3_000
    assert list(zip(result["domain"], result["domain_kind"], strict=True)) == [_reference(h, lists) for h in distinct]


def test_domain_column_applies_the_list_overrides(lists: DomainLists) -> None:
    overridden = DomainLists.default(extra_personal=["acme.com"], not_personal=["gmail.com"])
    frame = pl.DataFrame({"email_host": ["mail.acme.com", "gmail.com"]})
    assert domain_column(frame, overridden).get_column("domain_kind").to_list() == ["personal", "company"]
    assert domain_column(frame, lists).get_column("domain_kind").to_list() == ["company", "personal"]


def test_domain_column_keeps_other_columns_and_types(lists: DomainLists) -> None:
    frame = pl.DataFrame({"id": [3, 1, 2], "email_host": ["b.com", "a.com", "b.com"]})
    result = domain_column(frame, lists)
    assert result.columns == ["id", "email_host", "domain", "domain_kind"]
    assert result.schema["domain"] == pl.String and result.schema["domain_kind"] == pl.String
    assert result.get_column("id").to_list() == [3, 1, 2]


def test_domain_column_on_empty_frame(lists: DomainLists) -> None:
    frame = pl.DataFrame({"email_host": []}, schema={"email_host": pl.String})
    assert domain_column(frame, lists).columns == ["email_host", "domain", "domain_kind"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[a-zA-Zü0-9.\-\[\]:]{1,40}", fullmatch=True))
def test_registrable_domain_never_raises_and_is_a_fixed_point(host: str) -> None:
    domain = registrable_domain(host)
    if domain is not None:
        assert domain.isascii() and domain == domain.lower()
        assert registrable_domain(domain) == domain
