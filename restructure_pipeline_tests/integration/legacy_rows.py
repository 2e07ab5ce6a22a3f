"""Small, hand-written legacy ``"Customer"`` rows for tests that need exact expectations."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import psycopg

from restructure_pipeline.sample_data import CUSTOMER_COLUMNS, create_legacy_table, load_customers

_BASE = datetime(2024, 1, 1)


def customer(id: str, email: str | None, company: str | None = None, *, minutes: int = 0, **fields: object) -> dict:
    """A Customer row; unspecified fields are null, timestamps spread by ``minutes``."""
    row: dict[str, object] = dict.fromkeys(CUSTOMER_COLUMNS)
    row.update(
        id=id, email=email, company=company, externalSource="crm", externalId=f"ext-{id}",
        createdAt=_BASE + timedelta(minutes=minutes), updatedAt=_BASE + timedelta(minutes=minutes, seconds=30),
    )
    row.update(fields)
    return row


def load_legacy(conn: psycopg.Connection, rows: list[dict]) -> None:
    create_legacy_table(conn)
    frame = pl.DataFrame(rows, schema=_schema(), orient="row") if rows else pl.DataFrame(schema=_schema())
    load_customers(conn, frame)


def _schema() -> dict[str, pl.DataType]:
    types: dict[str, pl.DataType] = dict.fromkeys(CUSTOMER_COLUMNS, pl.Utf8)
    types.update(minEmployeeSize=pl.Int32, maxEmployeeSize=pl.Int32, revenue=pl.Int64)
    types.update(createdAt=pl.Datetime("ms"), updatedAt=pl.Datetime("ms"))
    return types


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
