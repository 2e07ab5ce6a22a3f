"""The per-record identity pipeline: a chunk of raw Customer-shaped rows to decided records.

:func:`normalize_records` applies, in order, :func:`clean_attributes`,
:func:`normalize_email_column`, :func:`domain_column`,
:func:`clean_company_name_column` and :func:`too_long_columns`, then decides each
record:

``record_problem`` (first match wins):

1. ``externalId`` null or blank (or the column absent) -> ``missing_external_id``;
   else ``externalSource`` null or blank -> ``missing_external_source``. A prospect is
   the pair: a row without either part has no identity to become one.
2. a value too long for the btree index of the column it feeds (``too_long_columns``
   names them; see :mod:`restructure_pipeline.identity.index_limits`) ->
   ``value_too_long``. It comes before the email rules because the record cannot be
   stored as it is, whatever else is wrong with it.
3. the email is syntactically invalid -> ``invalid_email``
4. an email is present but has no company domain (IP literal, no public suffix,
   bad labels) -> ``invalid_domain``
5. the domain is disposable -> ``disposable_domain``
6. otherwise null. A MISSING email is not a problem yet: such a record, like one
   on a personal domain, follows the personal rule below.

``needs_name_resolution``: no problem and (no email, or a personal domain). These
records join a company by cleaned company name later
(:func:`restructure_pipeline.identity.merge.company_name_owners`); when that
fails the asset quarantines them as ``missing_email`` (no email) or
``personal_domain_unresolved`` (personal domain).

``company_domain``: the domain when it is a company domain and there is no
problem, else null.

``too_long_columns``: the columns whose value is too long to be indexed, whatever the
``record_problem`` (a row quarantined for another reason still must not store them
where an index would refuse them).

The attribute columns come back cleaned (see
:mod:`restructure_pipeline.identity.attributes`); keep the raw frame if the raw
record is needed, e.g. for the quarantine's ``jsonb``.
"""

from __future__ import annotations

import polars as pl

from restructure_pipeline.identity.attributes import clean_attributes
from restructure_pipeline.identity.domains import DOMAIN, DOMAIN_KIND, DomainLists, domain_column
from restructure_pipeline.identity.emails import EMAIL_HOST, EMAIL_NORMALIZED, EMAIL_PROBLEM, normalize_email_column
from restructure_pipeline.identity.index_limits import TOO_LONG_COLUMNS, too_long_columns
from restructure_pipeline.identity.names import clean_company_name_column
from restructure_pipeline.identity.reasons import DomainKind, QuarantineReason

RECORD_PROBLEM = "record_problem"
NEEDS_NAME_RESOLUTION = "needs_name_resolution"
COMPANY_DOMAIN = "company_domain"


def _reason(reason: QuarantineReason) -> pl.Expr:
    return pl.lit(reason.value, dtype=pl.String)


def _missing(frame: pl.DataFrame, column: str) -> pl.Expr:
    """The column is absent, null or blank."""
    if column not in frame.columns:
        return pl.lit(True)
    return pl.col(column).cast(pl.String).str.strip_chars().str.len_bytes().fill_null(0) == 0


def normalize_records(frame: pl.DataFrame, lists: DomainLists) -> pl.DataFrame:
    """Clean, normalize and decide every record of a raw chunk (see module docstring)."""
    cleaned = too_long_columns(
        clean_company_name_column(
            domain_column(normalize_email_column(clean_attributes(frame), "email"), lists, EMAIL_HOST),
            "company",
        )
    )
    problem = (
        pl.when(_missing(cleaned, "externalId"))
        .then(_reason(QuarantineReason.MISSING_EXTERNAL_ID))
        .when(_missing(cleaned, "externalSource"))
        .then(_reason(QuarantineReason.MISSING_EXTERNAL_SOURCE))
        .when(pl.col(TOO_LONG_COLUMNS).list.len() > 0)
        .then(_reason(QuarantineReason.VALUE_TOO_LONG))
        .when(pl.col(EMAIL_PROBLEM) == QuarantineReason.INVALID_EMAIL.value)
        .then(_reason(QuarantineReason.INVALID_EMAIL))
        .when(pl.col(EMAIL_NORMALIZED).is_not_null() & pl.col(DOMAIN).is_null())
        .then(_reason(QuarantineReason.INVALID_DOMAIN))
        .when(pl.col(DOMAIN_KIND) == DomainKind.DISPOSABLE.value)
        .then(_reason(QuarantineReason.DISPOSABLE_DOMAIN))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return cleaned.with_columns(problem.alias(RECORD_PROBLEM)).with_columns(
        (
            pl.col(RECORD_PROBLEM).is_null()
            & (pl.col(EMAIL_NORMALIZED).is_null() | (pl.col(DOMAIN_KIND) == DomainKind.PERSONAL.value).fill_null(False))
        ).alias(NEEDS_NAME_RESOLUTION),
        pl.when(pl.col(RECORD_PROBLEM).is_null() & (pl.col(DOMAIN_KIND) == DomainKind.COMPANY.value))
        .then(pl.col(DOMAIN))
        .alias(COMPANY_DOMAIN),
    )
