"""Checks on ``companies``: one well-formed company per domain, never a personal or disposable one."""

import dagster as dg

from restructure_pipeline.assets.companies import companies
from restructure_pipeline.checks.results import check_result
from restructure_pipeline.identity.domains import classify_domain, registrable_domain
from restructure_pipeline.identity.reasons import DomainKind
from restructure_pipeline.resources import PipelineSettings, PostgresResource

_DUPLICATE_DOMAINS = 'SELECT domain, count(*) FROM "Company" GROUP BY domain HAVING count(*) > 1'

_DOMAINS_WITHOUT_COMPANY = """
SELECT DISTINCT s.company_domain
FROM restructure.source_record s
WHERE s.is_current AND s.record_problem IS NULL AND s.company_domain IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM "Company" c WHERE c.domain = s.company_domain)
"""


# A company whose domain lost all its rows is retired by the prospect step, after its
# prospects move; until then it is not a live company.
_LIVE_COMPANY_DOMAINS = """
SELECT c.id, c.domain FROM "Company" c
WHERE EXISTS (SELECT 1 FROM restructure.source_record s
              WHERE s.company_domain = c.domain AND s.is_current AND s.record_problem IS NULL)
ORDER BY c.domain
"""


def _company_domains(postgres: PostgresResource, live_only: bool = False) -> list[tuple[str, str]]:
    with postgres.connect() as conn:
        query = _LIVE_COMPANY_DOMAINS if live_only else 'SELECT id, domain FROM "Company" ORDER BY domain'
        return conn.execute(query).fetchall()


@dg.asset_check(
    asset=companies, blocking=True,
    description="Domains are unique and each is its own registrable domain in lowercase IDNA ASCII form.",
)
def company_domains_unique_and_well_formed(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        duplicates = conn.execute(_DUPLICATE_DOMAINS).fetchall()
    malformed = [
        (company_id, domain)
        for company_id, domain in _company_domains(postgres)
        if registrable_domain(domain) != domain or not domain.isascii()
    ]
    return check_result(
        len(duplicates) + len(malformed),
        [("duplicate", domain, count) for domain, count in duplicates]
        + [("malformed", domain, company_id) for company_id, domain in malformed],
        ["problem", "domain", "detail"],
        duplicate_domains=len(duplicates),
        malformed_domains=len(malformed),
    )


@dg.asset_check(
    asset=companies, blocking=True,
    description="No personal or disposable mail domain is a live company (one that still has source rows).",
)
def no_personal_or_disposable_company(postgres: PostgresResource, settings: PipelineSettings) -> dg.AssetCheckResult:
    lists = settings.domain_lists()
    offending = [
        (company_id, domain, kind.value)
        for company_id, domain in _company_domains(postgres, live_only=True)
        if (kind := classify_domain(domain, lists)) is not DomainKind.COMPANY
    ]
    return check_result(len(offending), offending, ["id", "domain", "kind"])


@dg.asset_check(asset=companies, blocking=True, description="Every company domain of a current row has its company.")
def every_company_domain_has_a_company(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        missing = conn.execute(_DOMAINS_WITHOUT_COMPANY).fetchall()
    return check_result(len(missing), missing, ["domain"])
