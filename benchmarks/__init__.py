"""The benchmark of issue 5: ``run_benchmark(rows, out_dir=...)`` and its report (see README.md here).

Nothing is imported eagerly, so ``python -m benchmarks.harness`` runs the module once.
"""

from __future__ import annotations

__all__ = ["main", "run_benchmark"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from benchmarks import harness

        return getattr(harness, name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
