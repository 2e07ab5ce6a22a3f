"""The drop sensor, the nightly schedule and incremental drops, against a real Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg

from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES
from restructure_pipeline.automation.schedules import build_full_refresh_schedule
from restructure_pipeline.automation.sensors import drop_sensor
from restructure_pipeline.resources import OpenSearchResource, PipelineSettings
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy, write_csv


def _tick(instance: dg.DagsterInstance, drop_dir: Path, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"settings": PipelineSettings(drop_dir=str(drop_dir))}
    )
    result = drop_sensor(context)
    # Apply what the daemon would: register the requested partitions.
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_sensor_registers_complete_drops_and_their_runs_ingest_them(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, tmp_path: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    write_csv(drop_dir / "day1.csv", ["externalId", "email", "company"], [["d-1", "bob@acme.com", "Acme"]])
    outside = tmp_path / "outside.csv"
    write_csv(outside, ["externalId", "email"], [["x-1", "eve@evil.com"]])
    (drop_dir / "escape.csv").symlink_to(outside)

    first = _tick(pipeline.instance, drop_dir, None)
    assert first.run_requests == []  # not yet known to be completely written
    second = _tick(pipeline.instance, drop_dir, first.cursor)
    assert [request.partition_key for request in second.run_requests] == ["day1.csv"]
    assert set(pipeline.instance.get_dynamic_partitions(CUSTOMER_SOURCES.name)) == {"legacy", "day1.csv"}
    assert _tick(pipeline.instance, drop_dir, second.cursor).run_requests == []

    pipeline.full_refresh()
    pipeline.ingest_drop(second.run_requests[0].partition_key)
    emails = sorted(email for (email,) in conn.execute('SELECT email FROM "Prospect"'))
    assert emails == ["ann@acme.com", "bob@acme.com"]


def test_sensor_launches_no_run_for_a_drop_still_being_written(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    """A file growing between two ticks is not complete yet: no run until two ticks agree (or .ready)."""
    path = drop_dir / "growing.csv"
    with path.open("w", encoding="utf-8") as writer:  # the writer keeps the file open, as an export would
        writer.write("externalId,email,company\ng-0,p0@acme.com,Acme\n")
        writer.flush()
        first = _tick(pipeline.instance, drop_dir, None)
        writer.write("g-1,p1@acme.com,Acme\n")
        writer.flush()
        second = _tick(pipeline.instance, drop_dir, first.cursor)
        writer.write("g-2,p2@acme.com,Acme\n")
        writer.flush()
        third = _tick(pipeline.instance, drop_dir, second.cursor)
    assert first.run_requests == [] and second.run_requests == [] and third.run_requests == []
    assert "growing.csv" not in pipeline.instance.get_dynamic_partitions(CUSTOMER_SOURCES.name)

    settled = _tick(pipeline.instance, drop_dir, third.cursor)  # same size and time as the last tick
    assert [request.partition_key for request in settled.run_requests] == ["growing.csv"]
    pipeline.ingest_drop(settled.run_requests[0].partition_key)
    assert conn.execute("SELECT row_count FROM restructure.drop_file").fetchall() == [(3,)]


def test_sensor_survives_unreadable_and_broken_files(pipeline: PipelineRunner, drop_dir: Path) -> None:
    (drop_dir / "garbage.csv").write_bytes(b"\xff\xfe\x00 not a csv \x00")
    (drop_dir / "locked.csv").write_text("externalId\n1\n")
    (drop_dir / "locked.csv").chmod(0)
    (drop_dir / "garbage.csv.ready").touch()
    try:
        result = _tick(pipeline.instance, drop_dir, None)
    finally:
        (drop_dir / "locked.csv").chmod(0o644)
    # The sensor does not read contents: the broken file gets its run, which fails on its own.
    assert [request.partition_key for request in result.run_requests] == ["garbage.csv"]


def test_nightly_schedule_requests_a_full_refresh_over_every_source(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    write_csv(drop_dir / "a.csv", ["externalId", "email"], [["a-1", "bob@globex.com"]])
    pipeline.instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, ["a.csv"])
    schedule = build_full_refresh_schedule(cron="30 1 * * *", timezone="Europe/Berlin")
    assert schedule.cron_schedule == "30 1 * * *" and schedule.execution_timezone == "Europe/Berlin"

    request = schedule(dg.build_schedule_context(instance=pipeline.instance))

    assert request.tags["restructure/refresh"] == "full"
    assert set(pipeline.instance.get_dynamic_partitions(CUSTOMER_SOURCES.name)) == {"a.csv", "legacy"}
    result = pipeline.definitions.resolve_job_def("full_refresh").execute_in_process(
        instance=pipeline.instance, tags=request.tags
    )
    assert result.success
    assert conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0] == 2


def _state(conn: psycopg.Connection) -> dict[str, list]:
    """Everything a reader sees, keyed by natural identities (ids of new rows are random cuids)."""
    companies = conn.execute(
        """SELECT domain, name, industry, "minEmployeeSize", "maxEmployeeSize", "employeeSizeLink", revenue,
                  address, city, state, country, "zipCode", phone, "mobilePhone", "externalSource", "externalId"
           FROM "Company" ORDER BY domain"""
    ).fetchall()
    prospects = conn.execute(
        """SELECT p."externalSource", p."externalId",
                  CASE WHEN EXISTS (SELECT 1 FROM "Customer" cu WHERE cu.id = p.id) THEN (p.id, p."createdAt")::text END,
                  p.salutation, p."firstName", p."lastName", p.email, p."jobTitle", p."jobTitleLevel", p.department,
                  p."jobTitleLink", p.address, p.city, p.state, p.country, p."zipCode", p.phone, p."mobilePhone",
                  c.domain
           FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId"
           ORDER BY 1, 2"""
    ).fetchall()
    quarantine = conn.execute(
        'SELECT source, source_ref, "externalSource", "externalId", reason FROM restructure.customer_quarantine ORDER BY 1, 2'
    ).fetchall()
    view = conn.execute("SELECT count(*) FROM company_prospect_view").fetchall()
    return {"companies": companies, "prospects": prospects, "quarantine": quarantine, "view": view}


def test_drops_one_by_one_equal_one_full_refresh_over_the_same_inputs(
    embedded_postgres, conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch
) -> None:
    legacy = generate_customers(1500, seed=21)
    create_legacy_table(conn)
    load_customers(conn, legacy)
    pipeline.full_refresh()
    for number in (1, 2, 3):
        drop = generate_drop(60, seed=100 + number, existing=legacy, missing_external_id_fraction=0.05)
        write_drop_csv(drop_dir / f"drop{number}.csv", drop, header_style=("snake", "camel", "title")[number - 1])
        pipeline.ingest_drop(f"drop{number}.csv")
    incremental = _state(conn)

    fresh_url = embedded_postgres.ensure_database("full_refresh_twin")
    try:
        with psycopg.connect(fresh_url, autocommit=True) as twin:
            create_legacy_table(twin)
            load_customers(twin, legacy)
            runner = PipelineRunner(
                database_url=fresh_url, drop_dir=drop_dir,
                # A new resource: Dagster rebuilds resources from their config, so model_copy would not stick.
                opensearch=OpenSearchResource(**{**opensearch.model_dump(), "index_prefix": opensearch.index_prefix + "twin_"}),
            )
            runner.full_refresh()
            full = _state(twin)
            for part in ("companies", "prospects", "quarantine", "view"):
                differing = sorted(set(full[part]) ^ set(incremental[part]), key=str)
                assert full[part] == incremental[part], (part, differing[:6])
    finally:
        embedded_postgres.drop_database("full_refresh_twin")
    assert len(incremental["prospects"]) > 1000 and incremental["quarantine"]
