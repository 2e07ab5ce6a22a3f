"""``restructure-pipeline``: local services, the end-to-end demo, and the Dagster UI on them."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from restructure_pipeline.services.opensearch import LocalOpenSearch, LocalOpenSearchError
from restructure_pipeline.services.postgres import EmbeddedPostgres, EmbeddedPostgresError, redact_url


def _postgres_service(action: str, show_secrets: bool) -> None:
    postgres = EmbeddedPostgres.default()
    if action == "up":
        url = postgres.start()
        print(f"Postgres is up on 127.0.0.1:{postgres.port} (data in {postgres.data_dir})")
        print(f"export DATABASE_URL='{url if show_secrets else redact_url(url)}'")
        if not show_secrets:
            print("(password hidden: `restructure-pipeline env` prints the full variables)")
    elif action == "down":
        postgres.stop()
        print("Postgres is stopped (its data is kept).")
    else:
        status = postgres.status()
        state = f"running, pid {status.pid}, port {status.port}" if status.running else "stopped"
        print(f"Postgres: {state} (data in {status.data_dir})")


def _opensearch_service(action: str) -> None:
    opensearch = LocalOpenSearch.default()
    if action == "up":
        url = opensearch.start()
        print(f"OpenSearch is up (data in {opensearch.home})")
        print(f"export OPENSEARCH_URL='{url}'")
    elif action == "down":
        opensearch.stop()
        print("OpenSearch is stopped (its data is kept).")
    else:
        status = opensearch.status()
        state = f"running, pid {status.pid}, port {status.port}" if status.running else "stopped"
        print(f"OpenSearch: {state} (home {status.home})")


def _services(args: argparse.Namespace) -> int:
    if args.only in (None, "postgres"):
        _postgres_service(args.action, args.show_secrets)
    if args.only in (None, "opensearch"):
        _opensearch_service(args.action)
    return 0


def _env(_: argparse.Namespace) -> int:
    from restructure_pipeline.local_setup import prepare_local_environment

    environment = prepare_local_environment(EmbeddedPostgres.default(), LocalOpenSearch.default())
    for name, value in environment.variables().items():
        print(f"export {name}='{value}'")
    return 0


def _search(args: argparse.Namespace) -> int:
    import json

    from restructure_pipeline.resources import opensearch_from_environment
    from restructure_pipeline.search_index.queries import SearchRequest, format_hits
    from restructure_pipeline.search_index.search import run_search

    try:
        request = SearchRequest(
            text=" ".join(args.text) or None, industry=args.industry, country=args.country, state=args.state,
            city=args.city, job_title_level=args.level, department=args.department,
            min_employees=args.min_employees, max_employees=args.max_employees,
            min_revenue=args.min_revenue, max_revenue=args.max_revenue, domain=args.domain, size=args.size,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not os.environ.get("OPENSEARCH_URL"):
        opensearch = LocalOpenSearch.default()
        if not opensearch.status().running:
            print("error: set OPENSEARCH_URL, or start the local node with `restructure-pipeline services up`",
                  file=sys.stderr)
            return 2
        os.environ["OPENSEARCH_URL"] = opensearch.url
    resource = opensearch_from_environment()
    results = run_search(resource.client(), request, prefix=resource.index_prefix)
    if args.json:
        print(json.dumps(
            {result.kind: {"alias": result.alias, "total": result.total,
                           "hits": [{"id": hit["_id"], **hit["_source"]} for hit in result.hits]}
             for result in results},
            indent=2, default=str,
        ))
        return 0
    for result in results:
        print(f"{result.total} match(es) in {result.alias}:")
        print(format_hits(result.hits, kind=result.kind))
    return 0


def _index(args: argparse.Namespace) -> int:
    from restructure_pipeline.resources import opensearch_from_environment, postgres_from_environment
    from restructure_pipeline.search_index.indices import live_indices, rollback
    from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS
    from restructure_pipeline.search_index.naming import alias_name, versions_of
    from restructure_pipeline.store.search_sync import forget_sync_state

    resource = opensearch_from_environment()
    client = resource.client()
    names = [args.name] if args.name else [definition.logical_name for definition in INDEX_DEFINITIONS]
    for name in names:
        alias = alias_name(name, resource.index_prefix)
        if args.action == "rollback":
            target = rollback(client, alias, args.to)
            with postgres_from_environment().connect() as conn:
                forget_sync_state(conn, alias)
            print(f"{alias} -> {target} (the next pipeline run rebuilds {alias} from Postgres)")
        else:
            versions = versions_of(alias, client.indices.get(index=f"{alias}-*", expand_wildcards="all").keys())
            print(f"{alias}: live {', '.join(live_indices(client, alias)) or 'none'}; versions {', '.join(versions)}")
    return 0


def _legacy(args: argparse.Namespace) -> int:
    from restructure_pipeline.resources import postgres_from_environment
    from restructure_pipeline.store.legacy_backup import (
        LegacyBackupError,
        list_legacy_backups,
        restore_legacy_customer,
    )

    with postgres_from_environment().connect() as conn:
        if args.action == "backups":
            backups = list_legacy_backups(conn)
            for backup in backups:
                print(
                    f"{backup.name}  {backup.created_at:%Y-%m-%d %H:%M:%S} UTC  {backup.row_count} rows  "
                    f"checksum {backup.checksum}"
                    + ("" if backup.archive_exists else "  (archive table gone)")
                    + (f"  dump {backup.dump_path}" if backup.dump_path else "")
                    + (f"  restored {backup.restored_at:%Y-%m-%d %H:%M:%S}" if backup.restored_at else "")
                )
            if not backups:
                print('No backups of "Customer" (cleanup_legacy has not run).')
            return 0
        try:
            restored = restore_legacy_customer(conn, args.backup)
        except LegacyBackupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    print(
        f'Restored "Customer" from {restored.backup_name}: {restored.row_count} rows, '
        f"checksum {restored.checksum} verified; indexes {', '.join(restored.indexes)}"
    )
    return 0


def _bench(args: argparse.Namespace) -> int:
    from benchmarks.harness import main as benchmark_main

    return benchmark_main(["--rows", str(args.rows), "--seed", str(args.seed), *(["--out", args.out] if args.out else [])])


def _demo(args: argparse.Namespace) -> int:
    from restructure_pipeline.demo import run_demo

    return run_demo(rows=args.rows, seed=args.seed)


def _ui(args: argparse.Namespace) -> int:
    from restructure_pipeline.local_setup import prepare_local_environment
    from restructure_pipeline.settings import PROJECT_ROOT

    environment = prepare_local_environment(EmbeddedPostgres.default(), LocalOpenSearch.default())
    environment.apply()
    command = ["dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(args.port)]
    print(f"Dagster UI on http://127.0.0.1:{args.port} (Ctrl-C stops it)", flush=True)
    os.execvp(command[0], command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restructure-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    services = commands.add_parser("services", help="start, stop or inspect the embedded Postgres and OpenSearch")
    services.add_argument("action", choices=["up", "down", "status"])
    services.add_argument("--only", choices=["postgres", "opensearch"], help="act on one service only")
    services.add_argument("--show-secrets", action="store_true", help="print DATABASE_URL with its password")
    services.set_defaults(handler=_services)

    env = commands.add_parser("env", help="print the environment variables of the embedded setup (with secrets)")
    env.set_defaults(handler=_env)

    demo = commands.add_parser("demo", help="generate a legacy Customer table and run the whole pipeline on it")
    demo.add_argument("--rows", type=int, default=5000, help="legacy Customer rows to generate (default 5000)")
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(handler=_demo)

    search = commands.add_parser("search", help="search people and companies in the OpenSearch aliases")
    search.add_argument("text", nargs="*", help="free text: person names, job titles, company names (typos ok)")
    search.add_argument("--industry")
    search.add_argument("--country")
    search.add_argument("--state")
    search.add_argument("--city")
    search.add_argument("--level", help="job title level, e.g. C-Level, Director")
    search.add_argument("--department")
    search.add_argument("--min-employees", type=int)
    search.add_argument("--max-employees", type=int)
    search.add_argument("--min-revenue", type=int)
    search.add_argument("--max-revenue", type=int)
    search.add_argument("--domain", help="a company by its domain (an email or URL works too)")
    search.add_argument("--size", type=int, default=10)
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.set_defaults(handler=_search)

    index = commands.add_parser("index", help="show the aliases' versions, or roll one back")
    index.add_argument("action", choices=["status", "rollback"])
    index.add_argument("name", nargs="?", choices=["companies", "prospects", "company_prospect_view"],
                       help="one logical index (rollback needs it)")
    index.add_argument("--to", help="the version to roll back to (default: the previous one)")
    index.set_defaults(handler=_index)

    legacy = commands.add_parser("legacy", help='list the backups of "Customer", or restore it (rollback of cleanup)')
    legacy.add_argument("action", choices=["backups", "restore"])
    legacy.add_argument("--backup", help="the backup to restore (default: the newest)")
    legacy.set_defaults(handler=_legacy)

    bench = commands.add_parser("bench", help="benchmark full_refresh and a 1%% drop against same-run baselines")
    bench.add_argument("--rows", type=int, default=1_000_000)
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--out", help="report folder (default benchmarks/results)")
    bench.set_defaults(handler=_bench)

    ui = commands.add_parser("ui", help="open the Dagster UI (dagster dev) on the embedded setup")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(handler=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "index" and args.action == "rollback" and not args.name:
        print("error: name the index to roll back (companies, prospects or company_prospect_view)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        code = args.handler(args)
    except (EmbeddedPostgresError, LocalOpenSearchError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "demo":
        print(f"Done in {time.perf_counter() - started:.1f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
