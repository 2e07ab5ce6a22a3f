"""Building check results with the offending samples attached."""

from collections.abc import Sequence

import dagster as dg

SAMPLE_ROWS = 10


def check_result(
    problems: int, samples: Sequence[Sequence[object]] = (), sample_headers: Sequence[str] = (), **metadata: object
) -> dg.AssetCheckResult:
    """Passed when ``problems`` is zero; otherwise an ERROR with up to ``SAMPLE_ROWS`` samples."""
    values: dict[str, object] = {"problems": problems, **metadata}
    if samples:
        values["samples"] = dg.MetadataValue.json(
            [dict(zip(sample_headers, (None if v is None else str(v) for v in row))) for row in samples[:SAMPLE_ROWS]]
        )
    return dg.AssetCheckResult(passed=problems == 0, severity=dg.AssetCheckSeverity.ERROR, metadata=values)
