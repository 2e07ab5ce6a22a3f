"""The three OpenSearch aliases on a real node: rebuilds, zero-downtime swaps, incremental drops."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from opensearchpy.exceptions import RequestError
from opensearchpy.helpers import scan
from psycopg.rows import dict_row

from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.sample_data import create_legacy_table, generate_customers, load_customers
from restructure_pipeline.search_index.documents import to_document
from restructure_pipeline.search_index.indices import live_indices
from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS, IndexDefinition
from restructure_pipeline.search_index.naming import alias_name, versions_of
from restructure_pipeline.store.search_sync import SOURCE_RELATIONS
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy, write_csv


def _indexed(opensearch: OpenSearchResource, definition: IndexDefinition) -> dict[str, dict]:
    alias = alias_name(definition.logical_name, opensearch.index_prefix)
    return {hit["_id"]: hit["_source"] for hit in scan(opensearch.client(), index=alias, query={"query": {"match_all": {}}})}


def _expected(conn: psycopg.Connection, definition: IndexDefinition) -> dict[str, dict]:
    from psycopg import sql

    with conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute(sql.SQL("SELECT * FROM {}").format(SOURCE_RELATIONS[definition.logical_name])).fetchall()
    return dict(to_document(definition, row) for row in rows)


def _assert_indices_equal_postgres(conn: psycopg.Connection, opensearch: OpenSearchResource) -> None:
    for definition in INDEX_DEFINITIONS:
        expected = _expected(conn, definition)
        assert expected, f"no rows for {definition.logical_name}"
        assert _indexed(opensearch, definition) == expected, definition.logical_name


def test_full_refresh_builds_three_aliases_equal_to_postgres(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource
) -> None:
    create_legacy_table(conn)
    load_customers(conn, generate_customers(1200, seed=3))

    result = pipeline.full_refresh()

    _assert_indices_equal_postgres(conn, opensearch)
    for definition in INDEX_DEFINITIONS:
        alias = alias_name(definition.logical_name, opensearch.index_prefix)
        assert len(live_indices(opensearch.client(), alias)) == 1
        materialization = result.asset_materializations_for_node(f"opensearch_{definition.logical_name}")[0]
        assert materialization.metadata["mode"].value == "rebuild"
    checks = result.get_asset_check_evaluations()
    assert len([check for check in checks if check.asset_key.path[0].startswith("opensearch_")]) == 12
    assert all(check.passed for check in checks)


def test_rebuild_swaps_alias_without_readers_ever_seeing_a_gap(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource
) -> None:
    create_legacy_table(conn)
    load_customers(conn, generate_customers(1500, seed=5))
    pipeline.full_refresh()
    alias = alias_name("prospects", opensearch.index_prefix)
    client = opensearch.client()
    expected = client.count(index=alias)["count"]
    first = live_indices(client, alias)
    stop = threading.Event()
    counts: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        reading = opensearch.client()
        while not stop.is_set():
            try:
                counts.append(reading.search(index=alias, body={"size": 0, "track_total_hits": True})["hits"]["total"]["value"])
            except BaseException as error:  # any error is a gap a reader would have seen
                errors.append(error)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        pipeline.full_refresh()
        second = live_indices(client, alias)
        pipeline.full_refresh()
    finally:
        stop.set()
        thread.join(30)
    third = live_indices(client, alias)

    assert errors == []
    assert len(counts) > 10 and set(counts) == {expected}
    assert len({*first, *second, *third}) == 3
    # One previous version is kept for rollback; the oldest one is gone.
    versions = versions_of(alias, client.indices.get(index=f"{alias}-*").keys())
    assert versions == [*second, *third]


def test_incremental_drop_adds_changes_and_removes_prospects(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    load_legacy(
        conn,
        [
            customer("c1", "ann@acme.com", "Acme", jobTitle="Engineer", minutes=1),
            customer("c2", "bob@acme.com", "Acme", jobTitle="Manager", minutes=2),
            customer("c3", "cid@old-co.com", "Old Co", jobTitle="Buyer", minutes=3),
            customer("c4", "dee@globex.com", "Globex", jobTitle="Analyst", minutes=4),
        ],
    )
    pipeline.full_refresh()
    live_before = {
        definition.logical_name: live_indices(opensearch.client(), alias_name(definition.logical_name, opensearch.index_prefix))
        for definition in INDEX_DEFINITIONS
    }
    write_csv(
        drop_dir / "changes.csv",
        ["externalSource", "externalId", "email", "company", "jobTitle"],
        [
            ["crm", "ext-c1", "ann@acme.com", "Acme", "CTO"],  # changed
            ["crm", "ext-c3", "cid@globex.com", "Globex", "Buyer"],  # moves company; old-co.com is retired
            ["crm", "ext-c4", "dee@mailinator.com", "Globex", "Analyst"],  # now disposable: prospect removed
            ["crm", "new-1", "eve@initech.com", "Initech", "Founder"],  # new person at a new company
        ],
    )

    result = pipeline.ingest_drop("changes.csv")

    _assert_indices_equal_postgres(conn, opensearch)
    prospects = _indexed(opensearch, INDEX_DEFINITIONS[1])
    assert sorted(source["externalId"] for source in prospects.values()) == ["ext-c1", "ext-c2", "ext-c3", "new-1"]
    assert prospects["c1"]["jobTitle"] == "CTO"
    domains = sorted(source["domain"] for source in _indexed(opensearch, INDEX_DEFINITIONS[0]).values())
    assert domains == ["acme.com", "globex.com", "initech.com"]
    client = opensearch.client()
    live_after = {}
    for definition in INDEX_DEFINITIONS:
        alias = alias_name(definition.logical_name, opensearch.index_prefix)
        # Applied to a clone of the live index, swapped in whole; the version before stays for rollback.
        (live_after[definition.logical_name],) = live_indices(client, alias)
        assert versions_of(alias, client.indices.get(index=f"{alias}-*").keys()) == [
            *live_before[definition.logical_name], live_after[definition.logical_name]
        ]
        # The clone was written with refresh off; it went live with its serving settings back.
        live_settings = client.indices.get_settings(index=live_after[definition.logical_name])
        index_settings = live_settings[live_after[definition.logical_name]]["settings"]["index"]
        assert index_settings["refresh_interval"] == "1s"
        assert index_settings["number_of_replicas"] == str(opensearch.replicas)
        metadata = result.asset_materializations_for_node(f"opensearch_{definition.logical_name}")[0].metadata
        assert metadata["mode"].value == "incremental"
        assert metadata["previous_index"].value == live_before[definition.logical_name][0]
    assert all(check.passed for check in result.get_asset_check_evaluations())

    # Nothing left to apply: no new version.
    pipeline.ingest_drop("changes.csv")
    for definition in INDEX_DEFINITIONS:
        alias = alias_name(definition.logical_name, opensearch.index_prefix)
        assert live_indices(client, alias) == [live_after[definition.logical_name]]


def test_strict_mapping_rejects_an_unknown_field(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    alias = alias_name("companies", opensearch.index_prefix)
    with pytest.raises(RequestError) as raised:
        opensearch.client().index(index=alias, id="x", body={"domain": "x.com", "favouriteColour": "blue"})
    assert raised.value.status_code == 400 and "strict_dynamic_mapping_exception" in str(raised.value)


def test_rollback_points_the_alias_at_the_previous_version_and_next_run_rebuilds(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, database_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from restructure_pipeline.cli import main

    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    alias = alias_name("prospects", opensearch.index_prefix)
    first = live_indices(opensearch.client(), alias)
    pipeline.full_refresh()
    monkeypatch.setenv("OPENSEARCH_URL", opensearch.url)
    monkeypatch.setenv("OPENSEARCH_INDEX_PREFIX", opensearch.index_prefix)
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["index", "rollback", "prospects"]) == 0

    assert live_indices(opensearch.client(), alias) == first
    assert f"{alias} -> {first[0]}" in capsys.readouterr().out
    assert conn.execute("SELECT count(*) FROM restructure.search_sync WHERE alias = %s", (alias,)).fetchone()[0] == 0
    result = pipeline.ingest_drop("legacy")
    assert result.asset_materializations_for_node("opensearch_prospects")[0].metadata["mode"].value == "rebuild"
    assert live_indices(opensearch.client(), alias) != first


def test_a_first_load_of_the_tables_makes_every_index_rebuild_on_its_next_run(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    """A first load writes "Company" and "Prospect" without outbox rows (issue 5): instead it
    forgets every index's sync position, so whatever run indexes next rebuilds from the tables."""
    import dagster as dg

    from restructure_pipeline.automation.launch import full_refresh_tags, register_sources

    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@globex.com", "Globex")])
    pipeline.full_refresh()
    assert conn.execute("SELECT count(*) FROM restructure.search_sync").fetchone()[0] == 3
    conn.execute('TRUNCATE "Prospect", "Company"')  # e.g. the target tables restored empty

    postgres_only = [dg.AssetKey(name) for name in ("customer_extract", "companies", "prospects", "company_prospect_view")]
    result = pipeline.definitions.resolve_job_def("full_refresh").execute_in_process(
        instance=pipeline.instance, tags=full_refresh_tags(register_sources(pipeline.instance, drop_dir)),
        asset_selection=postgres_only,
    )
    assert result.success
    assert conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM restructure.search_outbox WHERE entity = 'prospect'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM restructure.search_sync").fetchone()[0] == 0

    write_csv(drop_dir / "next.csv", ["externalId", "email", "company"], [["d-1", "cid@acme.com", "Acme"]])
    result = pipeline.ingest_drop("next.csv")
    for definition in INDEX_DEFINITIONS:
        materialization = result.asset_materializations_for_node(f"opensearch_{definition.logical_name}")[0]
        assert materialization.metadata["mode"].value == "rebuild", definition.logical_name
    _assert_indices_equal_postgres(conn, opensearch)
