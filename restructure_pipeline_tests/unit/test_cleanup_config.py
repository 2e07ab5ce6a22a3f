"""``cleanup_legacy``'s pure parts: the confirmation, the backup names, the check list, the DDL used by restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import dagster as dg
import pytest

from restructure_pipeline.automation.cleanup import (
    CONFIRMATION_PHRASE,
    DropLegacyConfig,
    cleanup_legacy,
    confirmation_problem,
    pipeline_check_keys,
)
from restructure_pipeline.sample_data import LEGACY_CUSTOMER_DDL_STATEMENTS
from restructure_pipeline.store.legacy_backup import (
    LEGACY_COLUMN_TYPES,
    LegacyBackupError,
    _strict,
    archive_name,
    archive_table,
)


def test_only_the_exact_phrase_confirms() -> None:
    assert CONFIRMATION_PHRASE == 'DROP "Customer"'
    assert confirmation_problem('DROP "Customer"') is None
    for attempt in ("", "yes", "true", "DROP Customer", 'drop "customer"', ' DROP "Customer"', 'DROP "Customer";'):
        problem = confirmation_problem(attempt)
        assert problem is not None and problem.startswith('Refusing to drop "Customer"')
        assert 'confirm to exactly DROP "Customer"' in problem
    assert "no confirmation was given" in confirmation_problem("")
    assert "got 'yes'" in confirmation_problem("yes")


def test_the_confirmation_is_a_phrase_with_no_confirming_default() -> None:
    assert DropLegacyConfig().confirm == ""
    assert confirmation_problem(DropLegacyConfig().confirm) is not None
    assert DropLegacyConfig().dump_dir == ""  # the archive table is the backup unless a dump folder is given


def test_job_shape_is_verify_then_drop_and_manual() -> None:
    assert cleanup_legacy.name == "cleanup_legacy"
    assert sorted(node.name for node in cleanup_legacy.nodes) == ["drop_legacy_customer_table", "verify_checks_passed"]
    assert cleanup_legacy.tags["restructure/manual"] == "true"
    dependencies = cleanup_legacy.dependency_structure.input_to_upstream_outputs_for_node("drop_legacy_customer_table")
    assert [output.node.name for outputs in dependencies.values() for output in outputs] == ["verify_checks_passed"]


def test_every_check_of_the_pipeline_is_required() -> None:
    keys = {key.to_user_string() for key in pipeline_check_keys()}
    assert len(keys) == 20
    assert {"customer_extract:legacy_rows_all_staged", "prospects:reconciliation",
            "company_prospect_view:view_matches_join", "opensearch_prospects:sample_matches_postgres"} <= keys


def test_archive_names_are_utc_timestamped_and_safe_identifiers() -> None:
    moment = datetime(2026, 11, 26, 5, 15, 2, tzinfo=timezone(timedelta(hours=1)))
    assert archive_name(moment, "1A2B3C4D-5e6f") == "customer_archive_20261126t041502z_1a2b3c4d"
    generated = archive_name(datetime(2026, 1, 1, tzinfo=UTC))
    assert generated.startswith("customer_archive_20260101t000000z_") and len(generated) == len("customer_archive_20260101t000000z_") + 8
    assert archive_table("customer_archive_20261126t041502z_1a2b3c4d").as_string() == (
        '"restructure"."customer_archive_20261126t041502z_1a2b3c4d"'
    )
    for bad in ("Customer", "customer_archive_X", 'customer_archive_1"; drop table x', "customer_archive_" + "a" * 60):
        with pytest.raises(LegacyBackupError):
            archive_table(bad)


def test_restore_uses_the_prisma_ddl_without_if_not_exists() -> None:
    strict = [_strict(statement) for statement in LEGACY_CUSTOMER_DDL_STATEMENTS]
    assert strict[0].startswith('CREATE TABLE "Customer" (')
    assert strict[1].startswith('CREATE UNIQUE INDEX "Customer_externalSource_externalId_key" ON "Customer"')
    assert strict[2] == 'CREATE INDEX "Customer_email_idx" ON "Customer"("email")'
    assert all("IF NOT EXISTS" not in statement for statement in strict)
    assert LEGACY_COLUMN_TYPES[0] == ("id", "text") and LEGACY_COLUMN_TYPES[-1] == ("updatedAt", "timestamp(3) without time zone")
    assert ("revenue", "bigint") in LEGACY_COLUMN_TYPES and ("minEmployeeSize", "integer") in LEGACY_COLUMN_TYPES


def test_job_config_in_yaml_form_is_accepted() -> None:
    config = {"ops": {"drop_legacy_customer_table": {"config": {"confirm": CONFIRMATION_PHRASE, "dump_dir": "/backups"}}}}
    assert dg.validate_run_config(cleanup_legacy, config) is not None
