"""Checks on ``companies``: one well-formed company per domain, never a personal or disposable one.

A drop run checks the companies of the domains it queued (see :mod:`restructure_pipeline.checks.scope`),
except for personal and disposable domains: the domain lists are configuration, and a change to
them turns companies personal that no drop touched.
"""

from collections.abc import Callable

import dagster as dg
import polars as pl
from psycopg import sql

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.checks.results import SAMPLE_ROWS, check_result, count_and_samples
from restructure_pipeline.checks.scope import QUEUED_BY_THE_RUN, WHOLE_TABLE, checks_whole_tables
from restructure_pipeline.identity.domains import classify_domain, registrable_domain
from restructure_pipeline.identity.reasons import DomainKind
from restructure_pipeline.resources import PipelineSettings, PostgresResource
from restructure_pipeline.store.bulk import copy_out_frames

_DUPLICATE_DOMAINS = 'SELECT domain, count(*) FROM "Company" GROUP BY domain HAVING count(*) > 1'

_DUPLICATE_DOMAINS_QUEUED = """
SELECT c.domain, count(*) FROM "Company" c JOIN restructure.pending_domain p ON p.domain = c.domain
GROUP BY c.domain HAVING count(*) > 1
"""

_DOMAINS_WITHOUT_COMPANY = """
SELECT DISTINCT s.company_domain
FROM restructure.source_record s
WHERE s.is_current AND s.record_problem IS NULL AND s.company_domain IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM "Company" c WHERE c.domain = s.company_domain)
"""

# The company step writes the companies of the queued domains, and no others.
_DOMAINS_WITHOUT_COMPANY_QUEUED = """
SELECT p.domain FROM restructure.pending_domain p
WHERE EXISTS (SELECT 1 FROM restructure.source_record s
              WHERE s.company_domain = p.domain AND s.is_current AND s.record_problem IS NULL)
  AND NOT EXISTS (SELECT 1 FROM "Company" c WHERE c.domain = p.domain)
"""

# A company whose domain lost all its rows is retired by the prospect step, after its
# prospects move; until then it is not a live company. Only live companies are judged by
# today's rules: one whose rows the rules now send elsewhere (a Public Suffix List update)
# is about to be retired, and failing on it would block the step that retires it.
_LIVE = """EXISTS (SELECT 1 FROM restructure.source_record s
              WHERE s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL)"""

_LIVE_COMPANY_DOMAINS = f'SELECT c.id, c.domain FROM "Company" c WHERE {_LIVE} ORDER BY c.domain'

_QUEUED_LIVE_COMPANY_DOMAINS = f"""
SELECT c.id, c.domain FROM "Company" c JOIN restructure.pending_domain p ON p.domain = c.domain
WHERE {_LIVE} ORDER BY c.domain
"""

# Companies are read in chunks of this many: memory stays flat whatever the number of companies.
_CHUNK_ROWS = 50_000


def _companies_where(
    postgres: PostgresResource, query: str, is_problem: Callable[[str], object]
) -> tuple[int, list[tuple[str, str, object]]]:
    """Stream (id, domain) rows; returns how many have a problem, and up to ``SAMPLE_ROWS`` of them
    as (id, domain, problem) where ``is_problem(domain)`` is the (truthy) problem."""
    problems = 0
    samples: list[tuple[str, str, object]] = []
    with postgres.connect() as conn:
        for frame in copy_out_frames(conn, sql.SQL(query), {"id": pl.Utf8, "domain": pl.Utf8}, _CHUNK_ROWS):
            for company_id, domain in frame.iter_rows():
                if problem := is_problem(domain):
                    problems += 1
                    if len(samples) < SAMPLE_ROWS:
                        samples.append((company_id, domain, problem))
    return problems, samples


@dg.asset_check(
    asset=companies, blocking=True,
    description=(
        "Domains are unique, and each live company's is its own registrable domain in lowercase IDNA ASCII form."
    ),
)
def company_domains_unique_and_well_formed(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        whole_table = checks_whole_tables(context, conn)
        duplicates, duplicate_samples = count_and_samples(
            conn, _DUPLICATE_DOMAINS if whole_table else _DUPLICATE_DOMAINS_QUEUED
        )
    malformed, samples = _companies_where(
        postgres,
        _LIVE_COMPANY_DOMAINS if whole_table else _QUEUED_LIVE_COMPANY_DOMAINS,
        lambda domain: registrable_domain(domain) != domain or not domain.isascii(),
    )
    return check_result(
        duplicates + malformed,
        [("duplicate", domain, count) for domain, count in duplicate_samples]
        + [("malformed", domain, company_id) for company_id, domain, _ in samples],
        ["problem", "domain", "detail"],
        duplicate_domains=duplicates,
        malformed_domains=malformed,
        companies_checked=WHOLE_TABLE if whole_table else QUEUED_BY_THE_RUN,
    )


@dg.asset_check(
    asset=companies, blocking=True,
    description="No personal or disposable mail domain is a live company (one that still has source rows).",
)
def no_personal_or_disposable_company(postgres: PostgresResource, settings: PipelineSettings) -> dg.AssetCheckResult:
    lists = settings.domain_lists()

    def kind_if_not_a_company(domain: str) -> str | None:
        kind = classify_domain(domain, lists)
        return None if kind is DomainKind.COMPANY else kind.value

    offending, samples = _companies_where(postgres, _LIVE_COMPANY_DOMAINS, kind_if_not_a_company)
    return check_result(offending, samples, ["id", "domain", "kind"])


@dg.asset_check(asset=companies, blocking=True, description="Every company domain of a current row has its company.")
def every_company_domain_has_a_company(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        whole_table = checks_whole_tables(context, conn)
        missing, samples = count_and_samples(
            conn, _DOMAINS_WITHOUT_COMPANY if whole_table else _DOMAINS_WITHOUT_COMPANY_QUEUED
        )
    return check_result(missing, samples, ["domain"], domains_checked=WHOLE_TABLE if whole_table else QUEUED_BY_THE_RUN)
