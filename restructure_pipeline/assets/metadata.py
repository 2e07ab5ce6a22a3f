"""Materialization metadata shared by the assets: table schemas and Markdown previews."""

from collections.abc import Sequence

import dagster as dg
import psycopg


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
    return {reason: count for reason, count in rows}
