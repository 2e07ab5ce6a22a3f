"""Random sequences of drops, reruns and full refreshes end where one clean full refresh ends."""

from __future__ import annotations

import random
from pathlib import Path

import psycopg
import pytest

from restructure_pipeline.automation.partitions import CUSTOMER_SOURCES, LEGACY_PARTITION
from restructure_pipeline.resources import OpenSearchResource
from restructure_pipeline.sample_data import (
    create_legacy_table,
    generate_customers,
    generate_drop,
    load_customers,
    write_drop_csv,
)
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.test_automation import _state

DROPS = 4


@pytest.mark.parametrize("seed", [1, 2])
def test_random_sequence_converges_to_one_clean_full_refresh(
    seed: int, embedded_postgres, conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch
) -> None:
    rng = random.Random(seed)
    legacy = generate_customers(800, seed=seed)
    create_legacy_table(conn)
    load_customers(conn, legacy)
    drops = {
        f"drop{number}.csv": generate_drop(40, seed=seed * 100 + number, existing=legacy,
                                           missing_external_id_fraction=0.05)
        for number in range(DROPS)
    }
    keys = sorted(drops)

    # A random plan: each drop ingested once in a random order, with reruns and full refreshes mixed in.
    order = rng.sample(keys, len(keys))
    pipeline.instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, [LEGACY_PARTITION])
    pipeline.full_refresh() if rng.random() < 0.5 else pipeline.ingest_drop(LEGACY_PARTITION)
    done: list[str] = []
    for key in order:
        write_drop_csv(drop_dir / key, drops[key])  # a drop arrives
        pipeline.instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, [key])
        pipeline.ingest_drop(key)
        done.append(key)
        action = rng.choice(["nothing", "rerun", "full", "earlier"])
        if action == "rerun":
            pipeline.ingest_drop(key)
        elif action == "full":
            pipeline.full_refresh()
        elif action == "earlier":
            pipeline.ingest_drop(rng.choice(done))
    final = _state(conn)

    # The twin sees the same inputs once, with the drops registered in the order they arrived.
    twin_url = embedded_postgres.ensure_database(f"convergence_twin_{seed}")
    try:
        with psycopg.connect(twin_url, autocommit=True) as twin:
            create_legacy_table(twin)
            load_customers(twin, legacy)
            runner = PipelineRunner(
                database_url=twin_url, drop_dir=drop_dir,
                # A new resource: Dagster rebuilds resources from their config, so model_copy would not stick.
                opensearch=OpenSearchResource(**{**opensearch.model_dump(), "index_prefix": f"{opensearch.index_prefix}twin{seed}_"}),
            )
            runner.instance.add_dynamic_partitions(CUSTOMER_SOURCES.name, [LEGACY_PARTITION, *order])
            runner.full_refresh()
            clean = _state(twin)
    finally:
        embedded_postgres.drop_database(f"convergence_twin_{seed}")
    for part in ("companies", "prospects", "quarantine", "view"):
        differing = sorted(set(final[part]) ^ set(clean[part]), key=str)
        assert final[part] == clean[part], (part, differing[:6])
