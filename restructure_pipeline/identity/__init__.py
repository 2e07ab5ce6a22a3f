"""Company identity rules: pure functions over plain values and polars frames.

Where each rule lives:

- ``reasons``: quarantine reason codes and domain kinds.
- ``emails``: trimming, ``mailto:``/angle brackets, syntax check, lowercased host.
- ``domains``: host -> registrable company domain (offline Public Suffix List, IDNA),
  personal/disposable lists and classification.
- ``names``: company-name cleaning (legal suffixes, case, accents, punctuation).
- ``attributes``: trimming and number parsing of raw Customer fields, CSV header names.
- ``merge``: per-domain attribute merge and company resolution by cleaned name.
- ``index_limits``: values too long for the btree indexes ``schema.prisma`` declares.
- ``records``: the whole per-record pipeline and its quarantine decision.

No database, no Dagster, no network anywhere in this package.
"""

from restructure_pipeline.identity.attributes import (
    ATTRIBUTE_COLUMNS,
    SYSTEM_COLUMNS,
    canonical_column_name,
    clean_attributes,
)
from restructure_pipeline.identity.domains import (
    DomainLists,
    ascii_host,
    classify_domain,
    domain_column,
    registrable_domain,
)
from restructure_pipeline.identity.emails import NormalizedEmail, normalize_email, normalize_email_column
from restructure_pipeline.identity.index_limits import INDEXED_INPUT_COLUMNS, MAX_INDEXED_VALUE_BYTES, too_long_columns
from restructure_pipeline.identity.merge import MERGED_COLUMNS, company_name_owners, merge_company_attributes
from restructure_pipeline.identity.names import clean_company_name, clean_company_name_column
from restructure_pipeline.identity.reasons import DomainKind, QuarantineReason
from restructure_pipeline.identity.records import normalize_records

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "INDEXED_INPUT_COLUMNS",
    "MAX_INDEXED_VALUE_BYTES",
    "MERGED_COLUMNS",
    "SYSTEM_COLUMNS",
    "DomainKind",
    "DomainLists",
    "NormalizedEmail",
    "QuarantineReason",
    "ascii_host",
    "canonical_column_name",
    "classify_domain",
    "clean_attributes",
    "clean_company_name",
    "clean_company_name_column",
    "company_name_owners",
    "domain_column",
    "merge_company_attributes",
    "normalize_email",
    "normalize_email_column",
    "normalize_records",
    "registrable_domain",
    "too_long_columns",
]
