"""Index definitions: strict mappings that mirror the Postgres columns, core features only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import restructure_pipeline
from restructure_pipeline.search_index.mappings import (
    COMPANIES,
    COMPANY_PROSPECT_VIEW,
    INDEX_DEFINITIONS,
    KEYWORD_IGNORE_ABOVE,
    LOWERCASE_NORMALIZER,
    PROSPECTS,
    SEARCH_TEXT_FIELD,
    SUBFIELD_IGNORE_ABOVE,
    IndexDefinition,
    definition_for,
    serving_settings,
)

MIGRATIONS = Path(restructure_pipeline.__file__).parent / "schema" / "migrations"
#: Field types the integ-test node supports (no analysis-common, no scaled_float, no search_as_you_type).
CORE_TYPES = {"keyword", "text", "integer", "long", "double", "date", "boolean"}
POSTGRES_TO_OPENSEARCH = {
    "TEXT": {"keyword", "text"}, "INTEGER": {"integer"}, "BIGINT": {"long"}, "TIMESTAMP(3)": {"date"}
}


def table_columns(table: str) -> dict[str, str]:
    """Column name -> Postgres type of a table in the Prisma migration."""
    sql = (MIGRATIONS / "0001_company_prospect.sql").read_text()
    body = re.search(rf'CREATE TABLE "{table}" \((.*?)\n\);', sql, re.DOTALL)
    assert body is not None
    return dict(re.findall(r'^\s+"(\w+)" ([A-Z0-9()]+)', body.group(1), re.MULTILINE))


def view_columns() -> list[str]:
    sql = (MIGRATIONS / "0003_company_prospect_view.sql").read_text()
    select = sql[sql.index("SELECT") : sql.index("FROM")]
    return re.findall(r"AS (\w+)", select)


def view_column_types() -> dict[str, str]:
    """The view's columns with the type of the table column each one reads."""
    sql = (MIGRATIONS / "0003_company_prospect_view.sql").read_text()
    tables = {"c": table_columns("Company"), "p": table_columns("Prospect")}
    return {alias: tables[source][column] for source, column, alias in re.findall(r'(\w)\."(\w+)"\s+AS (\w+)', sql)}


def properties(definition: IndexDefinition) -> dict[str, dict]:
    return definition.mappings["properties"]


@pytest.mark.parametrize("definition", INDEX_DEFINITIONS, ids=lambda d: d.logical_name)
def test_mappings_are_strict(definition: IndexDefinition) -> None:
    assert definition.mappings["dynamic"] == "strict"
    assert all("properties" not in spec for spec in properties(definition).values()), "no nested objects"


def test_definitions_in_order_and_found_by_name() -> None:
    assert [d.logical_name for d in INDEX_DEFINITIONS] == ["companies", "prospects", "company_prospect_view"]
    assert INDEX_DEFINITIONS == (COMPANIES, PROSPECTS, COMPANY_PROSPECT_VIEW)
    assert definition_for("prospects") is PROSPECTS
    with pytest.raises(KeyError, match="known: companies, prospects, company_prospect_view"):
        definition_for("customers")


@pytest.mark.parametrize(("definition", "table"), [(COMPANIES, "Company"), (PROSPECTS, "Prospect")])
def test_table_documents_carry_exactly_the_table_columns(definition: IndexDefinition, table: str) -> None:
    assert list(definition.source_fields) == list(table_columns(table))


def test_view_documents_carry_exactly_the_view_columns() -> None:
    assert list(COMPANY_PROSPECT_VIEW.source_fields) == view_columns()


@pytest.mark.parametrize(
    ("definition", "columns"),
    [(COMPANIES, lambda: table_columns("Company")), (PROSPECTS, lambda: table_columns("Prospect")),
     (COMPANY_PROSPECT_VIEW, view_column_types)],
    ids=["companies", "prospects", "company_prospect_view"],
)
def test_field_types_fit_postgres_types(definition: IndexDefinition, columns) -> None:
    for column, pg_type in columns().items():
        assert definition.field_type(column) in POSTGRES_TO_OPENSEARCH[pg_type], column


@pytest.mark.parametrize("definition", INDEX_DEFINITIONS, ids=lambda d: d.logical_name)
def test_only_core_types_and_the_lowercase_normalizer(definition: IndexDefinition) -> None:
    def walk(specs: dict) -> None:
        for spec in specs.values():
            assert spec["type"] in CORE_TYPES
            assert "analyzer" not in spec and "search_analyzer" not in spec  # standard analyzer only
            assert spec.get("normalizer", LOWERCASE_NORMALIZER) == LOWERCASE_NORMALIZER
            walk(spec.get("fields", {}))

    walk(properties(definition))
    assert definition.analysis == {"normalizer": {LOWERCASE_NORMALIZER: {"type": "custom", "filter": ["lowercase"]}}}


@pytest.mark.parametrize("definition", INDEX_DEFINITIONS, ids=lambda d: d.logical_name)
def test_field_types_follow_the_spec(definition: IndexDefinition) -> None:
    texts = {
        "name", "company_name", "firstName", "lastName", "first_name", "last_name", "jobTitle", "job_title",
        "department", "industry", "address", "city", "state", "company_address", "company_city", "company_state",
        "prospect_address", "prospect_city", "prospect_state",
    }
    integers = {"minEmployeeSize", "maxEmployeeSize", "min_employee_size", "max_employee_size"}
    dates = {"createdAt", "updatedAt", "created_at", "updated_at"}
    for name in definition.source_fields:
        spec = properties(definition)[name]
        if name in texts:
            assert spec["type"] == "text", name
            assert spec["fields"] == {"keyword": {"type": "keyword", "ignore_above": SUBFIELD_IGNORE_ABOVE}}, name
        elif name in integers:
            assert spec == {"type": "integer"}, name
        elif name == "revenue":
            assert spec == {"type": "long"}
        elif name in dates:
            assert spec == {"type": "date"}, name  # the default strict_date_optional_time||epoch_millis
        else:
            assert spec["type"] == "keyword", name
            assert spec["ignore_above"] == KEYWORD_IGNORE_ABOVE, name


@pytest.mark.parametrize("definition", INDEX_DEFINITIONS, ids=lambda d: d.logical_name)
def test_email_and_domain_match_without_case_other_keywords_keep_it(definition: IndexDefinition) -> None:
    normalized = {name for name, spec in properties(definition).items() if "normalizer" in spec}
    assert normalized == {"email", "domain"} & set(definition.source_fields)


def test_keyword_ignore_above_keeps_every_term_under_lucenes_byte_limit() -> None:
    assert KEYWORD_IGNORE_ABOVE * 4 <= 32766


def test_view_free_text_field_is_filled_only_by_copy_to() -> None:
    view = properties(COMPANY_PROSPECT_VIEW)
    assert view[SEARCH_TEXT_FIELD] == {"type": "text"}
    assert SEARCH_TEXT_FIELD not in COMPANY_PROSPECT_VIEW.source_fields
    copied = {name for name, spec in view.items() if spec.get("copy_to") == [SEARCH_TEXT_FIELD]}
    assert copied == {"first_name", "last_name", "job_title", "company_name"}


def test_document_id_fields() -> None:
    assert (COMPANIES.id_field, COMPANIES.fallback_id_field) == ("id", None)
    assert (PROSPECTS.id_field, PROSPECTS.fallback_id_field) == ("id", None)
    assert (COMPANY_PROSPECT_VIEW.id_field, COMPANY_PROSPECT_VIEW.fallback_id_field) == ("prospect_id", "company_id")


def test_create_body_for_bulk_loading() -> None:
    body = COMPANIES.create_body()
    assert body["settings"] == {
        "index": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "-1",
            "analysis": COMPANIES.analysis,
        }
    }
    assert body["mappings"] == COMPANIES.mappings


def test_create_body_is_a_copy() -> None:
    body = PROSPECTS.create_body(shards=3, replicas=1, refresh_interval="30s")
    assert body["settings"]["index"]["number_of_shards"] == 3
    assert body["settings"]["index"]["number_of_replicas"] == 1
    assert body["settings"]["index"]["refresh_interval"] == "30s"
    body["mappings"]["properties"]["id"]["type"] = "text"
    body["settings"]["index"]["analysis"]["normalizer"].clear()
    assert PROSPECTS.field_type("id") == "keyword"
    assert PROSPECTS.analysis["normalizer"]


@pytest.mark.parametrize(
    ("given", "sent"), [(-1, "-1"), (0, "0s"), (5, "5s"), ("1s", "1s"), ("500ms", "500ms"), ("-1", "-1")]
)
def test_refresh_interval_values(given: str | int, sent: str) -> None:
    assert COMPANIES.create_body(refresh_interval=given)["settings"]["index"]["refresh_interval"] == sent


@pytest.mark.parametrize(
    "kwargs",
    [{"shards": 0}, {"shards": True}, {"replicas": -1}, {"replicas": 1.5}, {"refresh_interval": "5"},
     {"refresh_interval": "1 s"}, {"refresh_interval": -2}, {"refresh_interval": "fast"}],
)
def test_create_body_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        COMPANIES.create_body(**kwargs)


def test_serving_settings_restore_replicas_and_refresh() -> None:
    assert serving_settings(replicas=1) == {"index": {"number_of_replicas": 1, "refresh_interval": "1s"}}
    assert serving_settings(replicas=0, refresh_interval=30) == {
        "index": {"number_of_replicas": 0, "refresh_interval": "30s"}
    }


def test_meta_names_the_definition_and_fingerprints_it() -> None:
    fingerprints = set()
    for definition in INDEX_DEFINITIONS:
        meta = definition.mappings["_meta"]
        assert meta["logical_name"] == definition.logical_name
        assert re.fullmatch(r"[0-9a-f]{16}", definition.fingerprint)
        fingerprints.add(definition.fingerprint)
    assert len(fingerprints) == len(INDEX_DEFINITIONS)
