"""The drop registry ``restructure.drop_file``: when each drop was first seen, and its order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg


@dataclass(frozen=True)
class DropRegistration:
    partition_key: str
    seq: int
    registered_at: datetime
    is_new: bool


def drop_registration(conn: psycopg.Connection, partition_key: str) -> DropRegistration:
    """The drop's sequence and registration time; a new drop gets the next ones (not yet saved).

    The time is the clock's, not the transaction's start: a full refresh stages all its
    drops in one transaction, and they must still arrive one after the other (the time
    stands in for the ``updatedAt`` a drop does not give, which orders versions).
    """
    row = conn.execute(
        "SELECT seq, registered_at FROM restructure.drop_file WHERE partition_key = %s", (partition_key,)
    ).fetchone()
    if row:
        return DropRegistration(partition_key, row[0], row[1], is_new=False)
    seq, now = conn.execute(
        "SELECT nextval('restructure.drop_file_seq'), date_trunc('milliseconds', clock_timestamp() AT TIME ZONE 'UTC')"
    ).fetchone()
    return DropRegistration(partition_key, seq, now, is_new=True)


def save_drop(
    conn: psycopg.Connection, registration: DropRegistration, path: str, size_bytes: int, sha256: str, row_count: int
) -> None:
    conn.execute(
        """
        INSERT INTO restructure.drop_file
            (partition_key, seq, path, size_bytes, sha256, registered_at, last_ingested_at, row_count)
        VALUES (%s, %s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC', %s)
        ON CONFLICT (partition_key) DO UPDATE
        SET path = EXCLUDED.path, size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256,
            last_ingested_at = EXCLUDED.last_ingested_at, row_count = EXCLUDED.row_count
        """,
        (registration.partition_key, registration.seq, path, size_bytes, sha256, registration.registered_at, row_count),
    )
