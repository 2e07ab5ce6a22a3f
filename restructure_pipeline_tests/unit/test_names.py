"""Company-name cleaning: legal suffixes stripped, case, accents and punctuation folded."""

from __future__ import annotations

import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restructure_pipeline.identity import names
from restructure_pipeline.identity.names import clean_company_name, clean_company_name_column


@pytest.mark.parametrize(
    "name",
    [
        "Acme Inc",
        "Acme Inc.",
        "Acme, Inc.",
        "Acme LLC",
        "Acme Ltd",
        "Acme Ltd.",
        "Acme GmbH",
        "Acme S.A.",
        "Acme AG",
        "Acme plc",
        "Acme Corp",
        "Acme Corporation",
        "Acme Co.",
        "Acme Co., Ltd.",
        "Acme Pty Ltd",
        "Acme B.V.",
        "Acme GmbH & Co. KG",
        "Acme Inc. LLC",
        "Acme-Inc",
    ],
)
def test_legal_suffixes_are_stripped(name: str) -> None:
    assert clean_company_name(name) == "acme"


def test_case_and_punctuation_are_folded() -> None:
    assert clean_company_name("Acme, Inc.") == clean_company_name("ACME Inc") == clean_company_name("acme") == "acme"


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("Müller GmbH", "muller"),
        ("Société Générale S.A.", "societe generale"),
        ("Ørsted A/S", "orsted"),
        ("Łódź Sp. z o.o.", "lodz"),
        ("Straße AG", "strasse"),
    ],
)
def test_accents_are_stripped(name: str, clean: str) -> None:
    assert clean_company_name(name) == clean


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("Johnson & Johnson", "johnson johnson"),
        ("Rolls-Royce Holdings", "rolls royce holdings"),
        ("  Big   Blue\tData  ", "big blue data"),
        ("AT&T", "at t"),
        ("ACME_CORP", "acme"),
    ],
)
def test_punctuation_ampersand_and_hyphens_fold_to_single_spaces(name: str, clean: str) -> None:
    assert clean_company_name(name) == clean


def test_compatibility_forms_are_unified() -> None:
    assert clean_company_name("ＡＣＭＥ Ｉｎｃ") == "acme"


@pytest.mark.parametrize("name", [None, "", "   ", "...", "&", " - "])
def test_nothing_left_is_none(name: str | None) -> None:
    assert clean_company_name(name) is None


@pytest.mark.parametrize(("name", "clean"), [("AG", "ag"), ("Inc.", "inc"), ("Co", "co")])
def test_name_that_is_only_a_legal_form_is_kept(name: str, clean: str) -> None:
    assert clean_company_name(name) == clean


def test_column_cleans_each_distinct_name_once_and_plain_names_without_python(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    original = names.clean_company_name

    def counting(name: str | None) -> str | None:
        seen.append(name)
        return original(name)

    monkeypatch.setattr(names, "clean_company_name", counting)
    companies = [
        "Acme, Inc.", None, "ACME Inc", "Acme, Inc.", "Acme Pty Ltd", "Müller GmbH", "Acme-Inc", "Inc", "Acme"
    ]
    frame = pl.DataFrame({"id": range(len(companies)), "company": companies})
    result = clean_company_name_column(frame)
    # A two-word legal form, accents, a form that folding reveals, and a name that is only a form.
    assert sorted(seen, key=str) == ["Acme Pty Ltd", "Acme-Inc", "Inc", "Müller GmbH"]
    assert result.columns == ["id", "company", "company_name_clean"]
    assert result.get_column("company_name_clean").to_list() == [
        "acme", None, "acme", "acme", "acme", "muller", "acme", "inc", "acme"
    ]


_NAME_WORDS = st.sampled_from(
    ["Acme", "acme", "Inc", "Inc.", "inc,", "LLC", "Ltd", "Co.", "Co", "&", "KG", "GmbH", "S.A.", "SA", "Pty", "B.V.",
     "AG", "Corp", "Corporation", "plc", "sp.", "z", "o.o.", "and", "Company", "13,", "(UK)", "-", "_", ",", ".",
     "Müller", "ＡＢ", "a/s", "", " ", "\t", "Holdings", "de", "C.V."]
)


@settings(max_examples=500, deadline=None)
@given(
    companies=st.lists(
        st.lists(_NAME_WORDS, max_size=6).map(" ".join)
        | st.text(alphabet=st.characters(max_codepoint=0x7F))
        | st.text(),
        max_size=20,
    )
)
def test_column_equals_clean_company_name(companies: list[str]) -> None:
    frame = pl.DataFrame({"company": companies}, schema={"company": pl.String})
    result = clean_company_name_column(frame).get_column("company_name_clean").to_list()
    assert result == [clean_company_name(name) for name in companies]


def test_column_equals_clean_company_name_on_generated_customers() -> None:
    from restructure_pipeline.sample_data import generate_customers

    companies = generate_customers(20_000, seed=7).get_column("company").drop_nulls().unique().to_list()
    result = clean_company_name_column(pl.DataFrame({"company": companies}, schema={"company": pl.String}))
    assert len(companies) > 3_000
    assert result.get_column("company_name_clean").to_list() == [clean_company_name(name) for name in companies]


def test_column_takes_custom_names() -> None:
    frame = pl.DataFrame({"name": ["Müller GmbH"]})
    assert clean_company_name_column(frame, "name", "name_clean").get_column("name_clean").to_list() == ["muller"]


_NAME_WORDS = ["Acme", "Inc.", "GmbH", "&", "Co.", "-", "Müller", "S.A.", "ＡＢ"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60) | st.builds(" ".join, st.lists(st.sampled_from(_NAME_WORDS), max_size=6)))
def test_clean_company_name_never_raises_and_is_idempotent(name: str) -> None:
    clean = clean_company_name(name)
    if clean is not None:
        assert clean == clean.strip() and "  " not in clean
        assert clean_company_name(clean) == clean


_LEGAL_FORM_WORDS = st.sampled_from(
    ["Inc", "inc.", "LLC", "Ltd", "Co.", "Co", "GmbH", "&", "KG", "S.A.", "Sp.", "z", "o.o.", "Pty", "B.V.", "AG",
     "Corp", ",", "Bhd", "Sdn", "spol.", "s", "r.o.", "Müller", "Łódź", "Acme", "  ", "A/S", "plc", "Société"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(_LEGAL_FORM_WORDS, max_size=6).map(" ".join)))
def test_basename_is_exactly_cleancos(name: str) -> None:
    from cleanco import basename

    assert names._basename(name) == basename(name)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
def test_ascii_fast_paths_equal_the_unicode_paths(text: str) -> None:
    from cleanco.clean import normalized

    assert names._normalized(text) == normalized(text)
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
    assert names._fold(text) == names._NON_WORD.sub(" ", decomposed.translate(names._UNDECOMPOSABLE).casefold()).strip()
