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


def test_an_index_built_from_another_definition_is_rebuilt_by_a_drop_run(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    client = opensearch.client()
    alias = alias_name("prospects", opensearch.index_prefix)
    built = live_indices(client, alias)
    # As if the live index came from an earlier release's definition of the alias.
    client.indices.put_mapping(index=built[0], body={"_meta": {"logical_name": "prospects", "fingerprint": "older"}})
    write_csv(drop_dir / "zeta.csv", ["externalId", "email", "company"], [["z-1", "ops@zeta.io", "Zeta"]])

    result = pipeline.ingest_drop("zeta.csv")

    modes = {
        definition.logical_name: result.asset_materializations_for_node(f"opensearch_{definition.logical_name}")[0]
        .metadata["mode"].value
        for definition in INDEX_DEFINITIONS
    }
    assert modes == {"companies": "incremental", "prospects": "rebuild", "company_prospect_view": "incremental"}
    live = live_indices(client, alias)
    assert live != built
    assert client.indices.get_mapping(index=live[0])[live[0]]["mappings"]["_meta"]["fingerprint"] == (
        next(d for d in INDEX_DEFINITIONS if d.logical_name == "prospects").fingerprint
    )
    _assert_indices_equal_postgres(conn, opensearch)


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


def _materialize_only(pipeline: PipelineRunner, partition_key: str, names: list[str], *, expect_success: bool = True):
    """Run some of ``ingest_drop``'s assets alone, as an operator re-executing steps would."""
    import dagster as dg

    from restructure_pipeline.automation.launch import register_sources

    register_sources(pipeline.instance, pipeline.drop_dir)
    result = pipeline.definitions.resolve_job_def("ingest_drop").execute_in_process(
        instance=pipeline.instance, partition_key=partition_key, raise_on_error=False,
        asset_selection=[dg.AssetKey(name) for name in names],
    )
    assert result.success == expect_success
    return result


def _synced_seq(conn: psycopg.Connection, alias: str) -> int:
    return conn.execute("SELECT synced_seq FROM restructure.search_sync WHERE alias = %s", (alias,)).fetchone()[0]


_VIEW = next(definition for definition in INDEX_DEFINITIONS if definition.logical_name == "company_prospect_view")
_INDEX_ASSETS = ["opensearch_companies", "opensearch_prospects", "opensearch_company_prospect_view"]


def test_the_view_index_stops_at_the_views_last_refresh_and_takes_later_changes_after_the_next(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    """Changes committed after the view's refresh are not in the view yet: the view's index must
    not record them as applied (nor let the outbox drop them), or they never reach it."""
    load_legacy(
        conn,
        [customer("c1", "ann@acme.com", "Acme", jobTitle="Engineer"), customer("c2", "bob@globex.com", "Globex")],
    )
    pipeline.full_refresh()
    view_alias = alias_name("company_prospect_view", opensearch.index_prefix)
    synced_before = _synced_seq(conn, view_alias)
    write_csv(
        drop_dir / "changes.csv",
        ["externalSource", "externalId", "email", "company", "jobTitle"],
        [["crm", "ext-c1", "ann@acme.com", "Acme", "CTO"], ["crm", "new-1", "eve@initech.com", "Initech", "Founder"]],
    )
    # The company and prospect steps commit; the view is not refreshed (its step skipped or not selected).
    _materialize_only(pipeline, "changes.csv", ["customer_extract", "companies", "prospects"])
    first_change, changes = conn.execute(
        "SELECT min(seq), count(*) FROM restructure.search_outbox WHERE seq > %s", (synced_before,)
    ).fetchone()
    assert changes > 0

    result = _materialize_only(pipeline, "changes.csv", _INDEX_ASSETS)

    # The tables' indices take the changes; the view's stays at the view and keeps them pending.
    for definition in (definition for definition in INDEX_DEFINITIONS if definition is not _VIEW):
        assert _indexed(opensearch, definition) == _expected(conn, definition), definition.logical_name
    assert _synced_seq(conn, view_alias) < first_change
    assert conn.execute(
        "SELECT count(*) FROM restructure.search_outbox WHERE seq >= %s", (first_change,)
    ).fetchone()[0] == changes
    metadata = result.asset_materializations_for_node("opensearch_company_prospect_view")[0].metadata
    assert metadata["outbox_entries_pending"].value == changes
    assert _indexed(opensearch, _VIEW) == _expected(conn, _VIEW)
    assert _indexed(opensearch, _VIEW)["c1"]["job_title"] == "Engineer"

    # Once the view is refreshed, its index catches up, and the outbox is emptied.
    _materialize_only(pipeline, "changes.csv", ["company_prospect_view", "opensearch_company_prospect_view"])
    indexed = _indexed(opensearch, _VIEW)
    assert indexed == _expected(conn, _VIEW)
    assert indexed["c1"]["job_title"] == "CTO"
    assert "initech.com" in {source["domain"] for source in indexed.values()}
    assert conn.execute("SELECT count(*) FROM restructure.search_outbox").fetchone()[0] == 0
    # A rerun finds nothing left to apply.
    live = live_indices(opensearch.client(), view_alias)
    _materialize_only(pipeline, "changes.csv", ["opensearch_company_prospect_view"])
    assert live_indices(opensearch.client(), view_alias) == live



def test_a_view_index_rebuilt_before_the_views_refresh_records_the_refreshs_position(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    from restructure_pipeline.store.search_sync import forget_sync_state

    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme", jobTitle="Engineer")])
    pipeline.full_refresh()
    view_alias = alias_name("company_prospect_view", opensearch.index_prefix)
    refreshed = _synced_seq(conn, view_alias)  # the run's refresh and its index saw the same outbox
    forget_sync_state(conn, view_alias)  # as a rollback does: the next index step rebuilds
    write_csv(drop_dir / "title.csv", ["externalSource", "externalId", "email", "company", "jobTitle"],
              [["crm", "ext-c1", "ann@acme.com", "Acme", "CTO"]])
    _materialize_only(pipeline, "title.csv", ["customer_extract", "companies", "prospects"])
    assert conn.execute("SELECT count(*) FROM restructure.search_outbox WHERE seq > %s", (refreshed,)).fetchone()[0] > 0

    # The tables' indices apply the change; with no position of the view's index to hold it,
    # the outbox keeps it for the view's next refresh all the same.
    _materialize_only(pipeline, "title.csv", _INDEX_ASSETS[:2])
    assert conn.execute("SELECT count(*) FROM restructure.search_outbox WHERE seq > %s", (refreshed,)).fetchone()[0] > 0
    result = _materialize_only(pipeline, "title.csv", _INDEX_ASSETS[2:])

    assert result.asset_materializations_for_node("opensearch_company_prospect_view")[0].metadata["mode"].value == "rebuild"
    assert _synced_seq(conn, view_alias) == refreshed
    assert _indexed(opensearch, _VIEW)["c1"]["job_title"] == "Engineer"
    _materialize_only(pipeline, "title.csv", ["company_prospect_view", "opensearch_company_prospect_view"])
    assert _indexed(opensearch, _VIEW) == _expected(conn, _VIEW)
    assert _indexed(opensearch, _VIEW)["c1"]["job_title"] == "CTO"


def test_the_view_index_takes_a_prospects_company_from_the_view_not_from_the_tables(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource
) -> None:
    """A prospect moved twice, once before the view's refresh and once after: the company it
    joined in the view loses its company-only document, though the tables have moved on."""
    from restructure_pipeline.store.view import refresh_view

    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@globex.com", "Globex")])
    pipeline.full_refresh()
    globex = conn.execute("""SELECT id FROM "Company" WHERE domain = 'globex.com'""").fetchone()[0]

    def move(prospect_id: str, company_id: str) -> None:  # as the prospect step writes it: row and outbox together
        with conn.transaction():
            conn.execute('UPDATE "Prospect" SET "companyId" = %s WHERE id = %s', (company_id, prospect_id))
            conn.execute("INSERT INTO restructure.search_outbox (entity, entity_id) VALUES ('prospect', %s)", (prospect_id,))

    with conn.transaction():
        conn.execute(
            """
            INSERT INTO "Company" (id, domain, name, "externalSource", "externalId", "updatedAt")
            VALUES ('initech-id', 'initech.com', 'Initech', 'crm', 'initech.com', now())
            """
        )
        conn.execute("INSERT INTO restructure.search_outbox (entity, entity_id) VALUES ('company', 'initech-id')")
    refresh_view(conn)
    _materialize_only(pipeline, "legacy", ["opensearch_company_prospect_view"])
    assert "initech-id" in _indexed(opensearch, _VIEW)  # the company-only document of a company without prospects
    move("c1", "initech-id")
    refresh_view(conn)
    move("c1", globex)

    _materialize_only(pipeline, "legacy", ["opensearch_company_prospect_view"])

    indexed = _indexed(opensearch, _VIEW)
    assert indexed == _expected(conn, _VIEW)
    assert indexed["c1"]["company_id"] == "initech-id" and "initech-id" not in indexed
    refresh_view(conn)
    _materialize_only(pipeline, "legacy", ["opensearch_company_prospect_view"])
    indexed = _indexed(opensearch, _VIEW)
    assert indexed == _expected(conn, _VIEW)
    assert indexed["c1"]["company_id"] == globex and "initech-id" in indexed


def test_after_a_first_load_the_view_index_waits_for_the_views_refresh(
    conn: psycopg.Connection, pipeline: PipelineRunner, opensearch: OpenSearchResource, drop_dir: Path
) -> None:
    """A first load writes no outbox rows, so until the view is refreshed no position says what
    it holds: its index refuses rather than rebuild from the old view and record a position."""
    import dagster as dg

    from restructure_pipeline.automation.launch import full_refresh_tags, register_sources

    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@globex.com", "Globex")])
    pipeline.full_refresh()
    conn.execute('TRUNCATE "Prospect", "Company"')
    postgres_only = [dg.AssetKey(name) for name in ("customer_extract", "companies", "prospects")]
    result = pipeline.definitions.resolve_job_def("full_refresh").execute_in_process(
        instance=pipeline.instance, tags=full_refresh_tags(register_sources(pipeline.instance, drop_dir)),
        asset_selection=postgres_only,
    )
    assert result.success
    assert conn.execute("SELECT count(*) FROM restructure.view_refresh").fetchone()[0] == 0

    result = _materialize_only(pipeline, "legacy", ["opensearch_company_prospect_view"], expect_success=False)

    (failure,) = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    assert "materialize company_prospect_view, then its index" in failure.event_specific_data.error.to_string()
    pipeline.ingest_drop("legacy")
    _assert_indices_equal_postgres(conn, opensearch)
