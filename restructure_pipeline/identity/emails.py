"""Email normalization: from a raw contact value to a checked address and its host.

The rule, applied in this order (no DNS, no network):

1. Trim surrounding whitespace (Unicode whitespace included).
2. Strip a leading ``mailto:`` (any case).
3. If the value ends in an address in angle brackets (``<john@x.com>`` or
   ``John Doe <john@x.com>``), keep only the address inside; then trim and strip
   ``mailto:`` once more (``<mailto:john@x.com>``).
4. Nothing left (also ``mailto:`` or ``<>`` alone) -> ``missing_email``.
5. Split on the LAST ``@`` into local part and host (an unquoted local part
   cannot hold ``@``, so a valid address has exactly one), then check the syntax:

   - local part: a dot-atom (RFC 5322 ``atext`` runs separated by single dots, no
     leading/trailing/double dot). ``atext`` is ASCII letters, digits and
     ``!#$%&'*+/=?^_`{|}~-``, plus Unicode letters, marks and digits (RFC 6531).
     Quoted local parts (``"john doe"@x.com``) are rejected: they do not occur in
     B2B contact data and are a common sign of a broken export.
     At most 64 UTF-8 octets.
   - host: one trailing dot (the DNS root) is dropped, the ideographic full stops
     ``。．｡`` are read as ``.``, then the host is lowercased. It must be
     dot-separated labels of Unicode letters, marks, digits and inner hyphens,
     none longer than 63 characters and the whole at most 253 octets, or an
     address literal ``[1.2.3.4]`` / ``[IPv6:...]``. A bare or bracketed IP is
     syntactically fine here; :mod:`restructure_pipeline.identity.domains`
     turns it into ``invalid_domain``, as it does a host with no public suffix.
   - the whole address: at most 254 UTF-8 octets.

   Anything else -> ``invalid_email``.
6. The normalized address is ``local@host`` with the local part kept exactly as
   written (mailbox names may be case-sensitive) and the host lowercased. The
   host stays as written otherwise (``bücher.de`` is not punycoded here; the
   company domain is, in :mod:`restructure_pipeline.identity.domains`).

The rule lives once, as polars expressions in :func:`normalize_email_column`, so it
runs vectorized on millions of rows; :func:`normalize_email` is that same code on
a one-row frame, so the two can never disagree. Normalizing a normalized address
returns it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from restructure_pipeline.identity.reasons import QuarantineReason

EMAIL_NORMALIZED = "email_normalized"
EMAIL_HOST = "email_host"
EMAIL_PROBLEM = "email_problem"

MAX_LOCAL_OCTETS = 64
MAX_HOST_OCTETS = 253
MAX_ADDRESS_OCTETS = 254

_MAILTO = r"^(?i:mailto:)"
# Address inside the final <...>, optionally preceded by a display name without brackets.
_BRACKETED = r"^[^<>]*<([^<>]*)>$"
# Rust regex class-set operators (&&, --, ~~) make these three worth escaping.
_ATEXT = r"[A-Za-z0-9!#$%\&'*+/=?^_`{|}\~\-\p{L}\p{M}\p{N}]"
_LOCAL_PART = rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$"
_LABEL = r"[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}\-]*[\p{L}\p{M}\p{N}])?"
_HOST_SYNTAX = rf"^(?:{_LABEL}(?:\.{_LABEL})*|\[(?:ipv6:)?[0-9a-f:.]+\])$"
_OVERLONG_LABEL = r"[^.]{64,}"
_UNICODE_FULL_STOPS = ("\u3002", "\uff0e", "\uff61")
# Scratch columns, dropped before returning.
_ADDRESS = "__email_address"
_LOCAL = "__email_local"
_HOST = "__email_host"


@dataclass(frozen=True)
class NormalizedEmail:
    """One normalized address: ``email``/``host`` are set exactly when ``problem`` is None."""

    email: str | None
    host: str | None
    problem: QuarantineReason | None


def _strip_mailto(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace(_MAILTO, "").str.strip_chars()


def normalize_email_column(frame: pl.DataFrame, column: str = "email") -> pl.DataFrame:
    """Add ``email_normalized``, ``email_host`` and ``email_problem`` for ``frame[column]``.

    ``email_normalized`` and ``email_host`` are null when ``email_problem`` (a
    :class:`QuarantineReason` value: ``missing_email`` or ``invalid_email``) is set.
    """
    raw = pl.col(column).cast(pl.String)
    unwrapped = _strip_mailto(raw.str.strip_chars())
    unwrapped = pl.coalesce(unwrapped.str.extract(_BRACKETED, 1), unwrapped).str.strip_chars()
    address = _strip_mailto(unwrapped)

    # An unquoted local part cannot hold "@", so with exactly one "@" the first is also the last;
    # splitting by position is much cheaper than a capturing regex on millions of rows.
    parts = pl.col(_ADDRESS).str.split_exact("@", 1)
    host = (
        parts.struct.field("field_1")
        .str.replace_many(dict.fromkeys(_UNICODE_FULL_STOPS, "."))
        .str.strip_suffix(".")
        .str.to_lowercase()
    )
    local = pl.col(_LOCAL)
    valid = (
        (pl.col(_ADDRESS).str.count_matches("@", literal=True) == 1)
        & local.str.contains(_LOCAL_PART)
        & (local.str.len_bytes() <= MAX_LOCAL_OCTETS)
        & pl.col(_HOST).str.contains(_HOST_SYNTAX)
        & ~pl.col(_HOST).str.contains(_OVERLONG_LABEL)
        & (pl.col(_HOST).str.len_bytes() <= MAX_HOST_OCTETS)
        & (local.str.len_bytes() + 1 + pl.col(_HOST).str.len_bytes() <= MAX_ADDRESS_OCTETS)
    ).fill_null(False)
    problem = (
        pl.when(pl.col(_ADDRESS).is_null() | (pl.col(_ADDRESS) == ""))
        .then(pl.lit(QuarantineReason.MISSING_EMAIL.value))
        .when(~valid)
        .then(pl.lit(QuarantineReason.INVALID_EMAIL.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    outputs = (EMAIL_NORMALIZED, EMAIL_HOST, EMAIL_PROBLEM)
    return (
        frame.with_columns(address.alias(_ADDRESS))
        .with_columns(parts.struct.field("field_0").alias(_LOCAL), host.alias(_HOST))
        .with_columns(problem.alias(EMAIL_PROBLEM))
        .with_columns(
            pl.when(pl.col(EMAIL_PROBLEM).is_null()).then(local + "@" + pl.col(_HOST)).alias(EMAIL_NORMALIZED),
            pl.when(pl.col(EMAIL_PROBLEM).is_null()).then(pl.col(_HOST)).alias(EMAIL_HOST),
        )
        .select(*[name for name in frame.columns if name not in outputs], *outputs)
    )


def normalize_email(raw: str | None) -> NormalizedEmail:
    """Normalize one raw value by the same expressions as :func:`normalize_email_column`."""
    if raw is None:
        return NormalizedEmail(None, None, QuarantineReason.MISSING_EMAIL)
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates cannot come from Postgres or a UTF-8 CSV, and polars refuses them.
        return NormalizedEmail(None, None, QuarantineReason.INVALID_EMAIL)
    row = normalize_email_column(pl.DataFrame({"email": [raw]}, schema={"email": pl.String})).row(0, named=True)
    problem = row[EMAIL_PROBLEM]
    return NormalizedEmail(
        email=row[EMAIL_NORMALIZED],
        host=row[EMAIL_HOST],
        problem=QuarantineReason(problem) if problem is not None else None,
    )
