"""The whole Postgres graph, materialized through Dagster on a real embedded Postgres."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl
import psycopg
import pytest

from restructure_pipeline.automation.launch import register_sources
from restructure_pipeline.identity.merge import company_name_owners
from restructure_pipeline.identity.names import clean_company_name_column
from restructure_pipeline.ids import new_cuid
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline.store.prospects import UnmergedQueueError, write_prospects
from restructure_pipeline.store.staging import queue_everything
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy, write_csv


def _scalar(conn: psycopg.Connection, query: str, params: tuple = ()) -> object:
    return conn.execute(query, params).fetchone()[0]


def _snapshot(conn: psycopg.Connection) -> tuple[list, list]:
    companies = conn.execute('SELECT * FROM "Company" ORDER BY id').fetchall()
    prospects = conn.execute('SELECT * FROM "Prospect" ORDER BY id').fetchall()
    return companies, prospects


def test_every_legacy_row_becomes_a_prospect_or_is_quarantined(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    legacy = generate_customers(3000, seed=7)
    create_legacy_table(conn)
    load_customers(conn, legacy)

    pipeline.full_refresh()

    prospects = _scalar(conn, 'SELECT count(*) FROM "Prospect"')
    quarantined = _scalar(conn, "SELECT count(*) FROM restructure.customer_quarantine")
    assert prospects + quarantined == 3000
    assert prospects > 2000 and quarantined > 0
    unaccounted = _scalar(
        conn,
        """
        SELECT count(*) FROM "Customer" c
        WHERE NOT EXISTS (SELECT 1 FROM "Prospect" p WHERE p.id = c.id)
          AND NOT EXISTS (SELECT 1 FROM restructure.customer_quarantine q
                          WHERE q.source = 'legacy' AND q.source_ref = c.id)
        """,
    )
    assert unaccounted == 0
    both = _scalar(
        conn,
        """
        SELECT count(*) FROM "Prospect" p JOIN restructure.customer_quarantine q
          ON q.source = 'legacy' AND q.source_ref = p.id
        """,
    )
    assert both == 0
    reasons = {reason for (reason,) in conn.execute("SELECT DISTINCT reason FROM restructure.customer_quarantine")}
    assert {"invalid_email", "disposable_domain", "invalid_domain"} <= reasons


def test_legacy_identities_are_taken_exactly_and_a_blank_source_is_quarantined(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    # "Customer" only requires externalSource to be non-null, and compares its unique key exactly.
    load_legacy(
        conn,
        [
            customer("c1", "ann@acme.com", "Acme", externalId="42", minutes=1),
            customer("c2", "bob@acme.com", "Acme", externalId=" 42", minutes=2),
            customer("c3", "cy@acme.com", "Acme", externalSource="", minutes=0),  # the domain's oldest row
            customer("c4", "di@gmail.com", "Acme", externalSource="  ", minutes=3),
        ],
    )
    result = pipeline.full_refresh()

    assert conn.execute('SELECT id, "externalId" FROM "Prospect" ORDER BY id').fetchall() == [("c1", "42"), ("c2", " 42")]
    assert conn.execute(
        "SELECT source_ref, reason, raw->>'externalSource' FROM restructure.customer_quarantine ORDER BY 1"
    ).fetchall() == [("c3", "missing_external_source", None), ("c4", "missing_external_source", None)]
    # The company's birth is its earliest row with an identity, and every check passes.
    assert conn.execute("""SELECT "externalSource", "createdAt" FROM "Company" """).fetchall() == [
        ("crm", datetime(2024, 1, 1, 0, 1))
    ]
    assert all(check.passed for check in result.get_asset_check_evaluations())


def test_migrated_prospect_keeps_customer_id_and_timestamps(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    row = customer("cmigrated0000000000000001", "Ann@Mail.Acme.co.uk", "Acme Ltd", minutes=5)
    load_legacy(conn, [row])

    pipeline.full_refresh()

    prospect = conn.execute(
        'SELECT id, email, "createdAt", "updatedAt", "companyId" FROM "Prospect"'
    ).fetchone()
    assert prospect[:4] == (row["id"], "Ann@mail.acme.co.uk", row["createdAt"], row["updatedAt"])
    domain = _scalar(conn, 'SELECT domain FROM "Company" WHERE id = %s', (prospect[4],))
    assert domain == "acme.co.uk"


def test_rerun_with_same_input_changes_nothing(conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path) -> None:
    legacy = generate_customers(1500, seed=11)
    create_legacy_table(conn)
    load_customers(conn, legacy)
    write_drop_csv(drop_dir / "first.csv", generate_drop(100, seed=12, existing=legacy))

    pipeline.full_refresh()
    before = _snapshot(conn)
    pipeline.full_refresh()
    assert _snapshot(conn) == before
    pipeline.ingest_drop("first.csv")
    assert _snapshot(conn) == before
    assert len(before[0]) > 50 and len(before[1]) > 1000


def test_legacy_table_and_drop_together(conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path) -> None:
    load_legacy(
        conn,
        [
            customer("c1", "ann@acme.com", "Acme Inc", jobTitle="Engineer", minutes=1),
            customer("c2", "bob@acme.com", "Acme Inc", jobTitle="Manager", minutes=2),
        ],
    )
    pipeline.full_refresh()
    acme_id = _scalar(conn, 'SELECT id FROM "Company" WHERE domain = %s', ("acme.com",))
    ann_updated = _scalar(conn, 'SELECT "updatedAt" FROM "Prospect" WHERE id = %s', ("c1",))

    write_csv(
        drop_dir / "2026-11-26_contacts.csv",
        ["External Source", "external_id", "First Name", "EMAIL", "Company", "Job Title", "Favourite Colour"],
        [
            ["crm", "ext-c1", "Ann", "ann@acme.com", "Acme Inc", "CTO", "blue"],  # update of a legacy row
            ["crm", "new-1", "Cid", "cid@eu.sales.globex.com", "Globex", "Buyer", "red"],  # new person, new company
            ["crm", "new-2", "Dee", "dee@acme.com", "Acme Inc", "Analyst", ""],  # new person, known company
        ],
    )
    result = pipeline.ingest_drop("2026-11-26_contacts.csv")

    rows = dict(conn.execute('SELECT "externalId", "jobTitle" FROM "Prospect"').fetchall())
    assert rows == {"ext-c1": "CTO", "ext-c2": "Manager", "new-1": "Buyer", "new-2": "Analyst"}
    assert _scalar(conn, 'SELECT id FROM "Prospect" WHERE "externalId" = %s', ("ext-c1",)) == "c1"
    assert _scalar(conn, 'SELECT "updatedAt" FROM "Prospect" WHERE id = %s', ("c1",)) > ann_updated
    assert _scalar(conn, 'SELECT id FROM "Company" WHERE domain = %s', ("acme.com",)) == acme_id
    assert _scalar(conn, 'SELECT count(*) FROM "Company" WHERE domain = %s', ("globex.com",)) == 1
    extract = result.asset_materializations_for_node("customer_extract")[0]
    assert extract.metadata["unknown_columns"].value == {"2026-11-26_contacts.csv": ["Favourite Colour"]}


def test_a_first_full_refresh_takes_lineage_from_every_row_of_a_person_and_a_company(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    # Ann has two rows, her legacy one and a newer drop row, staged together by one full
    # refresh into empty tables: her current row is the drop's, her lineage both rows.
    ann = customer("c1", "ann@acme.com", "Acme Inc", jobTitle="Engineer", minutes=1)
    bob = customer("c2", "bob@acme.com", "Acme Inc", jobTitle="Manager", minutes=2, externalSource="erp")
    load_legacy(conn, [ann, bob])
    write_csv(
        drop_dir / "2026-11-27_contacts.csv",
        ["External Source", "external_id", "First Name", "EMAIL", "Company", "Job Title"],
        [["crm", "ext-c1", "Ann", "ann@acme.com", "Acme Inc", "CTO"]],
    )
    pipeline.full_refresh()

    assert conn.execute(
        'SELECT id, "jobTitle", "createdAt" FROM "Prospect" WHERE "externalId" = %s', ("ext-c1",)
    ).fetchone() == ("c1", "CTO", ann["createdAt"])
    # Acme was born with Ann's legacy row (superseded now), not with Bob's, the oldest current one.
    birth = conn.execute('SELECT "createdAt", "externalSource" FROM "Company" WHERE domain = %s', ("acme.com",))
    assert birth.fetchone() == (ann["createdAt"], "crm")


def test_drop_resolves_a_formerly_quarantined_row(conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path) -> None:
    load_legacy(conn, [customer("c1", "zed@gmail.com", "Zeta Corp.", minutes=1)])
    pipeline.full_refresh()
    assert conn.execute("SELECT reason FROM restructure.customer_quarantine").fetchall() == [
        ("personal_domain_unresolved",)
    ]

    write_csv(drop_dir / "zeta.csv", ["externalId", "email", "company"], [["z-1", "ops@zeta.io", "ZETA Corporation"]])
    pipeline.ingest_drop("zeta.csv")

    assert _scalar(conn, "SELECT count(*) FROM restructure.customer_quarantine") == 0
    company = _scalar(
        conn, 'SELECT c.domain FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" WHERE p.id = %s', ("c1",)
    )
    assert company == "zeta.io"
    assert _scalar(conn, 'SELECT "externalSource" FROM "Prospect" WHERE "externalId" = %s', ("z-1",)) == "csv_drop"


def test_a_drop_run_evaluates_again_only_the_quarantine_rows_it_can_change(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(
        conn,
        [
            customer("c1", "zed@gmail.com", "Zeta Corp.", minutes=1),  # joins by name: resolves with the drop
            customer("c2", "not-an-email", "Acme", minutes=2),  # nothing in the drops concerns it
        ],
    )
    pipeline.full_refresh()
    quarantine = "SELECT source, reason, last_seen_at FROM restructure.customer_quarantine ORDER BY source, source_ref"
    c2_seen = conn.execute(quarantine).fetchall()[1][2]

    header = ["externalId", "email", "company"]
    write_csv(drop_dir / "zeta.csv", header, [["z-1", "ops@zeta.io", "ZETA Corporation"], ["", "ann@zeta.io", "Zeta"]])
    pipeline.ingest_drop("zeta.csv")
    # c1 left, the drop's row without an id came in, c2 was not evaluated again.
    rows = conn.execute(quarantine).fetchall()
    assert [(source, reason) for source, reason, _ in rows] == [
        ("legacy", "invalid_email"), ("zeta.csv", "missing_external_id")
    ]
    assert rows[0][2] == c2_seen

    # The drop again without the row no identity queues: it leaves the quarantine.
    write_csv(drop_dir / "zeta.csv", header, [["z-1", "ops@zeta.io", "ZETA Corporation"]])
    pipeline.ingest_drop("zeta.csv")
    assert conn.execute(quarantine).fetchall() == [("legacy", "invalid_email", c2_seen)]

    pipeline.full_refresh()  # evaluates every row again
    ((source, reason, seen),) = conn.execute(quarantine).fetchall()
    assert (source, reason) == ("legacy", "invalid_email") and seen > c2_seen


def test_prospect_moves_when_a_drop_changes_its_domain_and_empty_company_is_retired(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@old-co.com", "Old Co"), customer("c2", "bob@new-co.com", "New Co")])
    pipeline.full_refresh()
    write_csv(drop_dir / "move.csv", ["externalSource", "externalId", "email"], [["crm", "ext-c1", "ann@new-co.com"]])
    pipeline.ingest_drop("move.csv")

    domains = [domain for (domain,) in conn.execute('SELECT domain FROM "Company" ORDER BY domain')]
    assert domains == ["new-co.com"]
    assert _scalar(conn, 'SELECT count(*) FROM "Prospect"') == 2


def _linked_by_name(conn: psycopg.Connection) -> dict[str, str | None]:
    """Each person with a personal email: the domain of the company they joined, or their quarantine reason."""
    return dict(
        conn.execute(
            """
            SELECT s."externalId", coalesce(c.domain, q.reason)
            FROM restructure.source_record s
            LEFT JOIN "Prospect" p ON p."externalSource" = s."externalSource" AND p."externalId" = s."externalId"
            LEFT JOIN "Company" c ON c.id = p."companyId"
            LEFT JOIN restructure.customer_quarantine q ON q.source = s.source AND q.source_ref = s.source_ref
            WHERE s.is_current AND s.needs_name_resolution
            """
        ).fetchall()
    )


def test_a_drop_resolves_again_exactly_the_people_whose_company_name_changed(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(
        conn,
        [
            customer("a1", "ann@acme.com", "Acme", minutes=1),
            customer("a2", "al@acme.io", "Acme", minutes=2),  # a second company named Acme
            customer("x1", "xi@globex.com", "Globex", minutes=3),
            customer("h1", "hu@hooli.com", "Hooli", minutes=4),
            customer("g1", "gus@gmail.com", "ACME Inc", minutes=5),  # ambiguous: two companies named Acme
            customer("g2", "gil@gmail.com", "Globex", minutes=6),
            customer("g3", "hal@gmail.com", "Hooli", minutes=7),
            customer("g4", "zoe@yahoo.com", "Initech", minutes=8),  # no such company yet
        ],
    )
    pipeline.full_refresh()
    assert _linked_by_name(conn) == {
        "ext-g1": "personal_domain_unresolved", "ext-g2": "globex.com", "ext-g3": "hooli.com",
        "ext-g4": "personal_domain_unresolved",
    }
    hal_updated = _scalar(conn, 'SELECT "updatedAt" FROM "Prospect" WHERE id = %s', ("g3",))

    write_csv(
        drop_dir / "names.csv",
        ["externalSource", "externalId", "email", "company"],
        [
            ["crm", "ext-a2", "al@acme.io", "Acme Labs"],  # gives up the name Acme: it is no longer ambiguous
            ["crm", "ext-x1", "xi@globex.com", "Globex Systems"],  # gives up the name Globex
            ["crm", "ivy", "ivy@initech.com", "Initech"],  # a new company takes the name Initech
        ],
    )
    result = pipeline.ingest_drop("names.csv")

    assert _linked_by_name(conn) == {
        "ext-g1": "acme.com", "ext-g2": "personal_domain_unresolved", "ext-g3": "hooli.com", "ext-g4": "initech.com",
    }
    # The three drop rows and the two people who found a company; Hal's name did not change, so Hal is left alone.
    metadata = result.asset_materializations_for_node("prospects")[0].metadata
    assert metadata["prospects_recomputed"].value == 5
    assert _scalar(conn, 'SELECT "updatedAt" FROM "Prospect" WHERE id = %s', ("g3",)) == hal_updated

    # Hooli's only row moves to a personal address: the company is retired, and so is the name.
    write_csv(drop_dir / "retire.csv", ["externalSource", "externalId", "email", "company"], [
        ["crm", "ext-h1", "hu@gmail.com", "Hooli"],
    ])
    pipeline.ingest_drop("retire.csv")

    assert _linked_by_name(conn) == {
        "ext-g1": "acme.com", "ext-g2": "personal_domain_unresolved", "ext-g3": "personal_domain_unresolved",
        "ext-g4": "initech.com", "ext-h1": "personal_domain_unresolved",
    }
    assert _scalar(conn, 'SELECT count(*) FROM "Company" WHERE domain = %s', ("hooli.com",)) == 0
    assert _scalar(conn, "SELECT count(*) FROM restructure.pending_company_name") == 0
    staged = _scalar(conn, "SELECT count(*) FROM restructure.source_record WHERE is_current")
    quarantined = _scalar(conn, "SELECT count(*) FROM restructure.customer_quarantine")
    assert _scalar(conn, 'SELECT count(*) FROM "Prospect"') + quarantined == staged


def test_changed_company_names_are_looked_up_only_when_someone_joining_by_name_is_not_queued(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(
        conn,
        [
            customer("a1", "ann@acme.com", "Acme", minutes=1),
            customer("g1", "gus@gmail.com", "ACME Inc", minutes=2),
            customer("g2", "gil@gmail.com", "Globex", minutes=3),  # no such company
        ],
    )
    pipeline.full_refresh()
    names_cleaned: list[list[str]] = []

    def clean_names(frame: pl.DataFrame) -> pl.DataFrame:
        names_cleaned.append(frame["name"].to_list())
        return clean_company_name_column(frame, "name", out="name_clean")

    # A full refresh queues everyone: a queued name concerns nobody who is not resolved anyway.
    queue_everything(conn)
    conn.execute("UPDATE restructure.pending_everything SET merged = TRUE")  # as the company step does
    conn.execute("INSERT INTO restructure.pending_company_name (name) VALUES ('Acme')")
    write_prospects(conn, company_name_owners, clean_names, new_cuid)
    assert names_cleaned == []
    assert _linked_by_name(conn) == {"ext-g1": "acme.com", "ext-g2": "personal_domain_unresolved"}

    # One person queued: Gus is resolved again through the changed name.
    conn.execute("""INSERT INTO restructure.pending_key ("externalSource", "externalId") VALUES ('crm', 'ext-g2')""")
    conn.execute("INSERT INTO restructure.pending_company_name (name) VALUES ('Acme')")
    result = write_prospects(conn, company_name_owners, clean_names, new_cuid)
    assert names_cleaned == [["Acme"]]
    assert result.recomputed == 1  # Gus: Gil is queued but still has no company
    assert _linked_by_name(conn) == {"ext-g1": "acme.com", "ext-g2": "personal_domain_unresolved"}


def test_prospects_refuse_domains_queued_after_the_company_step_and_a_run_then_catches_up(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    extract, companies = dg.AssetKey("customer_extract"), dg.AssetKey("companies")
    job = pipeline.definitions.resolve_job_def("ingest_drop")

    def materialize(partition_key: str, assets: list[dg.AssetKey]) -> None:
        register_sources(pipeline.instance, drop_dir)
        result = job.execute_in_process(
            instance=pipeline.instance, partition_key=partition_key, asset_selection=assets, raise_on_error=False
        )
        assert result.success

    # One drop's extract and company step; then another drop's extract commits, as another
    # run's would between this run's company and prospect steps. It queues acme.com again
    # (merged already) and zeta.io.
    write_csv(drop_dir / "one.csv", ["externalId", "email", "company"], [["d-1", "bob@acme.com", "Acme"]])
    materialize("one.csv", [extract, companies])
    write_csv(
        drop_dir / "two.csv", ["externalId", "email", "company"],
        [["d-2", "carol@acme.com", "Acme"], ["d-3", "dave@zeta.io", "Zeta"]],
    )
    materialize("two.csv", [extract])
    before = _snapshot(conn), _scalar(conn, "SELECT count(*) FROM restructure.pending_key")

    with pytest.raises(UnmergedQueueError, match=r"2 domain\(s\) were queued after the last company step"):
        write_prospects(conn, company_name_owners, lambda f: clean_company_name_column(f, "name", out="name_clean"), new_cuid)
    assert (_snapshot(conn), _scalar(conn, "SELECT count(*) FROM restructure.pending_key")) == before

    # The next run's company step merges what is queued, and its prospect step takes everyone.
    drop = pipeline.ingest_drop("two.csv")
    assert all(check.passed for check in drop.get_asset_check_evaluations())
    linked = conn.execute(
        """SELECT p."externalId", c.domain FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" ORDER BY 1"""
    ).fetchall()
    assert linked == [("d-1", "acme.com"), ("d-2", "acme.com"), ("d-3", "zeta.io"), ("ext-c1", "acme.com")]
    assert _scalar(
        conn, "SELECT (SELECT count(*) FROM restructure.pending_key) + (SELECT count(*) FROM restructure.pending_domain)"
    ) == 0


def test_unparseable_drop_fails_naming_file_and_line_and_writes_nothing(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    before = _snapshot(conn)
    staged = _scalar(conn, "SELECT count(*) FROM restructure.source_record")
    path = drop_dir / "broken.csv"
    path.write_text("externalId,email\nb-1,bee@acme.com\nb-2,too,many,fields\n", encoding="utf-8")

    result = pipeline.ingest_drop("broken.csv", expect_success=False)

    assert not result.success
    errors = [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    assert any("broken.csv, line 3" in error for error in errors)
    assert _snapshot(conn) == before
    assert _scalar(conn, "SELECT count(*) FROM restructure.source_record") == staged
    assert _scalar(conn, "SELECT count(*) FROM restructure.drop_file") == 0


def test_quarantine_keeps_the_raw_record_with_unparseable_values(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    write_csv(
        drop_dir / "numbers.csv",
        ["externalId", "email", "company", "minEmployeeSize", "maxEmployeeSize", "revenue"],
        [
            ["n-1", "broken-email", "Acme", "ten", "50", "1,000,000"],
            ["n-2", "bob@acme.com", "Acme", "-5", "20", "lots"],
        ],
    )
    pipeline.ingest_drop("numbers.csv")

    (source_ref, line, reason, raw), = conn.execute(
        "SELECT source_ref, line, reason, raw FROM restructure.customer_quarantine"
    ).fetchall()
    assert (source_ref, line, reason) == ("2", 2, "invalid_email")
    assert raw["minEmployeeSize"] == "ten" and raw["maxEmployeeSize"] == 50 and raw["revenue"] == 1_000_000
    assert raw["email"] == "broken-email" and raw["externalSource"] == "csv_drop"
    # The valid person with unparseable numbers became a prospect; the raw values stay in staging.
    rejected = conn.execute(
        "SELECT rejected_values FROM restructure.source_record WHERE source = 'numbers.csv' AND source_ref = '3'"
    ).fetchone()[0]
    assert {key: value for key, value in rejected.items() if value is not None} == {
        "minEmployeeSize": "-5", "revenue": "lots"
    }
