"""Building check results with the offending samples attached."""

from collections.abc import Sequence

import dagster as dg
import psycopg

SAMPLE_ROWS = 10


def check_result(
    problems: int, samples: Sequence[Sequence[object]] = (), sample_headers: Sequence[str] = (), **metadata: object
) -> dg.AssetCheckResult:
    """Passed when ``problems`` is zero; otherwise an ERROR with up to ``SAMPLE_ROWS`` samples."""
    values: dict[str, object] = {"problems": problems, **metadata}
    if samples:
        values["samples"] = dg.MetadataValue.json(
            [
                dict(zip(sample_headers, (None if v is None else str(v) for v in row), strict=True))
                for row in samples[:SAMPLE_ROWS]
            ]
        )
    return dg.AssetCheckResult(passed=problems == 0, severity=dg.AssetCheckSeverity.ERROR, metadata=values)


def count_and_samples(conn: psycopg.Connection, problem_rows_sql: str) -> tuple[int, list[tuple[object, ...]]]:
    """How many rows ``problem_rows_sql`` returns, and the first ``SAMPLE_ROWS`` of them.

    A broken table can have millions of problem rows; the client never holds more than the
    samples, which are fetched only when there is a problem."""
    problems = conn.execute(f"SELECT count(*) FROM ({problem_rows_sql}) AS problem").fetchone()[0]
    if not problems:
        return 0, []
    return problems, conn.execute(f"SELECT * FROM ({problem_rows_sql}) AS problem LIMIT {SAMPLE_ROWS}").fetchall()
