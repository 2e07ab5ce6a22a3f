"""Running the seed's search use cases against the aliases (used by ``restructure-pipeline search``)."""

from __future__ import annotations

from dataclasses import dataclass

from opensearchpy import OpenSearch

from restructure_pipeline.search_index.naming import alias_name
from restructure_pipeline.search_index.queries import SearchRequest, build_company_query, build_view_query


@dataclass(frozen=True)
class SearchResults:
    kind: str  # "view" (people with their company) or "companies"
    alias: str
    total: int
    hits: list[dict]


def _is_company_lookup(request: SearchRequest) -> bool:
    """A domain and nothing person-related: answer with the company itself."""
    person_filters = (request.text, request.job_title_level, request.department)
    return request.domain is not None and not any(person_filters)


def run_search(client: OpenSearch, request: SearchRequest, prefix: str = "") -> list[SearchResults]:
    """The company (for a domain lookup) and the matching people with their company."""
    results = []
    if _is_company_lookup(request):
        alias = alias_name("companies", prefix)
        response = client.search(index=alias, body=build_company_query(request))
        results.append(_results("companies", alias, response))
    alias = alias_name("company_prospect_view", prefix)
    response = client.search(index=alias, body=build_view_query(request))
    results.append(_results("view", alias, response))
    return results


def _results(kind: str, alias: str, response: dict) -> SearchResults:
    hits = response["hits"]
    total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
    return SearchResults(kind, alias, total, hits["hits"])
