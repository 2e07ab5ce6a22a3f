"""Run ``full_refresh`` (or ``ingest_drop``) in a process of its own, so a fault test can SIGKILL it mid-write.

    DATABASE_URL=postgresql://... python -m restructure_pipeline_tests.integration.run_in_subprocess \\
        --drop-dir DIR --opensearch-url http://127.0.0.1:PORT --index-prefix t1_ --dagster-home DIR \\
        [--job ingest_drop --partition day2.csv] [--bulk-chunk-docs N] [--nice N]

The run is configured exactly as the tests' in-process :class:`PipelineRunner` does it (same
resources and settings), on a persistent temporary Dagster instance in ``--dagster-home``.
The password travels in the environment, never on the command line. Prints ``READY`` once
imports are done, then, when the run ends, one JSON line ``{"success": ..., "failures": [...]}``;
exits 0 when the run succeeded, 1 when it failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drop-dir", required=True, type=Path)
    parser.add_argument("--opensearch-url", required=True)
    parser.add_argument("--index-prefix", required=True)
    parser.add_argument("--dagster-home", required=True, type=Path)
    parser.add_argument("--bulk-chunk-docs", type=int, default=500)
    parser.add_argument("--job", choices=["full_refresh", "ingest_drop"], default="full_refresh")
    parser.add_argument("--partition", help="the drop partition of an ingest_drop run")
    parser.add_argument("--nice", type=int, default=0, help="lower the process' CPU priority by this much")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)

    import dagster as dg

    from restructure_pipeline.resources import OpenSearchResource
    from restructure_pipeline_tests.integration.conftest import PipelineRunner

    args.dagster_home.mkdir(parents=True, exist_ok=True)
    runner = PipelineRunner(
        database_url=os.environ["DATABASE_URL"],
        drop_dir=args.drop_dir,
        opensearch=OpenSearchResource(
            url=args.opensearch_url, index_prefix=args.index_prefix, replicas=0, bulk_chunk_docs=args.bulk_chunk_docs
        ),
        instance=dg.DagsterInstance.local_temp(tempdir=str(args.dagster_home)),
    )
    print("READY", flush=True)
    if args.job == "full_refresh":
        result = runner.full_refresh(expect_success=False)
    else:
        result = runner.ingest_drop(args.partition, expect_success=False)
    failures = [
        f"{event.step_key}: {event.event_specific_data.error.to_string()}"
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]
    print(json.dumps({"success": result.success, "failures": failures}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
