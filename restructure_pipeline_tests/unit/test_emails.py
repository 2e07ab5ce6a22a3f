"""Email normalization: trim, mailto:, angle brackets, syntax, lowercase host."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.identity.emails import NormalizedEmail, normalize_email, normalize_email_column
from restructure_pipeline.identity.reasons import QuarantineReason

CORPUS: list[str | None] = [
    None,
    "",
    "   ",
    "\t\n",
    "mailto:",
    "<>",
    "john@acme.com",
    "  John.Doe@ACME.Com  ",
    "\u00a0john@acme.com\u3000",
    "MAILTO:john@acme.com",
    "mailto:<john@acme.com>",
    "<mailto:john@acme.com>",
    "<john@acme.com>",
    "John Doe <john@acme.com>",
    '"Doe, John" <John@Acme.COM>',
    "john@acme.com.",
    "john@acme.com..",
    "john@[1.2.3.4]",
    "john@[IPv6:2001:DB8::1]",
    "john@1.2.3.4",
    "john@localhost",
    "jörg@bücher.de",
    "j@BÜCHER。DE",
    "a@b@acme.com",
    '"john doe"@acme.com',
    "john doe@acme.com",
    "john..doe@acme.com",
    ".john@acme.com",
    "john.@acme.com",
    "john@",
    "@acme.com",
    "john",
    "john@-acme.com",
    "john@acme-.com",
    "john@acme_corp.com",
    "john@acme..com",
    "john@acme.com>",
    "<john@acme.com",
    "x" * 64 + "@acme.com",
    "x" * 65 + "@acme.com",
    "j@" + "a" * 63 + ".com",
    "j@" + "a" * 64 + ".com",
    "o'neil+news@acme.com",
    "!#$%&'*+/=?^_`{|}~-@acme.com",
    "john@acme.com?subject=hi",
]


@pytest.mark.parametrize("raw", ["  john@acme.com  ", "\tjohn@acme.com\n", "\u00a0john@acme.com\u3000"])
def test_email_is_trimmed(raw: str) -> None:
    assert normalize_email(raw) == NormalizedEmail("john@acme.com", "acme.com", None)


@pytest.mark.parametrize("raw", ["mailto:john@acme.com", "MAILTO:john@acme.com", "MailTo: john@acme.com"])
def test_mailto_prefix_is_stripped_in_any_case(raw: str) -> None:
    assert normalize_email(raw).email == "john@acme.com"


@pytest.mark.parametrize(
    "raw",
    [
        "<john@acme.com>",
        "John Doe <john@acme.com>",
        '"Doe, John" <john@acme.com>',
        "<mailto:john@acme.com>",
        "mailto:<john@acme.com>",
        " < john@acme.com > ",
    ],
)
def test_angle_brackets_and_display_name_are_stripped(raw: str) -> None:
    assert normalize_email(raw).email == "john@acme.com"


def test_only_the_domain_part_is_lowercased() -> None:
    result = normalize_email("John.Doe@Mail.ACME.Com")
    assert result.email == "John.Doe@mail.acme.com"
    assert result.host == "mail.acme.com"


def test_address_is_split_on_the_last_at_sign() -> None:
    # The part before the last @ is the local part, and an @ is not allowed in it unquoted.
    assert normalize_email("a@b@acme.com").problem is QuarantineReason.INVALID_EMAIL


@pytest.mark.parametrize("raw", [None, "", "   ", "mailto:", "<>", "mailto:<>"])
def test_empty_or_null_email_is_missing(raw: str | None) -> None:
    assert normalize_email(raw) == NormalizedEmail(None, None, QuarantineReason.MISSING_EMAIL)


@pytest.mark.parametrize(
    "raw",
    [
        "john",
        "john@",
        "@acme.com",
        "john doe@acme.com",
        '"john doe"@acme.com',
        "john..doe@acme.com",
        ".john@acme.com",
        "john.@acme.com",
        "john@-acme.com",
        "john@acme-.com",
        "john@acme_corp.com",
        "john@acme..com",
        "john@acme.com..",
        "john@acme.com>",
        "<john@acme.com",
        "john@acme.com?subject=hi",
        "john@☃.net",
    ],
)
def test_bad_syntax_is_invalid_email(raw: str) -> None:
    assert normalize_email(raw) == NormalizedEmail(None, None, QuarantineReason.INVALID_EMAIL)


def test_local_part_is_at_most_64_octets() -> None:
    assert normalize_email("x" * 64 + "@acme.com").problem is None
    assert normalize_email("x" * 65 + "@acme.com").problem is QuarantineReason.INVALID_EMAIL
    # Octets, not characters: 33 two-octet letters exceed the limit.
    assert normalize_email("ü" * 33 + "@acme.com").problem is QuarantineReason.INVALID_EMAIL


def test_host_labels_are_at_most_63_characters() -> None:
    assert normalize_email("j@" + "a" * 63 + ".com").problem is None
    assert normalize_email("j@" + "a" * 64 + ".com").problem is QuarantineReason.INVALID_EMAIL


def test_address_is_at_most_254_octets() -> None:
    host = ".".join(["a" * 60] * 3) + ".com"
    assert normalize_email("x" * 60 + "@" + host).problem is None
    assert normalize_email("x" * 64 + "@" + host[:-4] + ".aaaaaaaaaa.com").problem is QuarantineReason.INVALID_EMAIL


def test_ascii_specials_and_unicode_letters_are_allowed_in_local_part() -> None:
    assert normalize_email("o'neil+news@acme.com").problem is None
    assert normalize_email("!#$%&'*+/=?^_`{|}~-@acme.com").problem is None
    assert normalize_email("jörg@bücher.de") == NormalizedEmail("jörg@bücher.de", "bücher.de", None)


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("john@[1.2.3.4]", "[1.2.3.4]"),
        ("john@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"),
        ("john@1.2.3.4", "1.2.3.4"),
        ("john@localhost", "localhost"),
    ],
)
def test_ip_literals_and_single_labels_pass_syntax_and_are_left_to_the_domain_rule(raw: str, host: str) -> None:
    assert normalize_email(raw).host == host


def test_trailing_dot_of_host_is_dropped() -> None:
    assert normalize_email("john@acme.com.").email == "john@acme.com"


def test_ideographic_full_stop_separates_labels() -> None:
    assert normalize_email("j@BÜCHER。DE").host == "bücher.de"


def test_lone_surrogate_is_invalid_not_a_crash() -> None:
    assert normalize_email("\ud800@acme.com").problem is QuarantineReason.INVALID_EMAIL


def test_column_adds_normalized_host_and_problem() -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "email": [" A@X.COM ", None, "nope"]})
    result = normalize_email_column(frame)
    assert result.columns == ["id", "email", "email_normalized", "email_host", "email_problem"]
    assert result.schema["email_normalized"] == pl.String
    assert result.schema["email_problem"] == pl.String
    assert result.to_dicts() == [
        {"id": 1, "email": " A@X.COM ", "email_normalized": "A@x.com", "email_host": "x.com", "email_problem": None},
        {"id": 2, "email": None, "email_normalized": None, "email_host": None, "email_problem": "missing_email"},
        {"id": 3, "email": "nope", "email_normalized": None, "email_host": None, "email_problem": "invalid_email"},
    ]


def test_column_accepts_an_all_null_column_under_another_name() -> None:
    frame = pl.DataFrame({"mail": [None, None]})
    result = normalize_email_column(frame, "mail")
    assert result.get_column("email_problem").to_list() == ["missing_email", "missing_email"]


def test_column_and_scalar_agree_on_corpus() -> None:
    column = normalize_email_column(pl.DataFrame({"email": CORPUS}, schema={"email": pl.String}))
    for raw, row in zip(CORPUS, column.iter_rows(named=True), strict=True):
        scalar = normalize_email(raw)
        assert (scalar.email, scalar.host, scalar.problem) == (
            row["email_normalized"],
            row["email_host"],
            row["email_problem"],
        ), raw


@settings(max_examples=150, deadline=None)
@given(st.text())
def test_normalize_email_never_raises_and_is_idempotent_on_any_text(raw: str) -> None:
    result = normalize_email(raw)
    assert (result.email is None) == (result.problem is not None)
    if result.email is not None:
        assert normalize_email(result.email) == result


@settings(max_examples=150, deadline=None)
@given(
    st.emails()
    | st.builds(
        lambda local, host: f" {local}@{host.upper()} ",
        st.from_regex(r"[a-z.+]{1,10}", fullmatch=True),
        st.sampled_from(["ACME.com", "bücher.DE", "x.co.uk."]),
    )
)
def test_normalizing_a_normalized_email_gives_itself(raw: str) -> None:
    result = normalize_email(raw)
    if result.email is not None:
        assert normalize_email(result.email) == result


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30), st.emails()), max_size=20))
def test_column_and_scalar_agree_on_any_batch(raws: list[str | None]) -> None:
    column = normalize_email_column(pl.DataFrame({"email": raws}, schema={"email": pl.String}))
    expected = [normalize_email(raw) for raw in raws]
    assert column.select("email_normalized", "email_host", "email_problem").rows() == [
        (result.email, result.host, result.problem.value if result.problem else None) for result in expected
    ]
