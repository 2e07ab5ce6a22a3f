"""The three OpenSearch index definitions: strict mappings, analysis settings, create bodies.

Field names are exactly the Postgres column names (camelCase for ``"Company"`` and
``"Prospect"``, snake_case for ``company_prospect_view``), so a document is its row.

Types, field by field (only core features: the integ-test node has no analysis-common
module, so no ngram tokenizers, no asciifolding, no language analyzers, no
``search_as_you_type``, no ``scaled_float``):

- ``keyword``: ids, external ids and sources, links, phones, zip codes, country,
  salutation, job title level. Case kept as written, so aggregations show the data's
  own values; filters on them use ``term`` with ``case_insensitive``.
- ``keyword`` with the ``lowercase_keyword`` normalizer: ``domain`` and ``email``,
  identity values compared without case (the query term is normalized too).
- ``text`` (standard analyzer: Unicode word split + lowercase, accents NOT folded) with a
  ``keyword`` subfield (``ignore_above: 256``, for exact filters, sorting and
  aggregations): person names, company name, job title, department, industry,
  address, city, state.
- ``integer``: employee sizes (Postgres ``INTEGER``); ``long``: revenue (``BIGINT``).
- ``date``: the ``TIMESTAMP(3)`` columns, sent as ISO-8601 UTC strings with
  milliseconds and ``Z`` by :mod:`restructure_pipeline.search_index.documents`. The
  format is OpenSearch's default, :data:`DATE_FORMAT`, left implicit: the node leaves a
  default out of the mapping it returns, so declaring it would make the declared mapping
  differ from the live one.

Every plain keyword field has ``ignore_above: 8191``: Lucene refuses a term longer than
32,766 bytes, which would fail the whole bulk item; 8,191 characters of UTF-8 always
fit. A longer value stays in ``_source`` and is just not searchable.

The view also has ``search_text``, filled only by ``copy_to`` from first name, last name,
job title and company name (never in ``_source``): the free-text search requires every
word to match *somewhere* among those fields, which a multi-field query with
``operator: and`` cannot do (it requires all words in one field).

Each mapping carries ``_meta`` with the logical name and a fingerprint of the mapping and
analysis, so a live index built from an older definition can be recognized.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field

LOWERCASE_NORMALIZER = "lowercase_keyword"
#: The date format of every ``date`` field: OpenSearch's default, so not written in the mapping.
DATE_FORMAT = "strict_date_optional_time||epoch_millis"
SEARCH_TEXT_FIELD = "search_text"
#: Longest keyword value indexed (characters): 4 bytes each at most stays under Lucene's 32,766-byte term limit.
KEYWORD_IGNORE_ABOVE = 8191
#: Longest value indexed in a text field's ``keyword`` subfield.
SUBFIELD_IGNORE_ABOVE = 256

_TIME_VALUE = re.compile(r"[0-9]+(?:nanos|micros|ms|s|m|h|d)")

ANALYSIS: dict = {"normalizer": {LOWERCASE_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}}


def _keyword(*, lowercase: bool = False) -> dict:
    spec: dict = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    if lowercase:
        spec["normalizer"] = LOWERCASE_NORMALIZER
    return spec


def _text(*, searchable: bool = False) -> dict:
    spec: dict = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": SUBFIELD_IGNORE_ABOVE}}}
    if searchable:
        # A list, as OpenSearch returns it: the declared mapping then equals the live one.
        spec["copy_to"] = [SEARCH_TEXT_FIELD]
    return spec


def _integer() -> dict:
    return {"type": "integer"}


def _long() -> dict:
    return {"type": "long"}


def _date() -> dict:
    return {"type": "date"}  # format: DATE_FORMAT, the default


def _fingerprint(properties: dict, analysis: dict) -> str:
    canonical = json.dumps({"properties": properties, "analysis": analysis}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class IndexDefinition:
    """One logical index: its strict mapping, analysis settings and document id rule.

    The document id is ``row[id_field]``; when that is None and ``fallback_id_field`` is
    set, ``row[fallback_id_field]`` (the view: a company without prospects has one row
    with a null ``prospect_id``).
    """

    logical_name: str
    id_field: str
    mappings: dict
    analysis: dict
    fallback_id_field: str | None = None
    source_fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        properties = self.mappings["properties"]
        copied = {target for spec in properties.values() for target in spec.get("copy_to", ())}
        # Frozen: set the derived field the way dataclasses themselves do.
        object.__setattr__(self, "source_fields", tuple(name for name in properties if name not in copied))

    @property
    def fingerprint(self) -> str:
        """Short hash of the properties and analysis settings (also stored in the mapping's ``_meta``)."""
        return self.mappings["_meta"]["fingerprint"]

    def field_type(self, name: str) -> str:
        """The mapped type of a top-level field (``keyword``, ``text``, ``integer``, ``long``, ``date``)."""
        return self.mappings["properties"][name]["type"]

    def create_body(self, *, shards: int = 1, replicas: int = 0, refresh_interval: str | int = "-1") -> dict:
        """Body for ``indices.create``; the defaults are for bulk loading (no replicas, refresh off)."""
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            raise ValueError(f"shards must be an integer >= 1, got {shards!r}")
        index: dict = {
            "number_of_shards": shards,
            "number_of_replicas": _replicas(replicas),
            "refresh_interval": _refresh_interval(refresh_interval),
        }
        if self.analysis:
            index["analysis"] = copy.deepcopy(self.analysis)
        return {"settings": {"index": index}, "mappings": copy.deepcopy(self.mappings)}


def serving_settings(*, replicas: int, refresh_interval: str | int = "1s") -> dict:
    """Body for ``indices.put_settings`` once a version is loaded, new or a clone being updated
    (nobody reads it while it loads with refresh off and no replicas): replicas back, refresh on."""
    index = {"number_of_replicas": _replicas(replicas), "refresh_interval": _refresh_interval(refresh_interval)}
    return {"index": index}


def _replicas(replicas: int) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise ValueError(f"replicas must be an integer >= 0, got {replicas!r}")
    return replicas


def _refresh_interval(value: str | int) -> str:
    """OpenSearch time value: ``"-1"`` (off) or e.g. ``"1s"``, ``"500ms"``; an int is seconds (-1 = off)."""
    if isinstance(value, bool):
        raise ValueError(f"refresh_interval must be a time value like '1s' or '-1', got {value!r}")
    if isinstance(value, int):
        if value < -1:
            raise ValueError(f"refresh_interval must be -1 (off) or >= 0 seconds, got {value}")
        return "-1" if value == -1 else f"{value}s"
    text = str(value).strip()
    if text in {"-1", "0"} or _TIME_VALUE.fullmatch(text):
        return text
    raise ValueError(f"refresh_interval must be a time value like '1s', '500ms' or '-1', got {value!r}")


def _definition(
    logical_name: str, id_field: str, properties: dict, *, fallback_id_field: str | None = None
) -> IndexDefinition:
    mappings = {
        "dynamic": "strict",
        "_meta": {"logical_name": logical_name, "fingerprint": _fingerprint(properties, ANALYSIS)},
        "properties": properties,
    }
    return IndexDefinition(
        logical_name=logical_name,
        id_field=id_field,
        mappings=mappings,
        analysis=ANALYSIS,
        fallback_id_field=fallback_id_field,
    )


COMPANIES = _definition(
    "companies",
    "id",
    {
        "id": _keyword(),
        "domain": _keyword(lowercase=True),
        "name": _text(),
        "industry": _text(),
        "minEmployeeSize": _integer(),
        "maxEmployeeSize": _integer(),
        "employeeSizeLink": _keyword(),
        "revenue": _long(),
        "address": _text(),
        "city": _text(),
        "state": _text(),
        "country": _keyword(),
        "zipCode": _keyword(),
        "phone": _keyword(),
        "mobilePhone": _keyword(),
        "externalSource": _keyword(),
        "externalId": _keyword(),
        "createdAt": _date(),
        "updatedAt": _date(),
    },
)

PROSPECTS = _definition(
    "prospects",
    "id",
    {
        "id": _keyword(),
        "salutation": _keyword(),
        "firstName": _text(),
        "lastName": _text(),
        "email": _keyword(lowercase=True),
        "jobTitle": _text(),
        "jobTitleLevel": _keyword(),
        "department": _text(),
        "jobTitleLink": _keyword(),
        "address": _text(),
        "city": _text(),
        "state": _text(),
        "country": _keyword(),
        "zipCode": _keyword(),
        "phone": _keyword(),
        "mobilePhone": _keyword(),
        "companyId": _keyword(),
        "externalSource": _keyword(),
        "externalId": _keyword(),
        "createdAt": _date(),
        "updatedAt": _date(),
    },
)

COMPANY_PROSPECT_VIEW = _definition(
    "company_prospect_view",
    "prospect_id",
    {
        "company_id": _keyword(),
        "domain": _keyword(lowercase=True),
        "company_name": _text(searchable=True),
        "industry": _text(),
        "min_employee_size": _integer(),
        "max_employee_size": _integer(),
        "revenue": _long(),
        "company_address": _text(),
        "company_city": _text(),
        "company_state": _text(),
        "company_country": _keyword(),
        "company_zip_code": _keyword(),
        "company_phone": _keyword(),
        "company_mobile_phone": _keyword(),
        "prospect_id": _keyword(),
        "salutation": _keyword(),
        "first_name": _text(searchable=True),
        "last_name": _text(searchable=True),
        "email": _keyword(lowercase=True),
        "job_title": _text(searchable=True),
        "job_title_level": _keyword(),
        "department": _text(),
        "job_title_link": _keyword(),
        "prospect_address": _text(),
        "prospect_city": _text(),
        "prospect_state": _text(),
        "prospect_country": _keyword(),
        "prospect_zip_code": _keyword(),
        "prospect_phone": _keyword(),
        "prospect_mobile_phone": _keyword(),
        "created_at": _date(),
        "updated_at": _date(),
        SEARCH_TEXT_FIELD: {"type": "text"},
    },
    fallback_id_field="company_id",
)

INDEX_DEFINITIONS: tuple[IndexDefinition, ...] = (COMPANIES, PROSPECTS, COMPANY_PROSPECT_VIEW)


def definition_for(logical_name: str) -> IndexDefinition:
    """The definition of ``companies``, ``prospects`` or ``company_prospect_view``."""
    for definition in INDEX_DEFINITIONS:
        if definition.logical_name == logical_name:
            return definition
    known = ", ".join(definition.logical_name for definition in INDEX_DEFINITIONS)
    raise KeyError(f"no index definition named {logical_name!r} (known: {known})")
