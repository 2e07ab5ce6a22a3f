"""OpenSearch indexing of companies, prospects and the view.

The pure rules (no client, no network):

- ``mappings``: the three strict index definitions and their create bodies.
- ``documents``: row -> ``(document id, _source)`` and the field-by-field comparison.
- ``naming``: aliases, versioned index names, retention, prefix validation.
- ``queries``: the ``search`` command's request bodies and terminal output.

The I/O built on them: ``bulk`` (chunked bulk writes with backoff) and ``indices``
(rebuild behind an alias, incremental updates, rollback).
"""

from restructure_pipeline.search_index.documents import (
    DocumentError,
    document_id,
    format_timestamp,
    source_matches_row,
    to_document,
)
from restructure_pipeline.search_index.mappings import (
    COMPANIES,
    COMPANY_PROSPECT_VIEW,
    INDEX_DEFINITIONS,
    PROSPECTS,
    IndexDefinition,
    definition_for,
)
from restructure_pipeline.search_index.naming import (
    alias_name,
    indices_to_delete,
    new_index_name,
    orphaned_versions,
    validate_index_name,
    validate_prefix,
    version_time,
    versions_of,
)
from restructure_pipeline.search_index.queries import (
    SearchRequest,
    build_company_query,
    build_search,
    build_view_query,
    format_hits,
    normalize_domain_query,
    search_target,
)

__all__ = [
    "COMPANIES",
    "COMPANY_PROSPECT_VIEW",
    "INDEX_DEFINITIONS",
    "PROSPECTS",
    "DocumentError",
    "IndexDefinition",
    "SearchRequest",
    "alias_name",
    "build_company_query",
    "build_search",
    "build_view_query",
    "definition_for",
    "document_id",
    "format_hits",
    "format_timestamp",
    "indices_to_delete",
    "new_index_name",
    "normalize_domain_query",
    "orphaned_versions",
    "search_target",
    "source_matches_row",
    "to_document",
    "validate_index_name",
    "validate_prefix",
    "version_time",
    "versions_of",
]
