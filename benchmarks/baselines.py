"""The same-run baselines of issue 5, on the benchmark's own rows and services.

Each function times one peer of a pipeline stage and returns plain numbers; nothing here
touches the pipeline's tables except by reading them. The baselines' own tables live in
schema ``bench_baseline`` (dropped by :func:`drop_baseline_schema`), their indices are
named ``bench_raw_*`` (deleted after use).

(a) :func:`copy_into_bare_table`: ``COPY "Customer" TO STDOUT`` streamed through the
    client into ``COPY bench_baseline.customer_bare FROM STDIN`` (binary format, a second
    connection): every legacy row leaves Postgres and comes back into an unindexed table,
    which is the least I/O any restructure that works outside the database must do.
    ``INSERT ... SELECT`` inside the server is timed too, as a reference.
(b) :func:`sql_restructure`: what a user would write instead of the pipeline, inside
    Postgres: domain = ``lower(split_part(email, '@', 2))``, one ``GROUP BY domain`` with
    ``mode()`` (most frequent non-null value) per company attribute, prospects by a join
    on the domain, then the denormalized view over the two. Tables are created
    ``LIKE "Company"`` / ``LIKE "Prospect"`` and get exactly the Prisma tables' keys,
    indexes and foreign key, and the view gets the view's eight indexes. Two variants:
    ``after_loading`` (load, then build keys and indexes, then create the view with its
    data and index it) and ``in_place`` (keys and indexes exist before loading; the view
    exists empty with its indexes and is refreshed). No identity rules at all: personal
    mail becomes "companies", nothing is quarantined, subdomains stay apart.
(c) :func:`raw_bulk`: the rows of ``"Company"``, ``"Prospect"`` and
    ``company_prospect_view`` streamed from a server-side cursor, made documents by the
    pipeline's own ``to_document`` (no other transformation) and sent with
    opensearch-py's ``helpers.streaming_bulk`` into throwaway indices with the same
    create body (same mapping, no replicas, refresh off), then one refresh. Reading the
    rows and building the documents without sending them is timed apart.
(d) :func:`query_latencies`: :data:`SEED_QUERIES`, each as explicit SQL on the legacy
    ``"Customer"`` (only the indexes a legacy table has: primary key, unique
    (externalSource, externalId), email), on ``"Company"``/``"Prospect"``, and on the view.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from opensearchpy import OpenSearch
from opensearchpy.helpers import streaming_bulk
from psycopg import sql
from psycopg.rows import dict_row

from restructure_pipeline.search_index.documents import to_document
from restructure_pipeline.search_index.mappings import INDEX_DEFINITIONS

BASELINE_SCHEMA = "bench_baseline"
RAW_BULK_INDEX_PREFIX = "bench_raw_"
#: Same as the pipeline's defaults: rows per server-side cursor fetch, documents per bulk request.
STREAM_ROWS = 5_000
BULK_CHUNK_DOCS = 2_000

# --------------------------------------------------------------------------- (a) COPY

_BARE_TABLE = sql.Identifier(BASELINE_SCHEMA, "customer_bare")
_BARE_TABLE_SERVER = sql.Identifier(BASELINE_SCHEMA, "customer_bare_server")


def _ensure_schema(conn: psycopg.Connection) -> None:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(BASELINE_SCHEMA)))


def drop_baseline_schema(database_url: str) -> None:
    """Remove every table and view the baselines made."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(BASELINE_SCHEMA)))


def copy_into_bare_table(database_url: str) -> dict:
    """(a) The legacy rows out of Postgres and back into an unindexed table, through the client."""
    with psycopg.connect(database_url, autocommit=True) as source, psycopg.connect(database_url, autocommit=True) as target:
        _ensure_schema(target)
        for table in (_BARE_TABLE, _BARE_TABLE_SERVER):
            target.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
            # LIKE copies column types and NOT NULL only: no key, no index, no default.
            target.execute(sql.SQL('CREATE TABLE {} (LIKE "Customer")').format(table))

        started = time.perf_counter()
        copy_out = 'COPY "Customer" TO STDOUT (FORMAT binary)'
        copy_in = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(_BARE_TABLE)
        with source.cursor() as reader, target.cursor() as writer, reader.copy(copy_out) as out, writer.copy(copy_in) as into:
            for block in out:
                into.write(block)
        seconds = time.perf_counter() - started
        rows = target.execute(sql.SQL("SELECT count(*) FROM {}").format(_BARE_TABLE)).fetchone()[0]

        started = time.perf_counter()
        server_rows = target.execute(
            sql.SQL('INSERT INTO {} SELECT * FROM "Customer"').format(_BARE_TABLE_SERVER)
        ).rowcount
        server_seconds = time.perf_counter() - started

        for table in (_BARE_TABLE, _BARE_TABLE_SERVER):
            target.execute(sql.SQL("DROP TABLE {}").format(table))
    return {
        "copy_bare_table": {
            "seconds": round(seconds, 3),
            "rows": rows,
            "rows_per_second": round(rows / seconds, 1) if seconds > 0 else None,
            "method": 'COPY "Customer" TO STDOUT -> client -> COPY bare FROM STDIN (binary, unindexed, logged table)',
        },
        "copy_inside_server": {
            "seconds": round(server_seconds, 3),
            "rows": server_rows,
            "rows_per_second": round(server_rows / server_seconds, 1) if server_seconds > 0 else None,
            "method": 'INSERT INTO bare SELECT * FROM "Customer" (no client round trip)',
        },
    }


# --------------------------------------------------------------------------- (b) pure SQL

_COMPANY = sql.Identifier(BASELINE_SCHEMA, "company_sql")
_PROSPECT = sql.Identifier(BASELINE_SCHEMA, "prospect_sql")
_VIEW = sql.Identifier(BASELINE_SCHEMA, "company_prospect_view_sql")

COMPANY_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    # ("Company" column, "Customer" column)
    ("name", "company"), ("industry", "industry"), ("minEmployeeSize", "minEmployeeSize"),
    ("maxEmployeeSize", "maxEmployeeSize"), ("employeeSizeLink", "employeeSizeLink"), ("revenue", "revenue"),
    ("address", "address"), ("city", "city"), ("state", "state"), ("country", "country"),
    ("zipCode", "zipCode"), ("phone", "phone"), ("mobilePhone", "mobilePhone"),
)  # fmt: skip
PROSPECT_COLUMNS: tuple[str, ...] = (
    "salutation", "firstName", "lastName", "email", "jobTitle", "jobTitleLevel", "department", "jobTitleLink",
    "address", "city", "state", "country", "zipCode", "phone", "mobilePhone",
)  # fmt: skip

AGGREGATES = ("mode", "max")

_COMPANIES_SQL = """
INSERT INTO {company} (id, domain, {attributes}, "externalSource", "externalId", "createdAt", "updatedAt")
SELECT gen_random_uuid()::text, domain, {aggregated},
       min("externalSource"), domain, min("createdAt"), max("updatedAt")
FROM (SELECT lower(split_part(email, '@', 2)) AS domain, * FROM "Customer") customer
WHERE domain <> ''
GROUP BY domain
"""

_PROSPECTS_SQL = """
INSERT INTO {prospect} (id, {columns}, "companyId", "externalSource", "externalId", "createdAt", "updatedAt")
SELECT cu.id, {customer_columns}, co.id, cu."externalSource", cu."externalId", cu."createdAt", cu."updatedAt"
FROM "Customer" cu
JOIN {company} co ON co.domain = lower(split_part(cu.email, '@', 2))
"""

# The seed's view (migration 0003) over the baseline tables.
_VIEW_SELECT = """
SELECT c."id" AS company_id, c."domain" AS domain, c."name" AS company_name, c."industry" AS industry,
       c."minEmployeeSize" AS min_employee_size, c."maxEmployeeSize" AS max_employee_size, c."revenue" AS revenue,
       c."address" AS company_address, c."city" AS company_city, c."state" AS company_state,
       c."country" AS company_country, c."zipCode" AS company_zip_code, c."phone" AS company_phone,
       c."mobilePhone" AS company_mobile_phone, p."id" AS prospect_id, p."salutation" AS salutation,
       p."firstName" AS first_name, p."lastName" AS last_name, p."email" AS email, p."jobTitle" AS job_title,
       p."jobTitleLevel" AS job_title_level, p."department" AS department, p."jobTitleLink" AS job_title_link,
       p."address" AS prospect_address, p."city" AS prospect_city, p."state" AS prospect_state,
       p."country" AS prospect_country, p."zipCode" AS prospect_zip_code, p."phone" AS prospect_phone,
       p."mobilePhone" AS prospect_mobile_phone, p."createdAt" AS created_at, p."updatedAt" AS updated_at
FROM {company} c
LEFT JOIN {prospect} p ON c."id" = p."companyId"
"""


@dataclass(frozen=True)
class IndexSpec:
    """One key or index of a baseline relation: name suffix, columns, kind."""

    suffix: str
    columns: tuple[str, ...]
    unique: bool = False
    primary: bool = False
    nulls_not_distinct: bool = False


# Exactly the keys and indexes of migration 0001 (Prisma's DDL) and 0003 (the view).
COMPANY_INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("pkey", ("id",), unique=True, primary=True),
    IndexSpec("domain_key", ("domain",), unique=True),
    IndexSpec("domain_idx", ("domain",)),
    IndexSpec("name_idx", ("name",)),
    IndexSpec("industry_idx", ("industry",)),
    IndexSpec("minEmployeeSize_idx", ("minEmployeeSize",)),
    IndexSpec("maxEmployeeSize_idx", ("maxEmployeeSize",)),
    IndexSpec("revenue_idx", ("revenue",)),
    IndexSpec("country_idx", ("country",)),
    IndexSpec("city_idx", ("city",)),
    IndexSpec("state_idx", ("state",)),
    IndexSpec("externalSource_externalId_key", ("externalSource", "externalId"), unique=True),
)
PROSPECT_INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("pkey", ("id",), unique=True, primary=True),
    IndexSpec("email_idx", ("email",)),
    IndexSpec("companyId_idx", ("companyId",)),
    IndexSpec("jobTitle_idx", ("jobTitle",)),
    IndexSpec("jobTitleLevel_idx", ("jobTitleLevel",)),
    IndexSpec("department_idx", ("department",)),
    IndexSpec("country_idx", ("country",)),
    IndexSpec("city_idx", ("city",)),
    IndexSpec("state_idx", ("state",)),
    IndexSpec("externalSource_externalId_key", ("externalSource", "externalId"), unique=True),
)
VIEW_INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("company_id", ("company_id",)),
    IndexSpec("prospect_id", ("prospect_id",)),
    IndexSpec("email", ("email",)),
    IndexSpec("domain", ("domain",)),
    IndexSpec("company_name", ("company_name",)),
    IndexSpec("industry", ("industry",)),
    IndexSpec("revenue", ("revenue",)),
    IndexSpec("company_id_prospect_id_key", ("company_id", "prospect_id"), unique=True, nulls_not_distinct=True),
)


def _index_statement(relation: sql.Identifier, prefix: str, spec: IndexSpec) -> sql.Composed:
    name = sql.Identifier(f"{prefix}_{spec.suffix}")
    columns = sql.SQL(", ").join(sql.Identifier(column) for column in spec.columns)
    if spec.primary:
        return sql.SQL("ALTER TABLE {relation} ADD CONSTRAINT {name} PRIMARY KEY ({columns})").format(
            relation=relation, name=name, columns=columns
        )
    return sql.SQL("CREATE {unique}INDEX {name} ON {relation} ({columns}){nulls}").format(
        unique=sql.SQL("UNIQUE " if spec.unique else ""),
        name=name,
        relation=relation,
        columns=columns,
        nulls=sql.SQL(" NULLS NOT DISTINCT" if spec.nulls_not_distinct else ""),
    )


_FOREIGN_KEY = sql.SQL(
    'ALTER TABLE {prospect} ADD CONSTRAINT prospect_sql_companyId_fkey FOREIGN KEY ("companyId") '
    "REFERENCES {company} (id) ON DELETE RESTRICT ON UPDATE CASCADE"
)


def _build_table_indexes(conn: psycopg.Connection) -> None:
    for spec in COMPANY_INDEXES:
        conn.execute(_index_statement(_COMPANY, "company_sql", spec))
    for spec in PROSPECT_INDEXES:
        conn.execute(_index_statement(_PROSPECT, "prospect_sql", spec))
    conn.execute(_FOREIGN_KEY.format(prospect=_PROSPECT, company=_COMPANY))


def _build_view_indexes(conn: psycopg.Connection) -> None:
    for spec in VIEW_INDEXES:
        conn.execute(_index_statement(_VIEW, "view_sql", spec))


def _restructure_statements(aggregate: str) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    if aggregate == "mode":
        aggregated = [
            sql.SQL("mode() WITHIN GROUP (ORDER BY {})").format(sql.Identifier(source))
            for _, source in COMPANY_ATTRIBUTES
        ]
    else:
        aggregated = [sql.SQL("max({})").format(sql.Identifier(source)) for _, source in COMPANY_ATTRIBUTES]
    companies = sql.SQL(_COMPANIES_SQL).format(
        company=_COMPANY,
        attributes=sql.SQL(", ").join(sql.Identifier(target) for target, _ in COMPANY_ATTRIBUTES),
        aggregated=sql.SQL(", ").join(aggregated),
    )
    prospects = sql.SQL(_PROSPECTS_SQL).format(
        prospect=_PROSPECT,
        company=_COMPANY,
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in PROSPECT_COLUMNS),
        customer_columns=sql.SQL(", ").join(sql.SQL("cu.{}").format(sql.Identifier(c)) for c in PROSPECT_COLUMNS),
    )
    view = sql.SQL(_VIEW_SELECT).format(company=_COMPANY, prospect=_PROSPECT)
    return companies, prospects, view


def sql_restructure(database_url: str, *, indexes: str, aggregate: str = "mode") -> dict:
    """(b) The pure-SQL restructure, ``indexes`` = ``"after_loading"`` or ``"in_place"``; seconds per part."""
    if indexes not in ("after_loading", "in_place"):
        raise ValueError(f"indexes must be 'after_loading' or 'in_place', got {indexes!r}")
    companies_sql, prospects_sql, view_select = _restructure_statements(aggregate)
    with psycopg.connect(database_url, autocommit=True) as conn:
        _ensure_schema(conn)
        conn.execute(sql.SQL("DROP MATERIALIZED VIEW IF EXISTS {}").format(_VIEW))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(_PROSPECT, _COMPANY))
        conn.execute(sql.SQL('CREATE TABLE {} (LIKE "Company" INCLUDING DEFAULTS)').format(_COMPANY))
        conn.execute(sql.SQL('CREATE TABLE {} (LIKE "Prospect" INCLUDING DEFAULTS)').format(_PROSPECT))
        timings: dict[str, float] = {}
        if indexes == "in_place":
            _build_table_indexes(conn)
            conn.execute(sql.SQL("CREATE MATERIALIZED VIEW {} AS {} WITH NO DATA").format(_VIEW, view_select))
            _build_view_indexes(conn)

        started = time.perf_counter()
        companies = conn.execute(companies_sql).rowcount
        timings["companies_seconds"] = time.perf_counter() - started
        mark = time.perf_counter()
        prospects = conn.execute(prospects_sql).rowcount
        timings["prospects_seconds"] = time.perf_counter() - mark
        mark = time.perf_counter()
        if indexes == "after_loading":
            _build_table_indexes(conn)
        timings["indexes_seconds"] = time.perf_counter() - mark
        mark = time.perf_counter()
        if indexes == "after_loading":
            conn.execute(sql.SQL("CREATE MATERIALIZED VIEW {} AS {}").format(_VIEW, view_select))
            _build_view_indexes(conn)
        else:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(_VIEW))
        timings["view_seconds"] = time.perf_counter() - mark
        seconds = time.perf_counter() - started
        view_rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_VIEW)).fetchone()[0]
        legacy_rows = conn.execute('SELECT count(*) FROM "Customer"').fetchone()[0]
        same_indexes = same_indexes_as_pipeline(conn)
    return {
        "seconds": round(seconds, 3),
        "rows_per_second": round(legacy_rows / seconds, 1) if seconds > 0 else None,
        **{key: round(value, 3) for key, value in timings.items()},
        "companies": companies,
        "prospects": prospects,
        "view_rows": view_rows,
        "same_indexes_as_pipeline": same_indexes,
    }


_INDEX_SIGNATURES = """
SELECT i.indisprimary, i.indisunique, i.indnullsnotdistinct,
       array(SELECT a.attname::text
             FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_index i
WHERE i.indrelid = %s::regclass
"""

_FOREIGN_KEYS = """
SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'
  AND confupdtype = 'c' AND confdeltype = 'r'
"""


def index_signatures(conn: psycopg.Connection, relation: str) -> list[tuple[bool, bool, bool, tuple[str, ...]]]:
    """(primary, unique, nulls not distinct, columns) of every index on ``relation``, sorted."""
    rows = conn.execute(_INDEX_SIGNATURES, (relation,)).fetchall()
    return sorted((primary, unique, nnd, tuple(columns)) for primary, unique, nnd, columns in rows)


def same_indexes_as_pipeline(conn: psycopg.Connection) -> bool:
    """Whether the baseline's tables and view carry exactly the pipeline's keys, indexes and foreign key."""
    pairs = (
        ('public."Company"', f"{BASELINE_SCHEMA}.company_sql"),
        ('public."Prospect"', f"{BASELINE_SCHEMA}.prospect_sql"),
        ("public.company_prospect_view", f"{BASELINE_SCHEMA}.company_prospect_view_sql"),
    )
    for ours, theirs in pairs:
        if index_signatures(conn, ours) != index_signatures(conn, theirs):
            return False
        if conn.execute(_FOREIGN_KEYS, (ours,)).fetchone()[0] != conn.execute(_FOREIGN_KEYS, (theirs,)).fetchone()[0]:
            return False
    return True


# --------------------------------------------------------------------------- (c) raw bulk

_SOURCE_RELATIONS = {
    "companies": sql.Identifier("Company"),
    "prospects": sql.Identifier("Prospect"),
    "company_prospect_view": sql.Identifier("company_prospect_view"),
}


def _stream_documents(conn: psycopg.Connection, definition, index: str | None):
    query = sql.SQL("SELECT * FROM {}").format(_SOURCE_RELATIONS[definition.logical_name])
    with conn.cursor(name=f"raw_{definition.logical_name}", row_factory=dict_row) as cursor:
        cursor.itersize = STREAM_ROWS
        cursor.execute(query)
        for row in cursor:
            doc_id, source = to_document(definition, row)
            yield {"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}


def raw_bulk(database_url: str, client: OpenSearch, *, chunk_docs: int = BULK_CHUNK_DOCS) -> dict:
    """(c) Index the rows of the three sources with ``streaming_bulk``; docs/s over all three."""
    per_index: dict[str, dict] = {}
    read_seconds = 0.0
    with psycopg.connect(database_url, autocommit=True) as conn:
        for definition in INDEX_DEFINITIONS:
            index = f"{RAW_BULK_INDEX_PREFIX}{definition.logical_name}"
            # Reading and making documents alone, without sending them.
            with conn.transaction():
                started = time.perf_counter()
                for _ in _stream_documents(conn, definition, None):
                    pass
                read_seconds += time.perf_counter() - started

            client.indices.delete(index=index, ignore_unavailable=True)
            client.indices.create(index=index, body=definition.create_body(replicas=0, refresh_interval="-1"))
            try:
                with conn.transaction():
                    started = time.perf_counter()
                    documents = 0
                    for ok, item in streaming_bulk(
                        client, _stream_documents(conn, definition, index), chunk_size=chunk_docs,
                        max_retries=8, initial_backoff=0.5, max_backoff=30, raise_on_error=True,
                    ):
                        if not ok:
                            raise RuntimeError(f"raw bulk refused a document: {item}")
                        documents += 1
                    client.indices.refresh(index=index)
                    seconds = time.perf_counter() - started
                indexed = client.count(index=index)["count"]
                if indexed != documents:
                    raise RuntimeError(f"raw bulk index {index} holds {indexed} documents, {documents} were sent")
            finally:
                client.indices.delete(index=index, ignore_unavailable=True)
            per_index[definition.logical_name] = {
                "documents": documents,
                "seconds": round(seconds, 3),
                "docs_per_second": round(documents / seconds, 1) if seconds > 0 else None,
            }
    total_documents = sum(part["documents"] for part in per_index.values())
    total_seconds = sum(part["seconds"] for part in per_index.values())
    return {
        "documents": total_documents,
        "seconds": round(total_seconds, 3),
        "docs_per_second": round(total_documents / total_seconds, 1) if total_seconds > 0 else None,
        "source_read_seconds": round(read_seconds, 3),
        "chunk_docs": chunk_docs,
        "per_index": per_index,
    }


_WARM_UP_ROWS = sql.SQL(
    'SELECT {columns}, %s AS "companyId", "externalSource", "externalId", "createdAt", "updatedAt" '
    'FROM "Customer" ORDER BY id LIMIT %s'
)


def warm_up_opensearch(database_url: str, client: OpenSearch, documents: int) -> dict:
    """Index legacy rows as prospect documents into a throwaway index, then delete it.

    A freshly started node indexes markedly slower until its JIT has warmed up; without
    this, the first index stage of ``full_refresh`` would pay for it and baseline (c),
    which runs later, would not.
    """
    definition = next(d for d in INDEX_DEFINITIONS if d.logical_name == "prospects")
    index = f"{RAW_BULK_INDEX_PREFIX}warm_up"
    query = _WARM_UP_ROWS.format(
        columns=sql.SQL(", ").join(sql.Identifier(column) for column in ("id", *PROSPECT_COLUMNS))
    )
    client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.create(index=index, body=definition.create_body(replicas=0, refresh_interval="-1"))
    started = time.perf_counter()
    try:
        # Streamed (a server-side cursor): the warm-up must not grow this process' memory.
        with psycopg.connect(database_url) as conn, conn.cursor(name="warm_up", row_factory=dict_row) as cursor:
            cursor.itersize = STREAM_ROWS
            cursor.execute(query, ("warm_up", documents))
            actions = (
                {"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}
                for doc_id, source in (to_document(definition, row) for row in cursor)
            )
            sent = sum(1 for ok, _ in streaming_bulk(client, actions, chunk_size=BULK_CHUNK_DOCS, max_retries=8) if ok)
        client.indices.refresh(index=index)
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
    return {"opensearch_warm_up_documents": sent, "opensearch_warm_up_seconds": round(time.perf_counter() - started, 3)}


# --------------------------------------------------------------------------- (d) queries


#: One read as the client sends it: a statement, or statements in order where each after the
#: first gets the previous one's first column as ``%(ids)s``. That is how Prisma Client loads
#: ``include: {prospects: true}`` by default (the company, then its prospects by ``companyId``).
Statements = str | tuple[str, ...]


@dataclass(frozen=True)
class SeedQuery:
    """A company-based query of the seed, written for the old table, the new tables and the view."""

    name: str
    description: str
    old: Statements
    new: Statements
    view: Statements


SEED_QUERIES: tuple[SeedQuery, ...] = (
    SeedQuery(
        "prospects_of_company_by_domain",
        "Every person at one company, found by its domain (the company with the most prospects).",
        old="""SELECT * FROM "Customer" WHERE lower(split_part(email, '@', 2)) = %(domain)s""",
        new="""SELECT p.* FROM "Prospect" p JOIN "Company" c ON c.id = p."companyId" WHERE c.domain = %(domain)s""",
        view="""SELECT * FROM company_prospect_view WHERE domain = %(domain)s AND prospect_id IS NOT NULL""",
    ),
    SeedQuery(
        "companies_by_industry_and_country",
        "A page of 100 companies in one industry and country (the most common pair among companies).",
        old="""SELECT lower(split_part(email, '@', 2)) AS domain, max(company) AS name, count(*) AS people
               FROM "Customer" WHERE industry = %(industry)s AND country = %(country)s
               GROUP BY 1 ORDER BY 1 LIMIT 100""",
        new="""SELECT id, domain, name FROM "Company" WHERE industry = %(industry)s AND country = %(country)s
               ORDER BY domain LIMIT 100""",
        view="""SELECT company_id, domain, company_name FROM company_prospect_view
                WHERE industry = %(industry)s AND company_country = %(country)s
                GROUP BY 1, 2, 3 ORDER BY domain LIMIT 100""",
    ),
    SeedQuery(
        "companies_by_revenue_range",
        "A page of the 100 largest companies within a revenue band (the companies' 90th to 91st percentile).",
        old="""SELECT lower(split_part(email, '@', 2)) AS domain, max(company) AS name, max(revenue) AS revenue
               FROM "Customer" WHERE revenue BETWEEN %(low)s AND %(high)s
               GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 100""",
        new="""SELECT id, domain, name, revenue FROM "Company" WHERE revenue BETWEEN %(low)s AND %(high)s
               ORDER BY revenue DESC, domain LIMIT 100""",
        view="""SELECT company_id, domain, company_name, revenue FROM company_prospect_view
                WHERE revenue BETWEEN %(low)s AND %(high)s
                GROUP BY 1, 2, 3, 4 ORDER BY revenue DESC, domain LIMIT 100""",
    ),
    SeedQuery(
        "company_with_prospects",
        "One company and all its people, found by company name (the legacy table knows a company only by the "
        "name written on each row).",
        old="""SELECT * FROM "Customer" WHERE company = %(name)s""",
        # As the app reads it: prisma.company.findMany({where: {name}, include: {prospects: true}}).
        new=(
            """SELECT * FROM "Company" WHERE name = %(name)s""",
            """SELECT * FROM "Prospect" WHERE "companyId" = ANY(%(ids)s)""",
        ),
        view="""SELECT * FROM company_prospect_view WHERE company_name = %(name)s""",
    ),
)

_PARAMETERS_LARGEST_COMPANY = """
SELECT c.domain, c.name FROM "Company" c JOIN "Prospect" p ON p."companyId" = c.id
WHERE c.name IS NOT NULL
GROUP BY c.id ORDER BY count(*) DESC, c.domain LIMIT 1
"""
_PARAMETERS_INDUSTRY_COUNTRY = """
SELECT industry, country FROM "Company" WHERE industry IS NOT NULL AND country IS NOT NULL
GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1
"""
_PARAMETERS_REVENUE = """
SELECT percentile_disc(0.90) WITHIN GROUP (ORDER BY revenue), percentile_disc(0.91) WITHIN GROUP (ORDER BY revenue)
FROM "Company" WHERE revenue IS NOT NULL
"""


def query_parameters(conn: psycopg.Connection) -> dict[str, object]:
    """Parameters for :data:`SEED_QUERIES`, taken from the data (the same for old, new and view)."""
    largest = conn.execute(_PARAMETERS_LARGEST_COMPANY).fetchone()
    pair = conn.execute(_PARAMETERS_INDUSTRY_COUNTRY).fetchone()
    band = conn.execute(_PARAMETERS_REVENUE).fetchone()
    if largest is None or pair is None or band is None or band[0] is None:
        raise RuntimeError("not enough companies to choose query parameters from")
    return {"domain": largest[0], "name": largest[1], "industry": pair[0], "country": pair[1],
            "low": band[0], "high": band[1]}


def _as_tuple(statements: Statements) -> tuple[str, ...]:
    return (statements,) if isinstance(statements, str) else statements


def _used_parameters(statements: Statements, params: Mapping[str, object]) -> dict[str, object]:
    return {
        key: value for key, value in params.items()
        if any(f"%({key})s" in statement for statement in _as_tuple(statements))
    }


def _read(conn: psycopg.Connection, statements: Statements, params: Mapping[str, object]) -> int:
    """Run one read, statement after statement; the rows returned by all of them."""
    rows = 0
    previous: list[tuple] = []
    for statement in _as_tuple(statements):
        with conn.cursor() as cursor:
            cursor.execute(statement, {**params, "ids": [row[0] for row in previous]}, prepare=False)
            previous = cursor.fetchall()
        rows += len(previous)
    return rows


def _time_query(
    conn: psycopg.Connection, statements: Statements, params: Mapping[str, object], repeat: int
) -> tuple[list[float], int]:
    """Seconds per run (after one untimed warm-up run) and the rows returned."""
    rows = 0
    timings: list[float] = []
    for run in range(repeat + 1):
        started = time.perf_counter()
        rows = _read(conn, statements, params)
        if run:
            timings.append(time.perf_counter() - started)
    return timings, rows


def analyze_for_queries(database_url: str) -> None:
    """VACUUM ANALYZE what the queries read: planner statistics and visibility maps for both sides."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for relation in ('"Customer"', '"Company"', '"Prospect"', "company_prospect_view"):
            conn.execute(f"VACUUM ANALYZE {relation}")


def query_latencies(
    database_url: str, repeat: int, queries: Sequence[SeedQuery] = SEED_QUERIES
) -> tuple[dict[str, object], dict[str, dict]]:
    """(parameters, {query: {"old"|"new"|"view": (seconds per run, rows), "sql": ...}}) for each seed query."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        params = query_parameters(conn)
        measured: dict[str, dict] = {}
        for query in queries:
            sides = {"old": query.old, "new": query.new, "view": query.view}
            used = {key: value for side in sides.values() for key, value in _used_parameters(side, params).items()}
            measured[query.name] = {
                "description": query.description,
                "params": used,
                "sql": sides,
                **{side: _time_query(conn, text, params, repeat) for side, text in sides.items()},
            }
    return params, measured
