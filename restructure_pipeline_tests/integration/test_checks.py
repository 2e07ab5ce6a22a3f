"""The asset checks catch bad data: each is shown failing on a database broken on purpose."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import psycopg

from restructure_pipeline.checks.companies import _DOMAINS_WITHOUT_COMPANY_QUEUED
from restructure_pipeline.checks.extract import _QUEUED_IDENTITIES_WITHOUT_ONE_CURRENT_ROW
from restructure_pipeline.checks.results import SAMPLE_ROWS, count_and_samples
from restructure_pipeline.checks.scope import QUEUED_BY_THE_RUN, WHOLE_TABLE
from restructure_pipeline.store.staging import queue_everything
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy, write_csv


def _check(pipeline: PipelineRunner, asset: str, name: str) -> dg.AssetCheckEvaluation:
    return pipeline.evaluate_check(asset, name)


def _evaluation(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(evaluation for evaluation in result.get_asset_check_evaluations() if evaluation.check_name == name)


def test_checks_pass_on_a_clean_run_and_fail_on_tampered_data(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@acme.com", "Acme")])
    pipeline.full_refresh()
    assert _check(pipeline, "prospects", "reconciliation").passed

    # Pretend a personal domain slipped through: a live company (with source rows) on gmail.com;
    # and a live company on a malformed domain. A company no current row points at any more
    # (its rows now go elsewhere, e.g. after a suffix list update) is not live: the prospect
    # step retires it, so neither check counts it.
    conn.execute("UPDATE restructure.source_record SET company_domain = 'gmail.com' WHERE customer_id = 'c1'")
    conn.execute("UPDATE restructure.source_record SET company_domain = 'Mail.Acme.COM' WHERE customer_id = 'c2'")
    conn.execute("""UPDATE "Company" SET domain = 'gmail.com'""")
    conn.execute(
        """INSERT INTO "Company" (id, domain, "externalSource", "externalId", "updatedAt")
           VALUES ('cbad', 'Mail.Acme.COM', 'test', 'x', now()), ('cstale', 'acme.doha', 'test', 'y', now()),
                  ('cgone', 'yahoo.com', 'test', 'z', now())"""
    )
    personal = _check(pipeline, "companies", "no_personal_or_disposable_company")
    assert not personal.passed and personal.metadata["problems"].value == 1
    company_id = conn.execute("""SELECT id FROM "Company" WHERE domain = 'gmail.com'""").fetchone()[0]
    assert personal.metadata["samples"].value == [{"id": company_id, "domain": "gmail.com", "kind": "personal"}]
    malformed = _check(pipeline, "companies", "company_domains_unique_and_well_formed")
    assert not malformed.passed and malformed.metadata["malformed_domains"].value == 1
    assert malformed.metadata["samples"].value == [{"problem": "malformed", "domain": "Mail.Acme.COM", "detail": "cbad"}]

    conn.execute('DELETE FROM "Prospect" WHERE id = %s', ("c2",))
    conn.execute(
        """INSERT INTO "Prospect" (id, email, "companyId", "externalSource", "externalId", "updatedAt")
           SELECT 'p-made-up', 'eve@acme.com', id, 'test', 'nowhere', now() FROM "Company" LIMIT 1"""
    )
    reconciliation = _check(pipeline, "prospects", "reconciliation")
    assert not reconciliation.passed
    assert reconciliation.metadata["unaccounted_rows"].value == 1
    assert reconciliation.metadata["prospects_without_source_row"].value == 1
    external_id = conn.execute("""SELECT "externalId" FROM restructure.source_record WHERE customer_id = 'c2'""").fetchone()[0]
    unaccounted, made_up = reconciliation.metadata["samples"].value
    assert (unaccounted["problem"], unaccounted["externalId"], unaccounted["prospect id"]) == ("unaccounted row", external_id, None)
    assert (made_up["problem"], made_up["externalId"], made_up["prospect id"]) == ("prospect without a source row", "nowhere", "p-made-up")

    stale = _check(pipeline, "company_prospect_view", "view_matches_join")
    assert not stale.passed


def test_problems_are_counted_in_the_database_and_only_samples_fetched(conn: psycopg.Connection) -> None:
    problems, samples = count_and_samples(conn, "SELECT n, 'broken' FROM generate_series(1, 100000) AS n")
    assert problems == 100_000
    assert len(samples) == SAMPLE_ROWS and all(problem == "broken" for _, problem in samples)
    assert count_and_samples(conn, "SELECT n FROM generate_series(1, 0) AS n") == (0, [])


def test_a_check_counts_every_problem_and_keeps_only_samples(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    late = [customer(f"late{i:02}", f"p{i}@acme.com", "Acme") for i in range(SAMPLE_ROWS + 5)]
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), *late])
    pipeline.full_refresh()
    # Rows the staging read, lost from staging since.
    conn.execute("DELETE FROM restructure.source_record WHERE customer_id LIKE 'late%'")

    unstaged = _check(pipeline, "customer_extract", "legacy_rows_all_staged")
    assert not unstaged.passed and unstaged.metadata["problems"].value == len(late)
    samples = unstaged.metadata["samples"].value
    assert len(samples) == SAMPLE_ROWS
    assert {sample["problem"] for sample in samples} == {"not staged"}
    assert {sample["id"] for sample in samples} < {row["id"] for row in late}


def test_the_legacy_check_tells_the_apps_writes_since_the_read_from_rows_staging_lost(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(conn, [customer(f"c{i}", f"p{i}@acme.com", "Acme") for i in range(1, 4)])
    pipeline.full_refresh()
    # The legacy app writes on after the staging read "Customer", as it may during a full refresh.
    load_legacy(conn, [customer("c4", "dan@acme.com", "Acme")])
    conn.execute("""DELETE FROM "Customer" WHERE id = 'c2'""")
    conn.execute("""UPDATE "Customer" SET "jobTitle" = 'CEO' WHERE id = 'c3'""")

    written = _check(pipeline, "customer_extract", "legacy_rows_all_staged")
    assert written.passed, written.metadata
    assert (written.metadata["rows_inserted_since_the_read"].value, written.metadata["rows_deleted_since_the_read"].value) == (1, 1)

    # A row the read saw and staging no longer holds is a loss, whatever the app did since.
    conn.execute("DELETE FROM restructure.source_record WHERE customer_id = 'c1'")
    lost = _check(pipeline, "customer_extract", "legacy_rows_all_staged")
    assert not lost.passed and lost.metadata["samples"].value == [{"problem": "not staged", "id": "c1"}]

    result = pipeline.full_refresh()
    staged = _evaluation(result, "legacy_rows_all_staged")
    assert staged.passed
    assert (staged.metadata["rows_inserted_since_the_read"].value, staged.metadata["rows_deleted_since_the_read"].value) == (0, 0)


def test_a_drop_run_checks_what_it_staged_and_is_not_blocked_by_a_later_edit_of_customer(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@acme.com", "Acme")])
    pipeline.full_refresh()
    load_legacy(conn, [customer("c3", "cy@acme.com", "Acme")])  # the legacy app writes on after the staging
    write_csv(drop_dir / "zeta.csv", ["externalId", "email", "company"], [["z-1", "ops@zeta.io", "ZETA Corporation"]])

    drop = pipeline.ingest_drop("zeta.csv")
    legacy = _evaluation(drop, "legacy_rows_all_staged")
    assert legacy.passed and legacy.metadata["note"].value == 'this run did not stage "Customer"'
    assert _evaluation(drop, "one_current_row_per_identity").metadata["identities_checked"].value == QUEUED_BY_THE_RUN
    assert _evaluation(drop, "company_domains_unique_and_well_formed").metadata["companies_checked"].value == QUEUED_BY_THE_RUN
    assert _evaluation(drop, "every_company_domain_has_a_company").metadata["domains_checked"].value == QUEUED_BY_THE_RUN
    staged = drop.asset_materializations_for_node("customer_extract")[0].metadata  # the drop's partition only
    assert "legacy_customer_rows" not in staged and staged["dagster/row_count"].value == 1
    assert "zeta.csv" in staged["staged_rows_by_source"].value and "legacy" not in staged["staged_rows_by_source"].value

    # On its own, the check compares the whole legacy table: the row written after the last
    # staging read "Customer" waits for the next full refresh, and is no staging loss.
    on_its_own = _check(pipeline, "customer_extract", "legacy_rows_all_staged")
    assert on_its_own.passed and on_its_own.metadata["rows_inserted_since_the_read"].value == 1

    # A drop run's identity check looks at the identities the run queued, and only those.
    conn.execute("UPDATE restructure.source_record SET is_current = FALSE WHERE customer_id IN ('c1', 'c2')")
    conn.execute(
        """INSERT INTO restructure.pending_key ("externalSource", "externalId")
           SELECT "externalSource", "externalId" FROM restructure.source_record WHERE customer_id = 'c1'"""
    )
    assert count_and_samples(conn, _QUEUED_IDENTITIES_WITHOUT_ONE_CURRENT_ROW) == (1, [("crm", "ext-c1", 0)])
    assert _check(pipeline, "customer_extract", "one_current_row_per_identity").metadata["problems"].value == 2

    # And a company check at the domains the run queued, and only those.
    conn.execute("UPDATE restructure.source_record SET is_current = TRUE WHERE customer_id IN ('c1', 'c2')")
    conn.execute("UPDATE restructure.source_record SET company_domain = 'queued.com' WHERE customer_id = 'c1'")
    conn.execute("UPDATE restructure.source_record SET company_domain = 'not-queued.com' WHERE customer_id = 'c2'")
    conn.execute("INSERT INTO restructure.pending_domain (domain) VALUES ('queued.com')")
    assert count_and_samples(conn, _DOMAINS_WITHOUT_COMPANY_QUEUED) == (1, [("queued.com",)])
    missing = _check(pipeline, "companies", "every_company_domain_has_a_company")
    assert missing.metadata["problems"].value == 2 and missing.metadata["domains_checked"].value == WHOLE_TABLE
    conn.execute("UPDATE restructure.source_record SET company_domain = 'acme.com' WHERE customer_id IN ('c1', 'c2')")

    pipeline.full_refresh()
    assert conn.execute("""SELECT count(*) FROM "Prospect" WHERE id IN ('c1', 'c2', 'c3')""").fetchone()[0] == 3


def test_a_drop_run_after_an_unfinished_full_refresh_recomputes_and_checks_everything(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@gmail.com", "Acme")])
    pipeline.full_refresh()
    assert conn.execute("SELECT count(*) FROM restructure.pending_everything").fetchone()[0] == 0
    # A full refresh that staged a change and queued everything, then stopped before its company step:
    # one row says "everything", no identity or domain is queued one by one.
    conn.execute("UPDATE restructure.source_record SET industry = 'Robotics' WHERE customer_id = 'c1'")
    queue_everything(conn)
    queued = "SELECT (SELECT count(*) FROM restructure.pending_key) + (SELECT count(*) FROM restructure.pending_domain)"
    assert conn.execute(queued).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM restructure.pending_everything").fetchone()[0] == 1
    write_csv(drop_dir / "zeta.csv", ["externalId", "email", "company"], [["z-1", "ops@zeta.io", "Zeta"]])

    drop = pipeline.ingest_drop("zeta.csv")
    assert drop.success
    # The drop's steps recompute the domain it did not touch, and its checks look at whole tables.
    assert conn.execute("""SELECT industry FROM "Company" WHERE domain = 'acme.com'""").fetchone()[0] == "Robotics"
    assert _evaluation(drop, "one_current_row_per_identity").metadata["identities_checked"].value == WHOLE_TABLE
    assert _evaluation(drop, "company_domains_unique_and_well_formed").metadata["companies_checked"].value == WHOLE_TABLE
    assert _evaluation(drop, "every_company_domain_has_a_company").metadata["domains_checked"].value == WHOLE_TABLE
    linked = conn.execute(
        """SELECT p."externalId", c.domain FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" ORDER BY 1"""
    ).fetchall()
    assert linked == [("ext-c1", "acme.com"), ("ext-c2", "acme.com"), ("z-1", "zeta.io")]
    assert conn.execute(
        queued + " + (SELECT count(*) FROM restructure.pending_everything)"
        " + (SELECT count(*) FROM restructure.pending_source)"
    ).fetchone()[0] == 0


def test_blocking_check_stops_downstream_assets(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    # As if a bug had staged a malformed company domain: the company step makes that company.
    conn.execute("UPDATE restructure.source_record SET company_domain = 'Mail.Acme.COM'")
    result = pipeline.full_refresh(expect_success=False)

    assert not result.success
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert materialized == {"customer_extract", "companies"}


def test_a_company_the_rules_no_longer_give_is_retired_not_blocking(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    # A company left from rules that have changed since (say a suffix dropped from the list):
    # malformed today, and no current row points at it any more.
    conn.execute(
        """INSERT INTO "Company" (id, domain, "externalSource", "externalId", "updatedAt")
           VALUES ('cold', 'acme.doha', 'test', 'x', now())"""
    )
    result = pipeline.full_refresh()

    assert _evaluation(result, "company_domains_unique_and_well_formed").passed
    assert conn.execute('SELECT domain FROM "Company"').fetchall() == [("acme.com",)]


def test_a_domain_turned_personal_is_retired_not_blocking(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme"), customer("c2", "bob@globex.com", "Acme")])
    pipeline.full_refresh()
    pipeline.extra_personal_domains = ["acme.com"]

    pipeline.full_refresh()

    assert conn.execute('SELECT domain FROM "Company"').fetchall() == [("globex.com",)]
    # ann@acme.com now follows the personal rule and joins the one company named "Acme".
    linked = conn.execute(
        'SELECT p.id, c.domain FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" ORDER BY 1'
    ).fetchall()
    assert linked == [("c1", "globex.com"), ("c2", "globex.com")]


def test_view_check_sees_a_changed_value_with_the_same_row_count(conn: psycopg.Connection, pipeline: PipelineRunner) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    assert _check(pipeline, "company_prospect_view", "view_matches_join").passed

    conn.execute("""UPDATE "Company" SET name = 'Renamed'""")  # same rows, one value changed
    stale = _check(pipeline, "company_prospect_view", "view_matches_join")
    assert not stale.passed
    assert stale.metadata["view_rows"].value == stale.metadata["join_rows"].value == 1
    assert stale.metadata["differing_rows"].value == 2  # the old row in the view, the new one in the join
