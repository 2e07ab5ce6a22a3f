"""Search request bodies for ``restructure-pipeline search`` and a terminal rendering of hits.

Which alias: :func:`build_search` picks ``company_prospect_view`` (people with their
company) unless the request only has company criteria (industry, location, size,
revenue, domain, no text), then ``companies``: one hit per company instead of one per
person.

Free text (``text``) over first name, last name, job title and company name:

- Every word must match somewhere among those fields (the view's ``search_text``
  field, filled by ``copy_to``): "jane acme" finds Jane at Acme.
- Prefix tolerant: the last word may be unfinished ("jane smi"); typo tolerant:
  fuzziness ``AUTO`` (no edit up to 2 letters, 1 up to 5, 2 beyond), the first letter
  must be right (``prefix_length: 1``) to keep fuzzy expansion cheap. A typo in the
  last word is tolerated when the word is complete ("jane smiht").
- Scoring boosts names: first and last name x3, company name x2, job title x1.
- Accents are NOT folded (the node has no asciifolding): "jose" does not equal
  "josé" exactly; fuzziness still finds it for words of 3+ letters (one edit).

Filters (no effect on the score):

- ``industry``, ``department``, ``city``, ``state``: the whole value, ignoring case
  (``term`` with ``case_insensitive`` on the ``.keyword`` subfield): "software" finds
  "Software", not "Computer Software". ``country`` and ``job_title_level`` the same on
  their keyword fields.
- Location on the view: the prospect's location **or** the company's, each group
  (country/state/city) taken from one of them, never mixed.
- Employees: the company's size range ``[min_employee_size, max_employee_size]``
  **overlaps** ``[min_employees, max_employees]``. A missing upper bound is open
  ("10,001+"), a missing lower bound too; a company with no size at all never matches
  a size filter.
- Revenue: ``min_revenue <= revenue <= max_revenue`` (companies without revenue never match).
- Domain: :func:`normalize_domain_query` reduces an email, URL or host to the company
  domain the pipeline would have stored, then an exact ``term``.

Blank strings count as not given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from restructure_pipeline.identity.domains import ascii_host, registrable_domain

VIEW = "company_prospect_view"
COMPANIES = "companies"
HIT_KINDS = ("view", "companies")
#: OpenSearch's default ``index.max_result_window``.
MAX_SIZE = 10_000

#: Scored fields of the view's free text, with their boosts.
VIEW_TEXT_FIELDS = ("first_name^3", "last_name^3", "company_name^2", "job_title")
VIEW_TEXT_ALL_FIELDS = "search_text"
FUZZINESS = "AUTO"
FUZZY_PREFIX_LENGTH = 1

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class _Fields:
    """Field names of one index for the filters (the view is snake_case, companies camelCase)."""

    industry: str
    min_size: str
    max_size: str
    revenue: str
    domain: str
    company_location: tuple[str, str, str]  # country, state, city
    prospect_location: tuple[str, str, str] | None = None
    department: str | None = None
    job_title_level: str | None = None


_VIEW_FIELDS = _Fields(
    industry="industry.keyword",
    min_size="min_employee_size",
    max_size="max_employee_size",
    revenue="revenue",
    domain="domain",
    company_location=("company_country", "company_state.keyword", "company_city.keyword"),
    prospect_location=("prospect_country", "prospect_state.keyword", "prospect_city.keyword"),
    department="department.keyword",
    job_title_level="job_title_level",
)

_COMPANY_FIELDS = _Fields(
    industry="industry.keyword",
    min_size="minEmployeeSize",
    max_size="maxEmployeeSize",
    revenue="revenue",
    domain="domain",
    company_location=("country", "state.keyword", "city.keyword"),
)


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; every criterion is optional, all given ones must hold."""

    text: str | None = None
    industry: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    job_title_level: str | None = None
    department: str | None = None
    min_employees: int | None = None
    max_employees: int | None = None
    min_revenue: int | None = None
    max_revenue: int | None = None
    domain: str | None = None
    size: int = 10

    def __post_init__(self) -> None:
        for name in ("text", "industry", "country", "state", "city", "job_title_level", "department", "domain"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, got {value!r}")
        for name in ("min_employees", "max_employees", "min_revenue", "max_revenue"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for low, high in (("min_employees", "max_employees"), ("min_revenue", "max_revenue")):
            low_value, high_value = getattr(self, low), getattr(self, high)
            if low_value is not None and high_value is not None and low_value > high_value:
                raise ValueError(f"{low} ({low_value}) is greater than {high} ({high_value})")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= MAX_SIZE:
            raise ValueError(f"size must be an integer from 1 to {MAX_SIZE}, got {self.size!r}")
        if _given(self.domain):
            normalize_domain_query(self.domain)  # fail early on a value with no host

    @property
    def has_prospect_criteria(self) -> bool:
        """Criteria only people have: free text (names, titles), job title level, department."""
        return any(_given(value) for value in (self.text, self.job_title_level, self.department))


def _given(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def normalize_domain_query(value: str) -> str:
    """The company domain to look up for an email, URL or host, lowercased.

    ``Ann@Mail.Acme.com`` -> ``acme.com``; ``https://www.Acme.co.uk/about`` ->
    ``acme.co.uk``; ``bücher.de`` -> ``xn--bcher-kva.de``. The host is reduced to its
    registrable domain with the pipeline's own rule
    (:func:`restructure_pipeline.identity.domains.registrable_domain`, offline Public
    Suffix List), because that is what a company's ``domain`` holds. A host with no
    registrable domain (``localhost``, an IP) is kept as is and simply finds nothing.
    """
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:"):]
    if _SCHEME.match(text):
        text = re.split(r"[/?#]", _SCHEME.sub("", text), maxsplit=1)[0].rsplit("@", 1)[-1]  # drop path, user info
    else:
        text = re.split(r"[/?#]", text.rsplit("@", 1)[-1], maxsplit=1)[0]  # an email's host, or a bare host/path
    if not text.startswith("["):
        text = re.sub(r":[0-9]*$", "", text)
    text = text.strip().strip("<>").rstrip(".").lower()
    if not text:
        raise ValueError(f"no domain in {value!r}: give a domain (acme.com), an email or a URL")
    return registrable_domain(text) or ascii_host(text) or text


def _term(field: str, value: str, *, case_insensitive: bool = True) -> dict:
    body: dict = {"value": value}
    if case_insensitive:
        body["case_insensitive"] = True
    return {"term": {field: body}}


def _text_query(text: str, *, all_field: str, scored_fields: tuple[str, ...] = ()) -> tuple[dict, list[dict]]:
    """(the clause every hit must match, the clauses that rank it)."""
    fuzzy = {"operator": "and", "fuzziness": FUZZINESS, "prefix_length": FUZZY_PREFIX_LENGTH}
    # Every word in the text: all complete words fuzzily, or all but the last fuzzily and the last as a prefix.
    required = {
        "bool": {
            "should": [
                {"match_bool_prefix": {all_field: {"query": text, **fuzzy}}},
                {"match": {all_field: {"query": text, **fuzzy}}},
            ],
            "minimum_should_match": 1,
        }
    }
    ranking = []
    if scored_fields:
        ranking.append(
            {
                "multi_match": {
                    "query": text,
                    "type": "bool_prefix",
                    "fields": list(scored_fields),
                    "fuzziness": FUZZINESS,
                    "prefix_length": FUZZY_PREFIX_LENGTH,
                }
            }
        )
    return required, ranking


def _location_group(request: SearchRequest, location: tuple[str, str, str]) -> list[dict]:
    values = (_given(request.country), _given(request.state), _given(request.city))
    return [_term(field, value) for field, value in zip(location, values, strict=True) if value is not None]


def _filters(request: SearchRequest, names: _Fields) -> list[dict]:
    filters: list[dict] = []
    if (industry := _given(request.industry)) is not None:
        filters.append(_term(names.industry, industry))
    if names.job_title_level and (level := _given(request.job_title_level)) is not None:
        filters.append(_term(names.job_title_level, level))
    if names.department and (department := _given(request.department)) is not None:
        filters.append(_term(names.department, department))
    company_location = _location_group(request, names.company_location)
    if company_location and names.prospect_location is None:
        filters.extend(company_location)
    elif company_location:
        prospect_location = _location_group(request, names.prospect_location)
        filters.append(
            {
                "bool": {
                    "should": [{"bool": {"filter": prospect_location}}, {"bool": {"filter": company_location}}],
                    "minimum_should_match": 1,
                }
            }
        )
    filters.extend(_employee_filters(request, names))
    revenue = {
        bound: value
        for bound, value in (("gte", request.min_revenue), ("lte", request.max_revenue))
        if value is not None
    }
    if revenue:
        filters.append({"range": {names.revenue: revenue}})
    if (domain := _given(request.domain)) is not None:
        filters.append({"term": {names.domain: normalize_domain_query(domain)}})
    return filters


def _only(present: str, absent: str) -> dict:
    return {"bool": {"filter": [{"exists": {"field": present}}], "must_not": [{"exists": {"field": absent}}]}}


def _employee_filters(request: SearchRequest, names: _Fields) -> list[dict]:
    """Overlap of the company's size range with the requested one; a missing bound is open."""
    filters = []
    if request.min_employees is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {names.max_size: {"gte": request.min_employees}}},
                        _only(names.min_size, names.max_size),
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if request.max_employees is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"range": {names.min_size: {"lte": request.max_employees}}},
                        _only(names.max_size, names.min_size),
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return filters


def _body(must: dict | None, ranking: list[dict], filters: list[dict], sort: list, size: int) -> dict:
    query: dict = {"must": [must if must is not None else {"match_all": {}}]}
    if ranking:
        query["should"] = ranking
    if filters:
        query["filter"] = filters
    return {"query": {"bool": query}, "sort": sort, "size": size, "track_total_hits": True}


def build_view_query(request: SearchRequest) -> dict:
    """Body for searching the ``company_prospect_view`` alias: one hit per prospect (or prospect-less company)."""
    must, ranking = None, []
    if (text := _given(request.text)) is not None:
        must, ranking = _text_query(text, all_field=VIEW_TEXT_ALL_FIELDS, scored_fields=VIEW_TEXT_FIELDS)
    sort = [
        {"_score": {"order": "desc"}},
        {"company_name.keyword": {"order": "asc"}},
        {"last_name.keyword": {"order": "asc"}},
        {"first_name.keyword": {"order": "asc"}},
        {"company_id": {"order": "asc"}},
        {"prospect_id": {"order": "asc"}},
    ]
    return _body(must, ranking, _filters(request, _VIEW_FIELDS), sort, request.size)


def build_company_query(request: SearchRequest) -> dict:
    """Body for searching the ``companies`` alias; ``text`` matches the company name only.

    Raises ValueError for prospect-only filters (job title level, department).
    """
    person_filters = [
        name for name in ("job_title_level", "department") if _given(getattr(request, name)) is not None
    ]
    if person_filters:
        raise ValueError(f"{', '.join(person_filters)} filter prospects: search {VIEW} instead of {COMPANIES}")
    must = None
    if (text := _given(request.text)) is not None:
        must, _ = _text_query(text, all_field="name")
    sort = [{"_score": {"order": "desc"}}, {"name.keyword": {"order": "asc"}}, {"domain": {"order": "asc"}}]
    return _body(must, [], _filters(request, _COMPANY_FIELDS), sort, request.size)


def search_target(request: SearchRequest) -> str:
    """The logical index to search: ``companies`` for company-only criteria, else the view."""
    company_criteria = any(
        value is not None
        for value in (
            _given(request.industry), _given(request.country), _given(request.state), _given(request.city),
            request.min_employees, request.max_employees, request.min_revenue, request.max_revenue,
            _given(request.domain),
        )
    )
    return COMPANIES if company_criteria and not request.has_prospect_criteria else VIEW


def build_search(request: SearchRequest) -> tuple[str, str, dict]:
    """``(logical index name, hit kind for format_hits, body)`` for a request."""
    if search_target(request) == COMPANIES:
        return COMPANIES, "companies", build_company_query(request)
    return VIEW, "view", build_view_query(request)


# ---------------------------------------------------------------- terminal output

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def _clean(value: object) -> str | None:
    """Printable one-line text (control characters such as ANSI escapes become spaces), or None."""
    if value is None:
        return None
    text = _CONTROL.sub(" ", str(value)).strip()
    return text or None


def _join(*values: object, separator: str = ", ") -> str | None:
    parts = [text for value in values if (text := _clean(value)) is not None]
    return separator.join(parts) or None


def _size_range(low: object, high: object) -> str | None:
    if low is not None and high is not None:
        return f"{_number(low)}-{_number(high)} employees"
    if low is not None:
        return f"{_number(low)}+ employees"
    if high is not None:
        return f"up to {_number(high)} employees"
    return None


def _number(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:,}"
    return _clean(value) or ""


def _block(number: int, heading: str, score: object, lines: list[tuple[str, str | None]]) -> str:
    score_text = f"  (score {score:.2f})" if isinstance(score, int | float) and not isinstance(score, bool) else ""
    out = [f"{number}. {heading}{score_text}"]
    out.extend(f"   {label + ':':<12}{value}" for label, value in lines if value is not None)
    return "\n".join(out)


def _view_block(number: int, hit: Mapping) -> str:
    source = hit.get("_source") or {}
    get = source.get
    person = _join(get("salutation"), get("first_name"), get("last_name"), separator=" ")
    company = _join(get("company_name"), get("domain") and f"({get('domain')})", separator=" ")
    if get("prospect_id") is None:
        heading = f"{company or '(unnamed company)'} (no prospects)"
    else:
        heading = person or "(no name)"
    role = _join(
        get("job_title_level") and f"level {get('job_title_level')}",
        get("department") and f"department {get('department')}",
    )
    lines = [
        ("title", _join(get("job_title"), role and f"({role})", separator=" ")),
        ("email", _clean(get("email"))),
        ("lives in", _join(get("prospect_city"), get("prospect_state"), get("prospect_country"))),
        ("company", company if get("prospect_id") is not None else None),
        ("industry", _clean(get("industry"))),
        ("size", _size_range(get("min_employee_size"), get("max_employee_size"))),
        ("revenue", _number(get("revenue")) if get("revenue") is not None else None),
        ("location", _join(get("company_city"), get("company_state"), get("company_country"))),
    ]
    return _block(number, heading, hit.get("_score"), lines)


def _company_block(number: int, hit: Mapping) -> str:
    source = hit.get("_source") or {}
    get = source.get
    heading = _join(get("name") or "(unnamed company)", get("domain") and f"({get('domain')})", separator=" ")
    lines = [
        ("industry", _clean(get("industry"))),
        ("size", _size_range(get("minEmployeeSize"), get("maxEmployeeSize"))),
        ("revenue", _number(get("revenue")) if get("revenue") is not None else None),
        ("location", _join(get("city"), get("state"), get("country"))),
        ("phone", _clean(get("phone"))),
    ]
    return _block(number, heading or "(unnamed company)", hit.get("_score"), lines)


def format_hits(hits: list[dict], *, kind: str) -> str:
    """Readable text for a terminal: one numbered block per hit, blank lines between blocks.

    ``kind`` is ``"view"`` (person, title, level, department, email, then the company) or
    ``"companies"``. Missing fields are left out; control characters in values are
    replaced by spaces so data cannot drive the terminal.
    """
    if kind not in HIT_KINDS:
        raise ValueError(f"kind must be one of {HIT_KINDS}, got {kind!r}")
    if not hits:
        return "No matches."
    render = _view_block if kind == "view" else _company_block
    return "\n\n".join(render(number, hit) for number, hit in enumerate(hits, start=1))

