"""Company-name cleaning: the key that joins a personal-mail prospect to an existing company.

:func:`clean_company_name` applies, in order:

1. Unicode NFKC (full-width letters, ligatures and the like become plain letters).
2. cleanco's ``basename`` until the name stops changing, which strips trailing legal
   forms (Inc, LLC, Ltd, GmbH, S.A., AG, plc, Corp, Co., ``GmbH & Co. KG`` ...).
   A strip that would leave nothing is not taken, so a company literally named
   ``AG`` keeps that name.
3. Folding: casefold, accents stripped (``ü`` -> ``u``, ``ł`` -> ``l``), every run of
   punctuation, ``&``, hyphens, underscores and whitespace becomes one space,
   trimmed.
4. Step 2 once more on the folded text (``Acme-Inc`` folds to ``acme inc``, then
   loses ``inc``), again until stable.
5. Nothing left -> None.

So ``Acme, Inc.``, ``ACME Inc`` and ``acme`` are all ``acme``; ``Müller GmbH`` is
``muller``. ``&`` is not spelled out: ``Johnson & Johnson`` is ``johnson johnson``.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import polars as pl
from cleanco import prepare_default_terms
from cleanco.clean import normalized, strip_punct, strip_tail
from cleanco.non_nfkd_map import NON_NFKD_MAP

COMPANY_NAME_CLEAN = "company_name_clean"

_NON_WORD = re.compile(r"[\W_]+")
# cleanco's table of letters NFKD cannot decompose (ł, ø, đ ...), keyed by their casefolded form.
_UNDECOMPOSABLE = str.maketrans({key.casefold(): value.casefold() for key, value in NON_NFKD_MAP.items()})


def _fold(text: str) -> str:
    if text.isascii():
        # ASCII has nothing to decompose, no combining marks and no undecomposable letters.
        return _NON_WORD.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    unaccented = "".join(char for char in decomposed if not unicodedata.combining(char))
    unaccented = unaccented.translate(_UNDECOMPOSABLE).casefold()
    return _NON_WORD.sub(" ", unaccented).strip()


def _normalized(text: str) -> str:
    """cleanco's ``normalized``, with a fast path for ASCII (where it is just ``casefold``)."""
    return text.lower() if text.isascii() else normalized(text)


@functools.cache
def _terms_by_last_word() -> dict[str, list[tuple[int, int, list[str]]]]:
    """cleanco's default terms as (position in cleanco's order, size, words), by last word."""
    index: dict[str, list[tuple[int, int, list[str]]]] = {}
    for position, (size, words) in enumerate(prepare_default_terms()):
        index.setdefault(words[-1], []).append((position, size, words))
    return index


def _basename(name: str) -> str:
    """Exactly ``cleanco.basename(name)`` (suffixes only), without scanning all ~300 terms.

    cleanco walks its terms in order and drops each one the (shrinking) name ends with.
    Only a term whose last word is the name's current last word can match, so this walks
    just those, in cleanco's order, from the last match on.
    """
    terms = _terms_by_last_word()
    name = strip_tail(name)
    words = name.split()
    keys = [strip_punct(word) for word in _normalized(name).split()]
    after = -1
    while keys:
        match = next(
            (
                (position, size)
                for position, size, term in terms.get(keys[-1], ())
                if position > after and keys[-size:] == term
            ),
            None,
        )
        if match is None:
            break
        after, size = match
        del keys[-size:]
        del words[-size:]
    return strip_tail(" ".join(words))


@functools.cache
def _legal_form_endings() -> frozenset[str]:
    # Last words of cleanco's terms, in cleanco's own normalization: basename can only strip names ending so.
    return frozenset(_terms_by_last_word())


def _may_end_in_legal_form(text: str) -> bool:
    words = _normalized(strip_tail(text)).split()
    return bool(words) and strip_punct(words[-1]) in _legal_form_endings()


def _strip_legal_forms(text: str) -> str:
    # The cheap ending test skips basename for most names.
    while _may_end_in_legal_form(text):
        stripped = _basename(text)
        if stripped == text or not _fold(stripped):
            return text
        text = stripped
    return text


@functools.lru_cache(maxsize=1 << 17)
def clean_company_name(name: str | None) -> str | None:
    """The comparison key of a company name, or None when nothing but punctuation or spaces is left."""
    if name is None:
        return None
    folded = _fold(_strip_legal_forms(unicodedata.normalize("NFKC", name)))
    while True:
        stripped = _fold(_strip_legal_forms(folded))
        if stripped == folded:
            return folded or None
        folded = stripped


# --------------------------------------------------------------------------- vectorized path
# Most names carry at most one legal form. For a printable-ASCII name (NFKC leaves it
# alone, there is nothing to unaccent, and ``str.split`` splits on spaces only),
# clean_company_name comes down to plain string operations, which polars runs on all
# of them at once, in two cases:
#
# - no legal form at the end, before or after folding: the name's fold;
# - one single-word legal form at the end, after a word that is no word of any term (so
#   no longer term matches and stripping stops there), and no legal form at the end of
#   what is left, before or after folding: the fold of the name without its last word.
#
# All other names go through clean_company_name, the reference the vectorized path is
# tested against.

_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"
_TAIL = r"[^.\w]+$"  # cleanco's strip_tail, on ASCII


@functools.cache
def _term_sets() -> tuple[pl.Series, pl.Series, pl.Series]:
    """cleanco's default terms: the last words, the single-word terms, and every word of any term.

    Each as a one-row list, the form ``is_in`` takes for a set.
    """
    terms = prepare_default_terms()
    return tuple(
        pl.Series(sorted(words), dtype=pl.String).implode()
        for words in (
            _legal_form_endings(),
            {words[0] for size, words in terms if size == 1},
            {word for _, words in terms for word in words},
        )
    )


def _key(word: pl.Expr) -> pl.Expr:
    """A word as cleanco compares it to its terms (ASCII): lowercase, without ``.,-``."""
    return word.str.to_lowercase().str.replace_all(r"[.,-]", "")


def _ends_in_legal_form(text: pl.Expr) -> pl.Expr:
    """``_may_end_in_legal_form`` of printable-ASCII text."""
    endings, _, _ = _term_sets()
    return _key(text.str.replace(_TAIL, "").str.extract(r"([^ ]+)$", 1)).is_in(endings).fill_null(False)


def _folded_ascii(text: pl.Expr) -> pl.Expr:
    """``_fold`` of ASCII text."""
    return text.str.to_lowercase().str.replace_all(_NON_WORD.pattern, " ").str.strip_chars()


def _vectorized_clean_names(names: pl.DataFrame, out: str) -> pl.DataFrame:
    """For the distinct names in ``__name``: ``__vectorized``, and where it is true ``out``."""
    _, single_word_terms, term_words = _term_sets()
    name = pl.col("__name")
    trimmed = name.str.replace(_TAIL, "")
    without_last = trimmed.str.replace(r"[^ ]+$", "")
    folded, folded_without_last = pl.col("__folded"), pl.col("__folded_without_last")
    printable = name.str.contains(_PRINTABLE_ASCII)
    no_legal_form = ~_ends_in_legal_form(name) & ~_ends_in_legal_form(folded)
    one_legal_form = (
        _key(trimmed.str.extract(r"([^ ]+)$", 1)).is_in(single_word_terms).fill_null(False)
        & ~_key(trimmed.str.extract(r"([^ ]+) +[^ ]+$", 1)).is_in(term_words).fill_null(True)
        & ~_ends_in_legal_form(without_last)
        & (folded_without_last != "")
        & ~_ends_in_legal_form(folded_without_last)
    )
    return (
        names.with_columns(
            _folded_ascii(name).alias("__folded"), _folded_ascii(without_last).alias("__folded_without_last")
        )
        .with_columns(
            (printable & (no_legal_form | one_legal_form)).alias("__vectorized"),
            pl.when(printable & no_legal_form)
            .then(pl.when(folded != "").then(folded))
            .when(printable & one_legal_form)
            .then(folded_without_last)
            .alias(out),
        )
        .select("__name", "__vectorized", out)
    )


def clean_company_name_column(
    frame: pl.DataFrame, column: str = "company", out: str = COMPANY_NAME_CLEAN
) -> pl.DataFrame:
    """Add ``out`` = :func:`clean_company_name` of ``column``, deciding each distinct name once.

    Most names are cleaned all at once in polars (see ``_vectorized_clean_names``), the
    others one by one.
    """
    names = frame.select(pl.col(column).cast(pl.String).drop_nulls().unique().alias("__name"))
    decided = _vectorized_clean_names(names, out)
    rest = decided.filter(~pl.col("__vectorized")).get_column("__name").to_list()
    mapping = pl.concat([
        decided.filter(pl.col("__vectorized")).drop("__vectorized"),
        pl.DataFrame(
            {"__name": rest, out: [clean_company_name(name) for name in rest]},
            schema={"__name": pl.String, out: pl.String},
        ),
    ])
    base = frame.drop(out) if out in frame.columns else frame
    return (
        base.with_columns(pl.col(column).cast(pl.String).alias("__name"))
        .join(mapping, on="__name", how="left", maintain_order="left")
        .drop("__name")
    )
