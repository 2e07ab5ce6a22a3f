"""Screenshots of the Dagster UI after a real ``full_refresh``, for ``docs/ui.md``.

Runs the same setup as ``restructure_pipeline_tests/integration/test_dagster_ui.py``: its own
embedded Postgres and OpenSearch (temporary state folder, free ports), a generated legacy
``"Customer"`` table, ``dagster dev`` (webserver and daemon), one ``full_refresh`` launched
over GraphQL; then headless Chromium captures

- ``docs/asset-graph.png``: the global asset lineage (``/asset-groups``, groups expanded);
- ``docs/materialization.png``: the latest materialization of ``prospects`` with its metadata
  (``/assets/prospects?view=events``).

Needs Chromium (Debian: ``apt-get install -y chromium``). Everything is stopped at the end.

    .venv/bin/python tools/take_ui_screenshots.py [--out-dir docs] [--rows 800]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from restructure_pipeline_tests.integration.dagster_dev import (  # noqa: E402
    DagsterDev,
    dagster_dev,
    embedded_setup,
)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
APT_HINT = "apt-get update && apt-get install -y chromium"


def find_chromium(explicit: str | None) -> str:
    for name in ([explicit] if explicit else CHROMIUM_NAMES):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit(f"error: no Chromium found ({', '.join(CHROMIUM_NAMES)}); on Debian: {APT_HINT}")


def _chromium(chromium: str, action: list[str], url: str, size: tuple[int, int], budget_ms: int) -> str:
    """One headless page load of ``url`` with ``budget_ms`` of virtual time for the app to settle."""
    profile = tempfile.mkdtemp(prefix="restructure-chromium-")
    try:
        completed = subprocess.run(
            [
                chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                f"--virtual-time-budget={budget_ms}", *action, url,
            ],
            capture_output=True, text=True, timeout=180,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if completed.returncode != 0:
        raise RuntimeError(f"chromium exited {completed.returncode} on {url}:\n{completed.stderr[-2000:]}")
    return completed.stdout


def capture(
    chromium: str, url: str, target: Path, expected: list[str], *, size: tuple[int, int], budget_ms: int
) -> None:
    """Screenshot ``url`` once the rendered page contains every ``expected`` text (more time if not)."""
    for attempt in range(3):
        budget = budget_ms * (attempt + 1)
        dom = _chromium(chromium, ["--dump-dom"], url, size, budget)
        missing = [text for text in expected if text not in dom]
        if not missing:
            _chromium(chromium, [f"--screenshot={target}"], url, size, budget)
            if target.is_file() and target.stat().st_size > 0:
                print(f"wrote {target} ({target.stat().st_size // 1024} KiB) from {url}")
                return
        print(f"  {url}: not rendered yet (missing {missing}) with {budget} ms; retrying", flush=True)
    raise RuntimeError(f"{url} never rendered {expected}")


def dismiss_community_dialog(dev: DagsterDev) -> None:
    """``dagster dev`` greets 127.0.0.1 visitors with a newsletter dialog; its Skip button calls this."""
    dev.graphql("mutation SetNuxSeen { setNuxSeen }")


def asset_groups(dev: DagsterDev) -> list[str]:
    nodes = dev.graphql("query Groups { assetNodes { groupName } }")["assetNodes"]
    return sorted({node["groupName"] for node in nodes if node["groupName"]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=PROJECT_ROOT / "docs")
    parser.add_argument("--rows", type=int, default=800, help="legacy Customer rows to generate (default 800)")
    parser.add_argument("--asset", default="prospects", help="asset whose materialization page is captured")
    parser.add_argument("--chromium", help=f"the Chromium executable (default: first of {', '.join(CHROMIUM_NAMES)} on PATH)")
    parser.add_argument("--budget-ms", type=int, default=15000, help="virtual time given to the UI per page load")
    args = parser.parse_args(argv)

    chromium = find_chromium(args.chromium)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with embedded_setup(rows=args.rows) as setup, dagster_dev(setup.environment) as dev:
        print(f"dagster dev is up on {dev.base_url} ({time.monotonic() - started:.0f} s)", flush=True)
        run_id = dev.launch_full_refresh()
        status = dev.wait_for_run(run_id)
        if status != "SUCCESS":
            print(f"error: full_refresh run {run_id} ended {status}:\n{dev.failure_report(run_id)}", file=sys.stderr)
            return 1
        print(f"full_refresh {run_id} succeeded ({time.monotonic() - started:.0f} s)", flush=True)
        dismiss_community_dialog(dev)

        # The global lineage collapses groups when there are several; ?expanded= opens them.
        expanded = ",".join(f"global@global:{group}" for group in asset_groups(dev))
        capture(
            chromium, f"{dev.base_url}/asset-groups?expanded={quote(expanded, safe='')}",
            # Wide enough for the graph to zoom to full node cards (latest event, checks passed).
            args.out_dir / "asset-graph.png", ["Global asset lineage", "customer_extract", "Passed"],
            size=(2200, 900), budget_ms=args.budget_ms,
        )
        capture(
            chromium, f"{dev.base_url}/assets/{quote(args.asset)}?view=events",
            args.out_dir / "materialization.png", ["Materialized in run", run_id[:8], "dagster/row_count"],
            size=(1600, 1150), budget_ms=args.budget_ms,
        )
    print(f"done in {time.monotonic() - started:.0f} s; services and dagster dev are stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
