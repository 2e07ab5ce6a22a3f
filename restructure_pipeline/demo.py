"""The end-to-end demo on the embedded setup: sample legacy data, a drop, the whole graph.

Resets the demo database, generates a ``"Customer"`` table with the hard cases of the
identity rules, runs ``full_refresh`` over it (Postgres and the three OpenSearch indices),
then ingests one CSV drop as its own partition, prints what came out (companies,
prospects, quarantine, checks) and runs a sample search.
"""

from __future__ import annotations

import dagster as dg
import psycopg

from restructure_pipeline.automation.launch import full_refresh_tags, register_sources
from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES
from restructure_pipeline.local_setup import prepare_local_environment
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline.services.opensearch import LocalOpenSearch
from restructure_pipeline.services.postgres import EmbeddedPostgres
from restructure_pipeline.sources.drops import drop_partition_key

DEMO_DROP_NAME = "demo_drop.csv"
# Dagster logs every step event at DEBUG; the demo shows the pipeline's own INFO lines.
_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def check_outcomes(result: dg.ExecuteInProcessResult) -> list[tuple[str, str, bool]]:
    """(asset, check, passed) for every check evaluated in a run."""
    outcomes = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            outcomes.append((evaluation.asset_key.to_user_string(), evaluation.check_name, evaluation.passed))
    return outcomes


def _print_summary(database_url: str, outcomes: list[tuple[str, str, bool]]) -> None:
    with psycopg.connect(database_url) as conn:
        companies = conn.execute('SELECT count(*) FROM "Company"').fetchone()[0]
        prospects = conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0]
        view_rows = conn.execute("SELECT count(*) FROM company_prospect_view").fetchone()[0]
        staged = conn.execute("SELECT count(*) FROM restructure.source_record").fetchone()[0]
        reasons = conn.execute(
            "SELECT reason, count(*) FROM restructure.customer_quarantine GROUP BY reason ORDER BY 2 DESC"
        ).fetchall()
        largest = conn.execute(
            'SELECT c.domain, c.name, count(p.id) FROM "Company" c JOIN "Prospect" p ON p."companyId" = c.id '
            "GROUP BY c.id ORDER BY 3 DESC, 1 LIMIT 5"
        ).fetchall()
    quarantined = sum(count for _, count in reasons)
    print()
    print(f"Input rows staged:   {staged}")
    print(f"Companies:           {companies}")
    print(f"Prospects:           {prospects}")
    print(f"Quarantined:         {quarantined}")
    for reason, count in reasons:
        print(f"  {reason:<28} {count}")
    print(f"View rows:           {view_rows}")
    print("Largest companies:")
    for domain, name, count in largest:
        print(f"  {domain:<28} {name or '':<30} {count} prospects")
    passed = sum(1 for *_, ok in outcomes if ok)
    print(f"Checks:              {passed} passed, {len(outcomes) - passed} failed")
    for asset, check, ok in outcomes:
        if not ok:
            print(f"  FAILED {asset}.{check}")


def _print_sample_search(opensearch_url: str) -> None:
    from restructure_pipeline.resources import OpenSearchResource
    from restructure_pipeline.search_index.queries import SearchRequest, format_hits
    from restructure_pipeline.search_index.search import run_search

    request = SearchRequest(text="acme", size=3)
    print('\nSample search: restructure-pipeline search acme --size 3')
    for result in run_search(OpenSearchResource(url=opensearch_url).client(), request):
        print(f"{result.total} match(es) in {result.alias}:")
        print(format_hits(result.hits, kind=result.kind))


def run_demo(rows: int, seed: int) -> int:
    environment = prepare_local_environment(EmbeddedPostgres.default(), LocalOpenSearch.default(), reset_demo_database=True)
    environment.apply()
    print(f"Generating {rows} legacy Customer rows...", flush=True)
    legacy = generate_customers(rows, seed=seed)
    with psycopg.connect(environment.database_url, autocommit=True) as conn:
        create_legacy_table(conn)
        load_customers(conn, legacy)
    drop_path = environment.drop_dir / DEMO_DROP_NAME
    drop_path.unlink(missing_ok=True)

    # Imported late: the code location reads its resources from the environment set above.
    from restructure_pipeline.definitions import defs

    instance = dg.DagsterInstance.get()
    instance.delete_dynamic_partition(CUSTOMER_SOURCES.name, drop_partition_key(drop_path, environment.drop_dir))
    keys = register_sources(instance, environment.drop_dir)
    print(f"Running full_refresh over {len(keys)} source partition(s)...", flush=True)
    full = defs.resolve_job_def("full_refresh").execute_in_process(
        instance=instance, tags=full_refresh_tags(keys), run_config=_RUN_CONFIG, raise_on_error=False
    )
    outcomes = check_outcomes(full)

    write_drop_csv(drop_path, generate_drop(max(rows // 50, 10), seed=seed + 1, existing=legacy))
    key = drop_partition_key(drop_path, environment.drop_dir)
    register_sources(instance, environment.drop_dir)
    print(f"Running ingest_drop for partition {key!r}...", flush=True)
    drop = defs.resolve_job_def("ingest_drop").execute_in_process(
        instance=instance, partition_key=key, run_config=_RUN_CONFIG, raise_on_error=False
    )
    outcomes += check_outcomes(drop)

    _print_summary(environment.database_url, outcomes)
    _print_sample_search(environment.opensearch_url)
    ok = full.success and drop.success and all(passed for *_, passed in outcomes)
    print(f"\nDagster runs are stored in {environment.dagster_home}; open them with `restructure-pipeline ui`.")
    return 0 if ok else 1
