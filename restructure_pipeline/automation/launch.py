"""Launching runs by code (CLI, tests, schedules): partition registration and run tags."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, FULL_REFRESH, LEGACY_PARTITION, REFRESH_TAG
from restructure_pipeline.sources.drops import discover_drop_files, drop_partition_key

logger = logging.getLogger(__name__)


def keyed_drop_files(drop_dir: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """Each drop file on disk with its partition key, and a warning for each file that can have none."""
    keyed, problems = [], []
    for path in discover_drop_files(drop_dir):
        key = drop_partition_key(path, drop_dir)
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:  # a Latin-1 name (SMB uploads) decodes to surrogates no partition store accepts
            problems.append(f"{os.fsencode(path)!r}: skipped, its name is not valid UTF-8: rename the file to UTF-8")
            continue
        keyed.append((path, key))
    return keyed, problems


def register_sources(instance: dg.DagsterInstance, drop_dir: Path) -> list[str]:
    """Register the legacy source and every drop file on disk as partitions; returns all keys in order."""
    keyed, problems = keyed_drop_files(drop_dir)
    for problem in problems:
        logger.warning(problem)
    wanted = [LEGACY_PARTITION, *(key for _, key in keyed)]
    known = set(instance.get_dynamic_partitions(CUSTOMER_SOURCES.name))
    missing = [key for key in wanted if key not in known]
    if missing:
        instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, missing)
    return list(instance.get_dynamic_partitions(CUSTOMER_SOURCES.name))


def full_refresh_tags(partition_keys: list[str]) -> dict[str, str]:
    """Tags for one full_refresh run over every source partition."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: partition_keys[0],
        ASSET_PARTITION_RANGE_END_TAG: partition_keys[-1],
        REFRESH_TAG: FULL_REFRESH,
    }
