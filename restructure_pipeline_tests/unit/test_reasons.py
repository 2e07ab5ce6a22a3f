"""The reason codes and domain kinds are the exact strings stored in Postgres and shown in Dagster."""

from restructure_pipeline.identity.reasons import DomainKind, QuarantineReason


def test_quarantine_reason_codes_are_the_spec_codes_and_ours() -> None:
    assert {reason.value for reason in QuarantineReason} == {
        "missing_external_id",
        "missing_external_source",
        "missing_email",
        "invalid_email",
        "invalid_domain",
        "disposable_domain",
        "personal_domain_unresolved",
        "value_too_long",
    }


def test_reasons_and_kinds_compare_equal_to_their_strings() -> None:
    assert QuarantineReason.PERSONAL_DOMAIN_UNRESOLVED == "personal_domain_unresolved"
    assert DomainKind.COMPANY == "company"
    assert {kind.value for kind in DomainKind} == {"company", "personal", "disposable"}
