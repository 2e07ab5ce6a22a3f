"""The vocabulary of company identity: why a record is quarantined, and what kind a mail domain is.

Both are string enums so their values go straight into polars columns, Postgres
``text`` columns and Dagster metadata without conversion.
"""

from __future__ import annotations

import enum


class QuarantineReason(enum.StrEnum):
    """Why an input row did not become a prospect (the ``reason`` of ``customer_quarantine``)."""

    MISSING_EXTERNAL_ID = "missing_external_id"
    #: No ``externalSource``: a legacy row with a blank one (a drop without it gets its default).
    MISSING_EXTERNAL_SOURCE = "missing_external_source"
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    INVALID_DOMAIN = "invalid_domain"
    DISPOSABLE_DOMAIN = "disposable_domain"
    PERSONAL_DOMAIN_UNRESOLVED = "personal_domain_unresolved"
    #: A value too long for the btree index of the column it feeds (see ``index_limits``).
    VALUE_TOO_LONG = "value_too_long"


class DomainKind(enum.StrEnum):
    """What a registrable mail domain says about its owner."""

    COMPANY = "company"
    PERSONAL = "personal"
    DISPOSABLE = "disposable"
