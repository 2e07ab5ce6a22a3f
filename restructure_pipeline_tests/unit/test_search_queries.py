"""Search bodies for the view and the companies alias, domain input, and terminal output."""

from __future__ import annotations

import dataclasses

import pytest

from restructure_pipeline.search_index.queries import (
    MAX_SIZE,
    SearchRequest,
    build_company_query,
    build_search,
    build_view_query,
    format_hits,
    normalize_domain_query,
    search_target,
)

#: Query clauses the integ-test node (core only) understands.
CORE_QUERIES = {"bool", "match_all", "match", "match_bool_prefix", "multi_match", "term", "range", "exists"}
BOOL_KEYS = {"must", "should", "filter", "must_not", "minimum_should_match"}


def used_queries(query: dict) -> set[str]:
    """Every query type in a query tree."""
    (kind, body), = query.items()
    found = {kind}
    if kind == "bool":
        assert set(body) <= BOOL_KEYS
        for key in ("must", "should", "filter", "must_not"):
            for clause in body.get(key, []):
                found |= used_queries(clause)
    return found


def filters(body: dict) -> list[dict]:
    return body["query"]["bool"].get("filter", [])


def ci_term(field: str, value: str) -> dict:
    return {"term": {field: {"value": value, "case_insensitive": True}}}


def test_no_text_matches_all_with_a_deterministic_sort() -> None:
    body = build_view_query(SearchRequest())
    assert body["query"] == {"bool": {"must": [{"match_all": {}}]}}
    assert body["size"] == 10 and body["track_total_hits"] is True
    assert body["sort"][0] == {"_score": {"order": "desc"}}
    assert [next(iter(key)) for key in body["sort"][1:]] == [
        "company_name.keyword", "last_name.keyword", "first_name.keyword", "company_id", "prospect_id",
    ]


def test_blank_text_and_filters_count_as_not_given() -> None:
    assert build_view_query(SearchRequest(text="   ", industry="", city=" ")) == build_view_query(SearchRequest())


def test_text_must_match_every_word_across_names_titles_and_company() -> None:
    body = build_view_query(SearchRequest(text=" Jane Acm "))
    must = body["query"]["bool"]["must"]
    fuzzy = {"query": "Jane Acm", "operator": "and", "fuzziness": "AUTO", "prefix_length": 1}
    assert must == [
        {
            "bool": {
                "should": [{"match_bool_prefix": {"search_text": fuzzy}}, {"match": {"search_text": fuzzy}}],
                "minimum_should_match": 1,
            }
        }
    ]


def test_text_ranking_boosts_names() -> None:
    body = build_view_query(SearchRequest(text="jane"))
    assert body["query"]["bool"]["should"] == [
        {
            "multi_match": {
                "query": "jane",
                "type": "bool_prefix",
                "fields": ["first_name^3", "last_name^3", "company_name^2", "job_title"],
                "fuzziness": "AUTO",
                "prefix_length": 1,
            }
        }
    ]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (SearchRequest(industry="Software"), ci_term("industry.keyword", "Software")),
        (SearchRequest(department=" Sales "), ci_term("department.keyword", "Sales")),
        (SearchRequest(job_title_level="VP"), ci_term("job_title_level", "VP")),
        (SearchRequest(min_revenue=1_000), {"range": {"revenue": {"gte": 1_000}}}),
        (SearchRequest(min_revenue=0, max_revenue=5 * 10**9), {"range": {"revenue": {"gte": 0, "lte": 5 * 10**9}}}),
        (SearchRequest(domain="WWW.Acme.com"), {"term": {"domain": "acme.com"}}),
    ],
)
def test_each_view_filter(request_: SearchRequest, expected: dict) -> None:
    assert filters(build_view_query(request_)) == [expected]


def test_location_filters_match_the_prospect_or_the_company_never_mixed() -> None:
    body = build_view_query(SearchRequest(country="us", state="TX", city="Austin"))
    assert filters(body) == [
        {
            "bool": {
                "should": [
                    {"bool": {"filter": [
                        ci_term("prospect_country", "us"),
                        ci_term("prospect_state.keyword", "TX"),
                        ci_term("prospect_city.keyword", "Austin"),
                    ]}},
                    {"bool": {"filter": [
                        ci_term("company_country", "us"),
                        ci_term("company_state.keyword", "TX"),
                        ci_term("company_city.keyword", "Austin"),
                    ]}},
                ],
                "minimum_should_match": 1,
            }
        }
    ]


def test_employee_filters_require_the_company_range_to_overlap() -> None:
    body = build_view_query(SearchRequest(min_employees=50, max_employees=200))
    only_min = {"bool": {"filter": [{"exists": {"field": "min_employee_size"}}],
                         "must_not": [{"exists": {"field": "max_employee_size"}}]}}
    only_max = {"bool": {"filter": [{"exists": {"field": "max_employee_size"}}],
                         "must_not": [{"exists": {"field": "min_employee_size"}}]}}
    assert filters(body) == [
        {"bool": {"should": [{"range": {"max_employee_size": {"gte": 50}}}, only_min], "minimum_should_match": 1}},
        {"bool": {"should": [{"range": {"min_employee_size": {"lte": 200}}}, only_max], "minimum_should_match": 1}},
    ]


def test_filters_combine_with_text_and_size() -> None:
    body = build_view_query(SearchRequest(text="jane", industry="Software", job_title_level="VP", size=25))
    assert body["size"] == 25
    assert len(filters(body)) == 2
    assert "match_all" not in str(body["query"]["bool"]["must"])


@pytest.mark.parametrize(
    "request_",
    [
        SearchRequest(),
        SearchRequest(text="jane doe", industry="x", department="y", job_title_level="z", country="a", state="b",
                      city="c", min_employees=1, max_employees=2, min_revenue=3, max_revenue=4, domain="acme.com"),
    ],
)
def test_bodies_use_only_core_queries(request_: SearchRequest) -> None:
    company_request = dataclasses.replace(request_, department=None, job_title_level=None)
    for body in (build_view_query(request_), build_company_query(company_request)):
        assert used_queries(body["query"]) <= CORE_QUERIES
        assert set(body) == {"query", "sort", "size", "track_total_hits"}


def test_company_query_uses_company_fields() -> None:
    request = SearchRequest(
        industry="Software", country="US", city="Austin", min_employees=10, max_revenue=99, domain="acme.com"
    )
    body = build_company_query(request)
    assert filters(body)[:3] == [
        ci_term("industry.keyword", "Software"),
        ci_term("country", "US"),
        ci_term("city.keyword", "Austin"),
    ]
    assert filters(body)[3]["bool"]["should"][0] == {"range": {"maxEmployeeSize": {"gte": 10}}}
    assert filters(body)[4:] == [{"range": {"revenue": {"lte": 99}}}, {"term": {"domain": "acme.com"}}]
    assert body["sort"] == [
        {"_score": {"order": "desc"}}, {"name.keyword": {"order": "asc"}}, {"domain": {"order": "asc"}}
    ]


def test_company_query_text_searches_the_name() -> None:
    must = build_company_query(SearchRequest(text="acme")).get("query")["bool"]["must"][0]
    assert must["bool"]["should"][0] == {
        "match_bool_prefix": {"name": {"query": "acme", "operator": "and", "fuzziness": "AUTO", "prefix_length": 1}}
    }


def test_company_query_refuses_prospect_filters() -> None:
    with pytest.raises(ValueError, match="department filter prospects"):
        build_company_query(SearchRequest(department="Sales"))


@pytest.mark.parametrize(
    ("request_", "target", "kind"),
    [
        (SearchRequest(), "company_prospect_view", "view"),
        (SearchRequest(text="acme"), "company_prospect_view", "view"),
        (SearchRequest(industry="Software", job_title_level="VP"), "company_prospect_view", "view"),
        (SearchRequest(domain="acme.com"), "companies", "companies"),
        (SearchRequest(industry="Software", min_employees=10), "companies", "companies"),
    ],
)
def test_company_only_criteria_search_companies(request_: SearchRequest, target: str, kind: str) -> None:
    assert search_target(request_) == target
    index, hit_kind, body = build_search(request_)
    assert (index, hit_kind) == (target, kind)
    assert body == (build_company_query(request_) if target == "companies" else build_view_query(request_))


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("acme.com", "acme.com"),
        ("ACME.COM", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("Ann@Mail.Acme.com", "acme.com"),  # an email: its host, reduced to the company domain the pipeline stores
        ("mailto:ann@acme.co.uk", "acme.co.uk"),
        ("Ann Smith <ann@eu.sales.acme.com>", "acme.com"),
        ("https://www.Acme.co.uk/about?x=1", "acme.co.uk"),
        ("http://user@acme.com:8080/", "acme.com"),
        ("acme.com/pricing", "acme.com"),
        ("acme.com.", "acme.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("localhost", "localhost"),  # no registrable domain: kept, finds nothing
    ],
)
def test_domain_input_reduces_to_the_company_domain(given: str, domain: str) -> None:
    assert normalize_domain_query(given) == domain


@pytest.mark.parametrize("given", ["@", "https://", "mailto:", "ann@"])
def test_domain_input_without_a_host_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="no domain"):
        normalize_domain_query(given)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size"),
        ({"size": MAX_SIZE + 1}, "size"),
        ({"min_employees": -1}, "min_employees"),
        ({"max_revenue": True}, "max_revenue"),
        ({"min_employees": 10, "max_employees": 5}, "greater than max_employees"),
        ({"min_revenue": 10, "max_revenue": 5}, "greater than max_revenue"),
        ({"domain": "@"}, "no domain"),
        ({"industry": 5}, "industry"),
    ],
)
def test_invalid_requests_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchRequest(**kwargs)


VIEW_HIT = {
    "_id": "p1",
    "_score": 3.5,
    "_source": {
        "prospect_id": "p1", "company_id": "c1", "salutation": "Dr.", "first_name": "Jane", "last_name": "Doe",
        "job_title": "VP Engineering", "job_title_level": "VP", "department": "Engineering",
        "email": "jane@acme.com", "company_name": "Acme Inc", "domain": "acme.com", "industry": "Software",
        "min_employee_size": 51, "max_employee_size": 200, "revenue": 12_000_000,
        "company_city": "Austin", "company_state": "TX", "company_country": "US",
    },
}


def test_view_hits_show_person_and_company() -> None:
    text = format_hits([VIEW_HIT], kind="view")
    assert text.startswith("1. Dr. Jane Doe  (score 3.50)")
    for fragment in (
        "VP Engineering (level VP, department Engineering)", "jane@acme.com", "Acme Inc (acme.com)", "Software",
        "51-200 employees", "12,000,000", "Austin, TX, US",
    ):
        assert fragment in text


def test_view_hit_of_a_company_without_prospects() -> None:
    hit = {"_id": "c2", "_source": {"company_id": "c2", "company_name": "Globex", "domain": "globex.com",
                                    "min_employee_size": 10_001}}
    text = format_hits([hit], kind="view")
    assert text.splitlines()[0] == "1. Globex (globex.com) (no prospects)"
    assert "10,001+ employees" in text
    assert "email" not in text


def test_company_hits_show_company_fields_and_blocks_are_numbered() -> None:
    hits = [
        {"_score": None, "_source": {"name": "Acme Inc", "domain": "acme.com", "industry": "Software",
                                     "maxEmployeeSize": 50, "revenue": 7, "city": "Austin", "country": "US"}},
        {"_source": {"domain": "initech.com"}},
    ]
    text = format_hits(hits, kind="companies")
    first, second = text.split("\n\n")
    assert first.splitlines()[0] == "1. Acme Inc (acme.com)"
    for fragment in ("Software", "up to 50 employees", "revenue:    7", "Austin, US"):
        assert fragment in first
    assert second == "2. (unnamed company) (initech.com)"


def test_control_characters_in_values_cannot_drive_the_terminal() -> None:
    hit = {"_source": {"prospect_id": "p1", "first_name": "Jane\x1b[31m", "last_name": "Doe\nInjected"}}
    text = format_hits([hit], kind="view")
    assert "\x1b" not in text and "Injected" in text.splitlines()[0]


def test_no_hits_and_unknown_kind() -> None:
    assert format_hits([], kind="view") == "No matches."
    with pytest.raises(ValueError, match="kind"):
        format_hits([VIEW_HIT], kind="prospects")
