"""Materialization metadata shared by the assets: table schemas and Markdown previews."""

from collections.abc import Sequence

import dagster as dg
import psycopg

from restructure_pipeline.identity.index_limits import VALUE_LIMITS
from restructure_pipeline.identity.reasons import QuarantineReason

# Staging moves a value too long to index into rejected_values under its field name; numbers
# that did not parse are there too, but never under one of the indexed input columns.
_VALUES_TOO_LONG = """
SELECT q.source, coalesce('line ' || q.line, 'id ' || q.source_ref) AS row, f.key, octet_length(f.value)
FROM restructure.customer_quarantine q
JOIN restructure.source_record s ON s.source = q.source AND s.source_ref = q.source_ref
CROSS JOIN LATERAL jsonb_each_text(s.rejected_values) f
WHERE q.reason = %(reason)s AND f.key = ANY(%(columns)s) AND f.value IS NOT NULL
ORDER BY q.source, q.line, q.source_ref, f.key
LIMIT %(rows)s
"""


def table_schema(conn: psycopg.Connection, schema: str, table: str) -> dg.TableSchema:
    """The live column list of a table or materialized view, read from the catalog."""
    rows = conn.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (schema, table),
    ).fetchall()
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=type_name, constraints=dg.TableColumnConstraints(nullable=not not_null))
            for name, type_name, not_null in rows
        ]
    )


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> dg.MarkdownMetadataValue:
    def cell(value: object) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def quarantine_by_reason(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reason, count(*) FROM restructure.customer_quarantine GROUP BY reason ORDER BY reason"
    ).fetchall()
    return dict(rows)


def values_too_long(conn: psycopg.Connection, rows: int = 20) -> list[tuple[str, str, str, int]]:
    """(source, ``line N`` or ``id X``, column, bytes) of rows quarantined as ``value_too_long``, a sample.

    The quarantine row itself says only the reason; this names the column and its size.
    """
    return conn.execute(
        _VALUES_TOO_LONG,
        {"reason": QuarantineReason.VALUE_TOO_LONG.value, "columns": list(VALUE_LIMITS), "rows": rows},
    ).fetchall()
