"""Deterministic synthetic legacy ``Customer`` rows, CSV drops, and the legacy table loader.

Used by ``restructure-pipeline demo``, by the integration tests and by the benchmark.

Every value is a pure function of ``(seed, row index)``: row ``i`` of the stream is the same
whether it is generated alone, in a chunk, or in a 10M-row run, so
``generate_customers(10, offset=5)`` equals rows 5..14 of ``generate_customers(20)``.
Randomness is a splitmix64 mixer written as polars integer expressions (UInt64 arithmetic
wraps), so the stream does not depend on polars' internal hash and there is no per-row
Python code: a chunk is one lazy query.

The company "world" (names, domains, industry, size, HQ...) is a fixed universe of
``COMPANY_UNIVERSE`` companies that does **not** depend on the seed: rows of any seed and
any drop talk about the same ``acmesystems.com``. The seed only decides which people exist
and which companies they work for (Zipf-like: a few companies with hundreds of rows in a
few thousand, a long tail of one- and two-person companies).

Hard cases, by ``_case`` (add ``with_truth=True`` to get the columns ``_case`` and
``_company_domain``, the IDNA-ASCII domain the row should end up at, null when the row
should be quarantined or its named company is ambiguous):

===============================  ======  ==============================================
case                             share   what the row looks like
===============================  ======  ==============================================
corporate                        ~66%    ``first.last@acmesystems.com``; company data may
                                         conflict with other rows of the same domain
corporate_subdomain              5%      ``x@mail.acmesystems.com``, ``x@eu.sales...``
corporate_messy_email            3%      ``"  Mailto:<John@ACMESYSTEMS.COM> "``, ``<..>``
corporate_idn_unicode / _ascii   <1%     ``bücher.de`` vs ``xn--bcher-kva.de`` (same company)
corporate_sister_domain          <1%     company 2 also mails from ``<slug>.co.uk``: its
                                         name then exists at two domains
personal_named_company           14%     gmail.com & co, ``company`` = a real company name
                                         with legal-suffix/case variants ("ACME SYSTEMS, LLC")
personal_ambiguous_company       rare    as above, naming the two-domain company 2
personal_unknown_company         3%      personal domain, company matches nothing
personal_no_company              3%      personal domain, company null / "" / "   "
disposable_email                 1.5%    mailinator.com, 10minutemail.com, ...
missing_email                    ~0.8%   email null / "" / "   ", company unknown or empty
missing_email_named_company      ~0.8%   email missing, company names a real company
broken_email                     1.5%    "john.doe", "a@@b.com", "x@localhost",
                                         "bob@192.168.1.1", "jane@acme", ...
===============================  ======  ==============================================

Multi-part suffixes (``.co.uk``, ``.com.au``, ``.co.jp``, ``.com.br``...) are company-level
(about 15% of companies). A personal or missing-email row only resolves when the named
company actually has corporate rows in the loaded data (likely for the head companies
they name, not guaranteed for tiny row counts). Note ``mailinator.com`` and
``yopmail.com`` are on both the free-mail and the disposable lists.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

__all__ = [
    "CASES",
    "COMPANY_UNIVERSE",
    "CUSTOMER_COLUMNS",
    "CUSTOMER_SCHEMA",
    "DROP_COLUMNS",
    "LEGACY_CUSTOMER_DDL",
    "LEGACY_CUSTOMER_DDL_STATEMENTS",
    "company_domain",
    "company_name",
    "create_legacy_table",
    "drop_header",
    "generate_customers",
    "generate_drop",
    "iter_customer_chunks",
    "load_customers",
    "load_generated_customers",
    "write_drop_csv",
]

# --------------------------------------------------------------------------------------
# Legacy table
# --------------------------------------------------------------------------------------

CUSTOMER_COLUMNS: tuple[str, ...] = (
    "id",
    "salutation",
    "firstName",
    "lastName",
    "email",
    "phone",
    "mobilePhone",
    "jobTitle",
    "jobTitleLevel",
    "department",
    "jobTitleLink",
    "company",
    "industry",
    "minEmployeeSize",
    "maxEmployeeSize",
    "employeeSizeLink",
    "revenue",
    "address",
    "city",
    "state",
    "country",
    "zipCode",
    "externalSource",
    "externalId",
    "createdAt",
    "updatedAt",
)

CUSTOMER_SCHEMA: dict[str, pl.DataType] = {
    name: pl.String() for name in CUSTOMER_COLUMNS
} | {
    "minEmployeeSize": pl.Int32(),
    "maxEmployeeSize": pl.Int32(),
    "revenue": pl.Int64(),
    "createdAt": pl.Datetime("ms"),
    "updatedAt": pl.Datetime("ms"),
}

# Columns of a CSV drop: drops carry no database id and no timestamps.
DROP_COLUMNS: tuple[str, ...] = tuple(
    c for c in CUSTOMER_COLUMNS if c not in ("id", "createdAt", "updatedAt")
)

# What `prisma migrate` emits for the app's Customer model, made re-runnable.
LEGACY_CUSTOMER_DDL_STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS "Customer" (
    "id" TEXT NOT NULL,
    "salutation" TEXT,
    "firstName" TEXT,
    "lastName" TEXT,
    "email" TEXT,
    "phone" TEXT,
    "mobilePhone" TEXT,
    "jobTitle" TEXT,
    "jobTitleLevel" TEXT,
    "department" TEXT,
    "jobTitleLink" TEXT,
    "company" TEXT,
    "industry" TEXT,
    "minEmployeeSize" INTEGER,
    "maxEmployeeSize" INTEGER,
    "employeeSizeLink" TEXT,
    "revenue" BIGINT,
    "address" TEXT,
    "city" TEXT,
    "state" TEXT,
    "country" TEXT,
    "zipCode" TEXT,
    "externalSource" TEXT NOT NULL,
    "externalId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Customer_pkey" PRIMARY KEY ("id")
)""",
    'CREATE UNIQUE INDEX IF NOT EXISTS "Customer_externalSource_externalId_key" '
    'ON "Customer"("externalSource", "externalId")',
    'CREATE INDEX IF NOT EXISTS "Customer_email_idx" ON "Customer"("email")',
)
LEGACY_CUSTOMER_DDL: str = ";\n\n".join(LEGACY_CUSTOMER_DDL_STATEMENTS) + ";\n"

# --------------------------------------------------------------------------------------
# Deterministic randomness: splitmix64 as polars expressions
# --------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
# The company world is the same for every seed, so drops and legacy rows agree on it.
_WORLD_KEY = 0x5EED_C0_4D_A1_E5
_ID_MULTIPLIER = 0x2F_5A_3B  # odd and < 2**22: i * K stays below 2**64 for i < 2**42
_ID_INDEX_BITS = 41  # 2**41 < 36**8: the scrambled index fits 8 base36 chars
_DROP_INDEX_BASE = 1 << 40  # drops' new people live far beyond any legacy stream


def _splitmix64(x: int) -> int:
    """Reference implementation in Python; ``_mix`` is the same function over a column."""
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _MASK64, dtype=pl.UInt64)


def _mix(x: pl.Expr) -> pl.Expr:
    # polars has no shift operator: floor division by a power of two is the logical shift.
    z = x + _u64(_GOLDEN)
    z = (z ^ (z // _u64(1 << 30))) * _u64(0xBF58476D1CE4E5B9)
    z = (z ^ (z // _u64(1 << 27))) * _u64(0x94D049BB133111EB)
    return z ^ (z // _u64(1 << 31))


def _stream(base: pl.Expr, k: int) -> pl.Expr:
    """The k-th independent 64-bit stream of a pre-mixed key (splitmix's gamma stepping)."""
    return _mix(base + _u64((k + 1) * _GOLDEN))


def _bits(h: str | pl.Expr, shift: int, modulo: int) -> pl.Expr:
    """A small uniform integer in [0, modulo) taken from bits ``shift..`` of a hash column."""
    e = pl.col(h) if isinstance(h, str) else h
    if shift:
        e = e // _u64(1 << shift)
    return e % _u64(modulo)


def _series(values: Sequence[object], dtype: pl.DataType | None = None) -> pl.Series:
    return pl.Series(values=list(values), dtype=dtype)


def _pick(table: pl.Series, index: pl.Expr) -> pl.Expr:
    return pl.lit(table).gather(index)


def _weighted(pairs: Sequence[tuple[object, int]], dtype: pl.DataType | None = None) -> pl.Series:
    """A 100-entry table: gather it with ``hash % 100`` to draw by percentage weights."""
    out: list[object] = []
    for value, weight in pairs:
        out.extend([value] * weight)
    if len(out) != 100:
        raise ValueError(f"weights must sum to 100, got {len(out)}")
    return _series(out, dtype)


def _zipf(h: str, size: int) -> pl.Expr:
    """Log-uniform index in [0, size): P(j) ~ 1/(j+1), a Zipf(1)-like head and long tail."""
    u = (pl.col(h) // _u64(1 << 11)).cast(pl.Float64) * (1.0 / (1 << 53))
    j = ((u * math.log(size + 1)).exp() - 1.0).floor()
    return j.clip(0, size - 1).cast(pl.UInt64)


_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_B36_2 = _series([a + b for a in _B36 for b in _B36])
_B36_3 = _series([a + b + c for a in _B36 for b in _B36 for c in _B36])


def _base36_8(v: pl.Expr) -> pl.Expr:
    """Eight lowercase base36 chars, zero padded, for ``0 <= v < 36**8``."""
    return pl.concat_str(
        _pick(_B36_2, (v // _u64(36**6)) % _u64(36**2)),
        _pick(_B36_3, (v // _u64(36**3)) % _u64(36**3)),
        _pick(_B36_3, v % _u64(36**3)),
    )


def _digits(v: pl.Expr, width: int) -> pl.Expr:
    return (v % _u64(10**width)).cast(pl.String).str.zfill(width)


def _when_chain(selector: pl.Expr, branches: Sequence[pl.Expr], default: pl.Expr) -> pl.Expr:
    """``branches[k]`` where ``selector == k``, else ``default``."""
    expr = pl.when(selector == 0).then(branches[0])
    for k, branch in enumerate(branches[1:], start=1):
        expr = expr.when(selector == k).then(branch)
    return expr.otherwise(default)


# --------------------------------------------------------------------------------------
# Value lists
# --------------------------------------------------------------------------------------


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o"))
    return "".join(ch for ch in folded.lower() if "a" <= ch <= "z")


_ROOTS = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Soylent", "Cyberdyne",
    "Tyrell", "Wonka", "Stark", "Wayne", "Oscorp", "Massive", "Northwind", "Contoso",
    "Fabrikam", "Tailspin", "Litware", "Proseware", "Wingtip", "Adatum", "Lucerne", "Woodgrove",
    "Coho", "Humongous", "Lamna", "Olympia", "Pinnacle", "Quantum", "Redwood", "Summit",
    "Sterling", "Vertex", "Zenith", "Apex", "Beacon", "Cobalt", "Evergreen", "Falcon",
    "Granite", "Harbor", "Ironwood", "Juniper", "Keystone", "Lumen", "Meridian", "Nimbus",
)  # fmt: skip
_TAILS = (
    "Systems", "Labs", "Dynamics", "Logistics", "Analytics", "Foods", "Energy", "Health",
    "Robotics", "Media", "Capital", "Networks", "Software", "Biotech", "Motors", "Insurance",
    "Pharma", "Textiles", "Aerospace", "Consulting", "Retail", "Telecom", "Security",
    "Materials", "Marine", "Studios", "Ventures", "Foundry", "Works", "Solutions", "Digital",
    "Cloud", "Finance", "Freight", "Farms", "Electric", "Metals", "Devices", "Games", "Travel",
)  # fmt: skip
_QUALIFIERS = (
    "Pacific", "Atlantic", "Nordic", "Alpine", "Central", "Coastal", "Global", "International",
    "Northern", "Southern", "Eastern", "Western", "Continental", "Metro", "United", "Royal",
    "Prime", "Advanced", "Applied", "Integrated", "Modern", "National", "Premier", "Strategic",
    "Urban", "Valley", "Highland", "Lakeside", "Midland", "Frontier", "Heritage", "Liberty",
)  # fmt: skip
_R, _T, _Q = len(_ROOTS), len(_TAILS), len(_QUALIFIERS)

# 16.7M companies: every row count up to the 10M benchmark keeps a long tail of 1-2 person ones.
COMPANY_UNIVERSE = 1 << 24
# Personal-mail and missing-email rows name companies from this head, so most can resolve.
_NAMED_COMPANY_HEAD = 256

_TLD_TABLE: tuple[tuple[str, int, str | None], ...] = (
    # suffix, percent of companies, country implied by the suffix
    ("com", 55, None), ("io", 6, None), ("net", 5, None), ("org", 3, None),
    ("de", 5, "Germany"), ("co.uk", 6, "United Kingdom"), ("com.au", 4, "Australia"),
    ("co.jp", 3, "Japan"), ("fr", 3, "France"), ("ca", 2, "Canada"),
    ("nl", 2, "Netherlands"), ("com.br", 2, "Brazil"), ("co.nz", 1, "New Zealand"),
    ("co.in", 1, "India"), ("ch", 1, "Switzerland"), ("es", 1, "Spain"),
)  # fmt: skip
_TLDS = _series([t for t, _, _ in _TLD_TABLE])
_TLD_BY_PERCENT = _weighted([(i, w) for i, (_, w, _) in enumerate(_TLD_TABLE)], pl.UInt32())
_COM = 0
_CO_UK = 5

# city, state, country, zip prefix, random zip digits, zip suffix, calling code
_LOCATIONS: tuple[tuple[str, str, str, str, int, str, str], ...] = (
    ("San Francisco", "CA", "United States", "941", 2, "", "1"),
    ("New York", "NY", "United States", "100", 2, "", "1"),
    ("Boston", "MA", "United States", "021", 2, "", "1"),
    ("Austin", "TX", "United States", "787", 2, "", "1"),
    ("Chicago", "IL", "United States", "606", 2, "", "1"),
    ("Seattle", "WA", "United States", "981", 2, "", "1"),
    ("Denver", "CO", "United States", "802", 2, "", "1"),
    ("Atlanta", "GA", "United States", "303", 2, "", "1"),
    ("Miami", "FL", "United States", "331", 2, "", "1"),
    ("Los Angeles", "CA", "United States", "900", 2, "", "1"),
    ("London", "England", "United Kingdom", "EC1A ", 1, "BB", "44"),
    ("Manchester", "England", "United Kingdom", "M1 ", 1, "AE", "44"),
    ("Edinburgh", "Scotland", "United Kingdom", "EH1 ", 1, "YZ", "44"),
    ("Berlin", "Berlin", "Germany", "101", 2, "", "49"),
    ("München", "Bayern", "Germany", "803", 2, "", "49"),
    ("Hamburg", "Hamburg", "Germany", "203", 2, "", "49"),
    ("Köln", "Nordrhein-Westfalen", "Germany", "506", 2, "", "49"),
    ("Paris", "Île-de-France", "France", "750", 2, "", "33"),
    ("Lyon", "Auvergne-Rhône-Alpes", "France", "690", 2, "", "33"),
    ("Toronto", "ON", "Canada", "M5V ", 1, "A1", "1"),
    ("Montréal", "QC", "Canada", "H2X ", 1, "Y4", "1"),
    ("Vancouver", "BC", "Canada", "V6B ", 1, "K2", "1"),
    ("Sydney", "NSW", "Australia", "20", 2, "", "61"),
    ("Melbourne", "VIC", "Australia", "30", 2, "", "61"),
    ("Tokyo", "Tokyo", "Japan", "100-00", 2, "", "81"),
    ("Osaka", "Osaka", "Japan", "530-00", 2, "", "81"),
    ("Amsterdam", "Noord-Holland", "Netherlands", "10", 2, " AB", "31"),
    ("Rotterdam", "Zuid-Holland", "Netherlands", "30", 2, " CD", "31"),
    ("São Paulo", "SP", "Brazil", "01310-", 2, "0", "55"),
    ("Auckland", "Auckland", "New Zealand", "10", 2, "", "64"),
    ("Bengaluru", "Karnataka", "India", "5600", 2, "", "91"),
    ("Zürich", "ZH", "Switzerland", "80", 2, "", "41"),
    ("Madrid", "Madrid", "Spain", "280", 2, "", "34"),
    ("Copenhagen", "Capital Region", "Denmark", "1", 2, "0", "45"),
)
_COUNTRIES = tuple(dict.fromkeys(loc[2] for loc in _LOCATIONS))
_COUNTRY_INDEX = {name: i for i, name in enumerate(_COUNTRIES)}
_COUNTRY_START = _series(
    [next(i for i, loc in enumerate(_LOCATIONS) if loc[2] == c) for c in _COUNTRIES], pl.UInt64()
)
_COUNTRY_COUNT = _series(
    [sum(1 for loc in _LOCATIONS if loc[2] == c) for c in _COUNTRIES], pl.UInt64()
)
_GENERIC_COUNTRY_BY_PERCENT = _weighted(
    [
        (_COUNTRY_INDEX[c], w)
        for c, w in (
            ("United States", 60), ("United Kingdom", 8), ("Germany", 6), ("Canada", 6),
            ("France", 4), ("Australia", 4), ("Netherlands", 3), ("India", 3), ("Japan", 2),
            ("Switzerland", 1), ("Spain", 1), ("Brazil", 1), ("Denmark", 1),
        )  # fmt: skip
    ],
    pl.UInt64(),
)
_TLD_COUNTRY = _series(
    [_COUNTRY_INDEX[c] if c else -1 for _, _, c in _TLD_TABLE], pl.Int64()
)
_LOC_CITY = _series([loc[0] for loc in _LOCATIONS])
_LOC_STATE = _series([loc[1] for loc in _LOCATIONS])
_LOC_COUNTRY = _series([loc[2] for loc in _LOCATIONS])
_LOC_ZIP_PREFIX = _series([loc[3] for loc in _LOCATIONS])
_LOC_ZIP_DIGITS = _series([loc[4] for loc in _LOCATIONS], pl.UInt8())
_LOC_ZIP_SUFFIX = _series([loc[5] for loc in _LOCATIONS])
_LOC_CALLING_CODE = _series([loc[6] for loc in _LOCATIONS])
_US_LOCATIONS = sum(1 for loc in _LOCATIONS if loc[2] == "United States")

_STREETS = _series(
    [
        "Main St", "Market St", "Oak Ave", "Maple Dr", "Park Ave", "Broadway", "High St",
        "Station Rd", "Church Rd", "Mill Ln", "King St", "Queen St", "Hauptstraße",
        "Bahnhofstraße", "Rue de la Paix", "Harbour Rd", "Elm St", "Cedar Ln", "Lake View Dr",
        "Industrial Pkwy", "Innovation Way", "Commerce Blvd", "Tech Park", "Riverside Dr",
    ]
)  # fmt: skip

# Companies with international domains (and one that is Japanese all the way through).
# index in the universe -> (canonical name, Unicode domain, HQ country)
_IDN_COMPANIES: dict[int, tuple[str, str, str]] = {
    5: ("Bücher Online", "bücher.de", "Germany"),
    11: ("München Handel", "münchen-gmbh.de", "Germany"),
    23: ("Café Lumière", "café-lumière.fr", "France"),
    47: ("Ørsted Vind", "ørstedvind.dk", "Denmark"),
    95: ("日本テック", "日本テック.jp", "Japan"),
}
_IDN_ASCII = {j: dom.encode("idna").decode("ascii") for j, (_, dom, _) in _IDN_COMPANIES.items()}
# Companies that also mail from a second registrable domain, so their name is ambiguous.
_SISTER_COMPANIES: tuple[int, ...] = (2,)
_SISTER_ROW_PERCENT = 15

_INDUSTRIES = _series(
    [
        "Software", "Financial Services", "Healthcare", "Manufacturing", "Retail", "Logistics",
        "Telecommunications", "Energy", "Education", "Media & Entertainment", "Biotechnology",
        "Automotive", "Real Estate", "Consulting", "Insurance", "Hospitality", "Agriculture",
        "Aerospace & Defense", "Government", "Non-Profit",
    ]
)  # fmt: skip
_SIZE_MIN = _series([1, 11, 51, 201, 501, 1001, 5001, 10001], pl.Int32())
_SIZE_MAX = _series([10, 50, 200, 500, 1000, 5000, 10000, None], pl.Int32())

_LEGAL_SUFFIXES = _series(
    [
        "", " Inc.", ", Inc.", " Inc", " LLC", ", LLC", " Ltd", " Ltd.", " Limited", " GmbH",
        " Corp.", " Corporation", " AG", " S.A.", " plc", " B.V.", " Pty Ltd", " SAS", " Oy",
    ]
)  # fmt: skip
_UNKNOWN_COMPANIES = _series(
    [
        "Self-employed", "Freelance", "N/A", "Independent Consultant", "Retired", "Student",
        "Confidential", "Stealth Startup", "Zorblax Quantum Widgets", "Fjordheim Ocean Trading",
        "-", "none",
    ]
)  # fmt: skip
_BLANKS = _series(["", " ", "  \t"])

_PERSONAL_DOMAINS = _weighted(
    [
        ("gmail.com", 35), ("yahoo.com", 10), ("hotmail.com", 10), ("outlook.com", 10),
        ("yahoo.co.uk", 5), ("gmx.de", 5), ("icloud.com", 7), ("aol.com", 4), ("web.de", 3),
        ("protonmail.com", 3), ("live.com", 3), ("hotmail.co.uk", 2), ("orange.fr", 2),
        ("yandex.ru", 1),
    ]
)  # fmt: skip
_DISPOSABLE_DOMAINS = _series(
    [
        "mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com",
        "trashmail.com", "sharklasers.com", "temp-mail.org",
    ]
)  # fmt: skip
_SUBDOMAINS = _series(["mail", "eu.sales", "us", "corp", "email", "de.mail", "m", "uk.info"])
_NONSENSE_EMAILS = _series(["n/a", "unknown", "-", "none", "null"])

_MALE_FIRST = (
    "James", "John", "Robert", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Daniel", "Matthew", "Anthony", "Mark", "Paul", "Steven", "Andrew", "Kevin", "Brian",
    "Jürgen", "José", "François", "Søren", "Luca", "Hiroshi", "Rahul", "Wei", "Ahmed", "Lars",
    "Pedro", "Ivan", "Oliver", "Noah",
)  # fmt: skip
_FEMALE_FIRST = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica",
    "Sarah", "Karen", "Lisa", "Nancy", "Emily", "Michelle", "Laura", "Anna", "Zoë", "Chloé",
    "Ingrid", "Maria", "Sofia", "Yuki", "Priya", "Mei", "Fatima", "Astrid", "Lucía", "Olga",
    "Emma", "Olivia", "Hannah", "Amélie",
)  # fmt: skip
_LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Müller", "Schmidt", "Schneider", "Fischer",
    "Weber", "Dubois", "Lefèvre", "Rossi", "Bianchi", "Nguyen", "Tanaka", "Suzuki", "Sato",
    "Kim", "Park", "Chen", "Wang", "Patel", "Singh", "Kumar", "O'Brien", "O'Connor",
    "García-López", "van der Berg", "de Vries", "Jansen", "Nielsen", "Andersson", "Johansson",
    "Kowalski", "Novák", "Ivanov", "Silva", "Santos", "Costa", "Murphy", "Kelly", "Byrne",
    "MacDonald", "Fitzgerald", "St. John", "Østergaard",
)  # fmt: skip
_MALE_FIRST_S, _FEMALE_FIRST_S, _LAST_S = _series(_MALE_FIRST), _series(_FEMALE_FIRST), _series(_LAST)
_MALE_SLUG = _series([_ascii_slug(n) for n in _MALE_FIRST])
_FEMALE_SLUG = _series([_ascii_slug(n) for n in _FEMALE_FIRST])
_LAST_SLUG = _series([_ascii_slug(n) for n in _LAST])

_LEVELS = ("C-Level", "VP", "Director", "Manager", "Individual Contributor")
_LEVEL_BY_PERCENT = _weighted([(0, 4), (1, 7), (2, 14), (3, 27), (4, 48)], pl.UInt64())
_LEVELS_S = _series(_LEVELS)
# department, its C-level title, three individual-contributor titles
_DEPARTMENTS: tuple[tuple[str, str, tuple[str, str, str]], ...] = (
    ("Engineering", "CTO", ("Software Engineer", "Senior Software Engineer", "Staff Engineer")),
    ("Sales", "Chief Revenue Officer", ("Account Executive", "Sales Representative", "SDR")),
    ("Marketing", "CMO", ("Marketing Specialist", "Content Strategist", "SEO Analyst")),
    ("Finance", "CFO", ("Financial Analyst", "Accountant", "Controller")),
    ("Human Resources", "CHRO", ("Recruiter", "HR Generalist", "HR Business Partner")),
    ("Operations", "COO", ("Operations Analyst", "Project Coordinator", "Buyer")),
    ("IT", "CIO", ("Systems Administrator", "IT Support Specialist", "Network Engineer")),
    ("Legal", "General Counsel", ("Paralegal", "Legal Counsel", "Compliance Officer")),
    ("Product", "Chief Product Officer", ("Product Manager", "UX Designer", "Product Analyst")),
    ("Customer Success", "Chief Customer Officer", ("Customer Success Manager", "Support Engineer", "Onboarding Specialist")),
    ("Procurement", "Chief Procurement Officer", ("Procurement Specialist", "Category Buyer", "Sourcing Analyst")),
    ("Executive", "CEO", ("Executive Assistant", "Chief of Staff", "Board Advisor")),
)  # fmt: skip
_DEPARTMENTS_S = _series([d for d, _, _ in _DEPARTMENTS])
_CLEVEL_TITLES = _series([c for _, c, _ in _DEPARTMENTS])
_IC_TITLES = _series([t for _, _, titles in _DEPARTMENTS for t in titles])
# Titles a drop update moves people to.
_UPDATE_TITLES = _series(
    [
        "Head of Growth", "Principal Engineer", "Regional Sales Director", "VP of Partnerships",
        "Data Scientist", "Solutions Architect", "Chief Data Officer", "Program Manager",
    ]
)  # fmt: skip

_SOURCES = ("hubspot", "salesforce", "csv_import")
_SOURCES_S = _series(_SOURCES)
_SOURCE_BY_PERCENT = _weighted([(0, 45), (1, 40), (2, 15)], pl.UInt64())

# Row kinds before refinement, with their share in basis points (of 10,000).
_KIND_THRESHOLDS: tuple[tuple[str, int], ...] = (
    ("personal_named_company", 1400),
    ("personal_unknown_company", 1700),
    ("personal_no_company", 2000),
    ("disposable_email", 2150),
    ("missing_email", 2300),
    ("broken_email", 2450),
    ("corporate_messy_email", 2750),
    ("corporate_subdomain", 3250),
)

CASES: tuple[str, ...] = (
    "corporate",
    "corporate_subdomain",
    "corporate_messy_email",
    "corporate_idn_unicode",
    "corporate_idn_ascii",
    "corporate_sister_domain",
    "personal_named_company",
    "personal_ambiguous_company",
    "personal_unknown_company",
    "personal_no_company",
    "disposable_email",
    "missing_email",
    "missing_email_named_company",
    "broken_email",
)
_CASE = {name: i for i, name in enumerate(CASES)}
_CASES_S = _series(CASES)

_EPOCH_2021_MS = 1_609_459_200_000  # 2021-01-01T00:00:00Z
_EPOCH_2026_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z (exclusive)

# --------------------------------------------------------------------------------------
# The company world
# --------------------------------------------------------------------------------------


def company_name(index: int) -> str:
    """Canonical name of company ``index`` of the universe (plain Python, for tests and docs)."""
    if index in _IDN_COMPANIES:
        return _IDN_COMPANIES[index][0]
    root, tail, q = index % _R, (index // _R) % _T, index // (_R * _T)
    name = f"{_ROOTS[root]} {_TAILS[tail]}"
    if q:
        name += f" {_QUALIFIERS[(q - 1) % _Q]}"
        if (q - 1) // _Q:
            name += f" {(q - 1) // _Q + 1}"
    return name


def company_domain(index: int) -> str:
    """Registrable domain (IDNA ASCII) of company ``index``, as the pipeline should store it."""
    frame = pl.DataFrame({"j": [index]}, schema={"j": pl.UInt64}).lazy()
    return _with_company(frame).select("domain_ascii").collect().item()


def _with_company(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add the attributes of company ``j`` (a pure function of ``j``, independent of seed)."""
    j = pl.col("j")
    key = _mix(j ^ _u64(_WORLD_KEY))
    frame = frame.with_columns(*(_stream(key, k).alias(f"c{k}") for k in range(4)))

    q = j // _u64(_R * _T)
    qualifier = _pick(_series(_QUALIFIERS), (q - _u64(1)) % _u64(_Q))
    number = (q - _u64(1)) // _u64(_Q) + _u64(1)
    has_q, has_number = q > _u64(0), q > _u64(_Q)
    root_i, tail_i = j % _u64(_R), (j // _u64(_R)) % _u64(_T)
    regular_name = pl.concat_str(
        _pick(_series(_ROOTS), root_i),
        pl.lit(" "),
        _pick(_series(_TAILS), tail_i),
        pl.when(has_q).then(pl.lit(" ") + qualifier).otherwise(pl.lit("")),
        pl.when(has_number).then(pl.lit(" ") + number.cast(pl.String)).otherwise(pl.lit("")),
    )
    slug = pl.concat_str(
        _pick(_series([r.lower() for r in _ROOTS]), root_i),
        _pick(_series([t.lower() for t in _TAILS]), tail_i),
        pl.when(has_q).then(pl.lit("-") + qualifier.str.to_lowercase()).otherwise(pl.lit("")),
        pl.when(has_number).then(number.cast(pl.String)).otherwise(pl.lit("")),
    )
    tld_i = pl.when(j == _u64(0)).then(pl.lit(_COM, pl.UInt32)).otherwise(
        _pick(_TLD_BY_PERCENT, _bits("c0", 0, 100))
    )
    tld = _pick(_TLDS, tld_i)
    regular_domain = pl.concat_str(slug, pl.lit("."), tld)
    sister_tld = pl.when(tld_i == _CO_UK).then(pl.lit("com")).otherwise(pl.lit("co.uk"))

    def special(values: dict[int, object], default: pl.Expr) -> pl.Expr:
        expr: pl.Expr | None = None
        for index, value in values.items():
            expr = (pl.when(j == _u64(index)) if expr is None else expr.when(j == _u64(index))).then(
                pl.lit(value)
            )
        return expr.otherwise(default) if expr is not None else default

    tld_country = _pick(_TLD_COUNTRY, tld_i)
    country_i = special(
        {i: _COUNTRY_INDEX[c] for i, (_, _, c) in _IDN_COMPANIES.items()},
        pl.when(tld_country >= 0)
        .then(tld_country)
        .otherwise(_pick(_GENERIC_COUNTRY_BY_PERCENT, _bits("c1", 0, 100)).cast(pl.Int64)),
    ).cast(pl.UInt64)
    loc_start, loc_count = _pick(_COUNTRY_START, country_i), _pick(_COUNTRY_COUNT, country_i)
    alt_country_i = _pick(_GENERIC_COUNTRY_BY_PERCENT, _bits("c3", 24, 100))

    # Bigger near the head of the Zipf ranking: rank 0-2 are 10001+, the long tail is 1-10.
    rank_bucket = 6 - ((j + _u64(1)).cast(pl.Float64).log(2) / 3.3).floor().cast(pl.Int64)
    bucket = (
        pl.when(j < _u64(3))
        .then(pl.lit(7, pl.Int64))
        .otherwise((rank_bucket + _bits("c0", 8, 3).cast(pl.Int64) - 1).clip(0, 6))
    )
    alt_bucket = pl.when(_bits("c3", 8, 2) == 0).then(bucket + 1).otherwise(bucket - 1)
    alt_bucket = pl.when(alt_bucket < 0).then(pl.lit(1, pl.Int64)).otherwise(alt_bucket.clip(0, 7))
    per_employee = (_bits("c2", 0, 400) + _u64(50)).cast(pl.Int64) * 1000

    return frame.with_columns(
        company_name=special({i: v[0] for i, v in _IDN_COMPANIES.items()}, regular_name),
        slug=slug,
        domain_unicode=special({i: v[1] for i, v in _IDN_COMPANIES.items()}, regular_domain),
        domain_ascii=special(_IDN_ASCII, regular_domain),
        sister_domain=pl.concat_str(slug, pl.lit("."), sister_tld),
        industry_i=_bits("c0", 16, _INDUSTRIES.len()),
        industry_alt_i=(
            _bits("c0", 16, _INDUSTRIES.len()) + _u64(1) + _bits("c3", 0, _INDUSTRIES.len() - 1)
        )
        % _u64(_INDUSTRIES.len()),
        bucket=bucket.cast(pl.UInt32),
        bucket_alt=alt_bucket.cast(pl.UInt32),
        revenue_base=per_employee,
        revenue_alt_pct=(_bits("c3", 40, 100) + _u64(50)).cast(pl.Int64),
        hq_loc=loc_start + _bits("c1", 8, 1 << 20) % loc_count,
        alt_loc=_pick(_COUNTRY_START, alt_country_i)
        + _bits("c3", 32, 1 << 16) % _pick(_COUNTRY_COUNT, alt_country_i),
        has_size_link=_bits("c2", 16, 100) < _u64(60),
    ).drop("c0", "c1", "c3")


# --------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------


def _seed_key(seed: int) -> int:
    return _splitmix64((seed * 0x632BE59BD9B4E019 + 0x1234567) & _MASK64)


def _customers_lazy(rows: int, seed: int, offset: int) -> pl.LazyFrame:
    if rows < 0 or offset < 0:
        raise ValueError(f"rows and offset must be >= 0, got rows={rows}, offset={offset}")
    if offset + rows > 1 << _ID_INDEX_BITS:
        raise ValueError(f"row indices must stay below 2**{_ID_INDEX_BITS}")
    key = _seed_key(seed)
    frame = pl.LazyFrame().select(i=pl.int_range(offset, offset + rows, dtype=pl.UInt64))
    base = _mix(pl.col("i") ^ _u64(key))
    frame = frame.with_columns(*(_stream(base, k).alias(f"r{k}") for k in range(14)))

    # --- what kind of row this is, and which company it is about
    kind_bp = _bits("r0", 0, 10_000)
    kind = pl.lit(_CASE["corporate"], pl.UInt8)
    for name, threshold in reversed(_KIND_THRESHOLDS):
        kind = pl.when(kind_bp < _u64(threshold)).then(pl.lit(_CASE[name], pl.UInt8)).otherwise(kind)
    missing_named = _bits("r0", 16, 2) == 0
    kind = (
        pl.when((kind == _CASE["missing_email"]) & missing_named)
        .then(pl.lit(_CASE["missing_email_named_company"], pl.UInt8))
        .otherwise(kind)
    )
    named_by_company = kind.is_in([_CASE["personal_named_company"], _CASE["missing_email_named_company"]])
    frame = frame.with_columns(
        kind=kind,
        j=pl.when(named_by_company).then(_zipf("r2", _NAMED_COMPANY_HEAD)).otherwise(
            _zipf("r1", COMPANY_UNIVERSE)
        ),
    )
    frame = _with_company(frame)

    kind, j = pl.col("kind"), pl.col("j")
    corporate_email = kind.is_in(
        [_CASE["corporate"], _CASE["corporate_subdomain"], _CASE["corporate_messy_email"]]
    )
    sister_row = corporate_email & j.is_in(_SISTER_COMPANIES) & (
        _bits("r0", 20, 100) < _u64(_SISTER_ROW_PERCENT)
    )
    idn_company = j.is_in(list(_IDN_COMPANIES))
    ascii_form = _bits("r0", 28, 2) == 0
    ambiguous = j.is_in(_SISTER_COMPANIES)
    case = (
        pl.when(kind == _CASE["corporate"])
        .then(
            pl.when(sister_row)
            .then(pl.lit(_CASE["corporate_sister_domain"], pl.UInt8))
            .when(idn_company & ascii_form)
            .then(pl.lit(_CASE["corporate_idn_ascii"], pl.UInt8))
            .when(idn_company)
            .then(pl.lit(_CASE["corporate_idn_unicode"], pl.UInt8))
            .otherwise(kind)
        )
        .when((kind == _CASE["personal_named_company"]) & ambiguous)
        .then(pl.lit(_CASE["personal_ambiguous_company"], pl.UInt8))
        .otherwise(kind)
    )
    frame = frame.with_columns(
        case=case,
        host_base=pl.when(sister_row)
        .then(pl.col("sister_domain"))
        .when(ascii_form)
        .then(pl.col("domain_ascii"))
        .otherwise(pl.col("domain_unicode")),
        expected_domain=pl.when(sister_row)
        .then(pl.col("sister_domain"))
        .when(corporate_email | (named_by_company & ~ambiguous))
        .then(pl.col("domain_ascii"))
        .otherwise(pl.lit(None, pl.String)),
    )

    # --- the person
    male = _bits("r4", 0, 2) == 0
    first_i = _bits("r4", 1, 1 << 15)
    last_i = _bits("r4", 16, _LAST_S.len())
    first = pl.when(male).then(_pick(_MALE_FIRST_S, first_i % _u64(_MALE_FIRST_S.len()))).otherwise(
        _pick(_FEMALE_FIRST_S, first_i % _u64(_FEMALE_FIRST_S.len()))
    )
    first_slug = pl.when(male).then(_pick(_MALE_SLUG, first_i % _u64(_MALE_SLUG.len()))).otherwise(
        _pick(_FEMALE_SLUG, first_i % _u64(_FEMALE_SLUG.len()))
    )
    salutation_roll = _bits("r4", 32, 100)
    salutation = (
        pl.when(salutation_roll < 25)
        .then(pl.lit(None, pl.String))
        .when(salutation_roll < 33)
        .then(pl.lit("Dr."))
        .when(salutation_roll < 35)
        .then(pl.lit("Prof."))
        .when(salutation_roll < 36)
        .then(pl.lit("Mx."))
        .when(male)
        .then(pl.lit("Mr."))
        .when(salutation_roll < 75)
        .then(pl.lit("Ms."))
        .otherwise(pl.lit("Mrs."))
    )
    frame = frame.with_columns(
        salutation=salutation,
        firstName=first,
        lastName=_pick(_LAST_S, last_i),
        first_slug=first_slug,
        last_slug=_pick(_LAST_SLUG, last_i),
    )

    # --- email
    fs, ls = pl.col("first_slug"), pl.col("last_slug")
    number = (_bits("r3", 16, 90) + _u64(10)).cast(pl.String)
    local = _when_chain(
        _bits("r3", 8, 10),
        [
            pl.concat_str(fs, pl.lit("."), ls),
            pl.concat_str(fs, pl.lit("."), ls),
            pl.concat_str(fs, pl.lit("."), ls),
            pl.concat_str(fs, pl.lit("."), ls),
            pl.concat_str(fs.str.slice(0, 1), ls),
            pl.concat_str(fs, pl.lit("_"), ls),
            pl.concat_str(fs, ls),
            fs,
            pl.concat_str(ls, pl.lit("."), fs),
        ],
        pl.concat_str(fs, pl.lit("."), ls, number),
    )
    frame = frame.with_columns(local=local)
    local, host_base = pl.col("local"), pl.col("host_base")
    host = pl.when(kind == _CASE["corporate_subdomain"]).then(
        pl.concat_str(_pick(_SUBDOMAINS, _bits("r3", 32, _SUBDOMAINS.len())), pl.lit("."), host_base)
    ).otherwise(host_base)
    plain = pl.concat_str(local, pl.lit("@"), host)
    upper_host = pl.concat_str(local, pl.lit("@"), host.str.to_uppercase())
    messy = _when_chain(
        _bits("r3", 36, 5),
        [
            pl.concat_str(pl.lit("  Mailto:<"), upper_host, pl.lit("> ")),
            pl.concat_str(pl.lit("<"), plain, pl.lit(">")),
            pl.concat_str(pl.lit("MAILTO:"), plain),
            pl.concat_str(pl.lit(" "), upper_host, pl.lit("\t")),
        ],
        pl.concat_str(pl.lit("  "), local.str.to_titlecase(), pl.lit("@"), host.str.to_uppercase()),
    )
    personal_local = pl.when(_bits("r3", 40, 2) == 0).then(pl.concat_str(local, number)).otherwise(local)
    personal = pl.concat_str(personal_local, pl.lit("@"), _pick(_PERSONAL_DOMAINS, _bits("r3", 24, 100)))
    disposable = pl.concat_str(local, pl.lit("@"), _pick(_DISPOSABLE_DOMAINS, _bits("r3", 44, _DISPOSABLE_DOMAINS.len())))
    broken = _when_chain(
        _bits("r3", 48, 10),
        [
            pl.concat_str(fs, pl.lit("."), ls),
            pl.concat_str(fs, pl.lit("@@"), host_base),
            pl.concat_str(fs, pl.lit("@localhost")),
            pl.concat_str(fs, pl.lit("@192.168.1."), (_bits("r3", 52, 250) + _u64(1)).cast(pl.String)),
            pl.concat_str(fs, pl.lit("@"), pl.col("slug")),
            pl.concat_str(pl.lit("@"), host_base),
            pl.concat_str(fs, pl.lit("."), ls, pl.lit("@")),
            pl.concat_str(fs, pl.lit(" "), ls, pl.lit("@"), host_base),
            pl.concat_str(fs, pl.lit(".."), ls, pl.lit("@"), host_base),
        ],
        _pick(_NONSENSE_EMAILS, _bits("r3", 52, _NONSENSE_EMAILS.len())),
    )
    missing = _when_chain(_bits("r3", 56, 4), [pl.lit(None, pl.String), pl.lit(None, pl.String), pl.lit("")], pl.lit("   "))
    email = (
        pl.when(corporate_email & (kind == _CASE["corporate_messy_email"]))
        .then(messy)
        .when(corporate_email)
        .then(plain)
        .when(kind.is_in([_CASE["personal_named_company"], _CASE["personal_unknown_company"], _CASE["personal_no_company"]]))
        .then(personal)
        .when(kind == _CASE["disposable_email"])
        .then(disposable)
        .when(kind == _CASE["broken_email"])
        .then(broken)
        .otherwise(missing)
    )

    # --- company name as written on the row
    canonical = pl.col("company_name")
    styled = _when_chain(
        _bits("r12", 8, 4),
        [canonical, canonical.str.to_uppercase(), canonical.str.to_lowercase()],
        canonical,
    )
    variant = pl.concat_str(styled, _pick(_LEGAL_SUFFIXES, _bits("r12", 16, _LEGAL_SUFFIXES.len())))
    variant = pl.when(_bits("r12", 24, 10) == 0).then(pl.concat_str(pl.lit("  "), variant, pl.lit(" "))).otherwise(variant)
    name_roll = _bits("r12", 0, 100)
    corporate_company = (
        pl.when(name_roll < 72)
        .then(canonical)
        .when(name_roll < 95)
        .then(variant)
        .when(name_roll < 98)
        .then(pl.lit(None, pl.String))
        .otherwise(_pick(_BLANKS, _bits("r12", 28, 2)))
    )
    unknown_company = _pick(_UNKNOWN_COMPANIES, _bits("r12", 32, _UNKNOWN_COMPANIES.len()))
    no_company = _when_chain(_bits("r12", 40, 4), [pl.lit(None, pl.String), pl.lit(None, pl.String), pl.lit("")], pl.lit("   "))
    company = (
        pl.when(named_by_company)
        .then(pl.when(name_roll < 50).then(canonical).otherwise(variant))
        .when(kind == _CASE["personal_unknown_company"])
        .then(unknown_company)
        .when(kind == _CASE["personal_no_company"])
        .then(no_company)
        .when(kind == _CASE["missing_email"])
        .then(pl.when(_bits("r12", 44, 2) == 0).then(unknown_company).otherwise(no_company))
        .otherwise(corporate_company)
    )

    # --- job
    level_i = _pick(_LEVEL_BY_PERCENT, _bits("r5", 0, 100))
    dept_i = _bits("r5", 8, _DEPARTMENTS_S.len())
    dept = _pick(_DEPARTMENTS_S, dept_i)
    style = _bits("r5", 16, 3)
    title = _when_chain(
        level_i,
        [
            _pick(_CLEVEL_TITLES, dept_i),
            _when_chain(style, [pl.concat_str(pl.lit("VP of "), dept), pl.concat_str(pl.lit("Vice President, "), dept)], pl.concat_str(pl.lit("SVP "), dept)),
            _when_chain(style, [pl.concat_str(pl.lit("Director of "), dept), pl.concat_str(dept, pl.lit(" Director"))], pl.concat_str(pl.lit("Senior Director, "), dept)),
            _when_chain(style, [pl.concat_str(dept, pl.lit(" Manager")), pl.concat_str(pl.lit("Senior "), dept, pl.lit(" Manager"))], pl.concat_str(pl.lit("Manager, "), dept)),
        ],
        _pick(_IC_TITLES, dept_i * _u64(3) + style),
    )
    optional = _bits("r13", 16, 100)
    job_link = pl.concat_str(pl.lit("https://www.linkedin.com/in/"), fs, pl.lit("-"), ls, pl.lit("-"), _pick(_B36_3, _bits("r5", 24, 36**3)))

    # --- location: company HQ, a conflicting second HQ, or the person's own place
    loc_roll = _bits("r8", 0, 100)
    row_loc = _bits("r8", 8, len(_LOCATIONS))
    loc = (
        pl.when(loc_roll < 80)
        .then(pl.col("hq_loc"))
        .when(loc_roll < 88)
        .then(pl.col("alt_loc"))
        .otherwise(row_loc)
    )
    own_place = loc_roll >= 88
    loc_missing = loc_roll >= 98
    street_h = pl.when(own_place).then(pl.col("r8")).otherwise(pl.col("c2"))
    frame = frame.with_columns(
        email=email,
        company=company,
        jobTitle=pl.when(optional < 3).then(pl.lit(None, pl.String)).otherwise(title),
        jobTitleLevel=pl.when(_bits("r13", 24, 100) < 5).then(pl.lit(None, pl.String)).otherwise(_pick(_LEVELS_S, level_i)),
        department=pl.when(_bits("r13", 32, 100) < 5).then(pl.lit(None, pl.String)).otherwise(dept),
        jobTitleLink=pl.when(_bits("r13", 40, 100) < 60).then(pl.lit(None, pl.String)).otherwise(job_link),
        loc=loc,
        loc_missing=loc_missing,
        street_h=street_h,
    )
    loc = pl.col("loc")
    street_h = pl.col("street_h")
    address = pl.concat_str(
        (_bits(street_h, 20, 999) + _u64(1)).cast(pl.String),
        pl.lit(" "),
        _pick(_STREETS, _bits(street_h, 32, _STREETS.len())),
        pl.when(_bits(street_h, 40, 5) == 0).then(pl.concat_str(pl.lit(", Suite "), (_bits(street_h, 44, 40) * _u64(10) + _u64(100)).cast(pl.String))).otherwise(pl.lit("")),
    )
    zip_digits = _digits(_bits(street_h, 50, 100), 2)
    zip_code = pl.concat_str(
        _pick(_LOC_ZIP_PREFIX, loc),
        pl.when(_pick(_LOC_ZIP_DIGITS, loc) == 1).then(zip_digits.str.slice(1, 1)).otherwise(zip_digits),
        _pick(_LOC_ZIP_SUFFIX, loc),
    )
    country = _pick(_LOC_COUNTRY, loc)
    us_variant = _bits("r8", 48, 20)
    country = (
        pl.when((loc < _US_LOCATIONS) & (us_variant == 0))
        .then(pl.lit("USA"))
        .when((loc < _US_LOCATIONS) & (us_variant == 1))
        .then(pl.lit("US"))
        .otherwise(country)
    )

    def unless_missing(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("loc_missing")).then(pl.lit(None, pl.String)).otherwise(expr)

    # --- phones
    cc = _pick(_LOC_CALLING_CODE, loc)
    a3 = (_bits("r6", 8, 900) + _u64(100)).cast(pl.String)
    b3 = _digits(_bits("r6", 20, 1000), 3)
    c4 = _digits(_bits("r6", 32, 10_000), 4)
    phone = _when_chain(
        _bits("r6", 0, 4),
        [
            pl.concat_str(pl.lit("+"), cc, pl.lit(" "), a3, pl.lit(" "), b3, pl.lit(" "), c4),
            pl.concat_str(pl.lit("("), a3, pl.lit(") "), b3, pl.lit("-"), c4),
            pl.concat_str(pl.lit("+"), cc, a3, b3, c4),
        ],
        pl.concat_str(pl.lit("+"), cc, pl.lit(" "), a3, pl.lit("-"), b3, pl.lit("-"), c4, pl.lit(" ext. "), _bits("r6", 48, 900).cast(pl.String)),
    )
    mobile = pl.concat_str(
        pl.lit("+"), cc, pl.lit(" 7"), _digits(_bits("r7", 8, 100), 2), pl.lit(" "), _digits(_bits("r7", 16, 1000), 3), pl.lit(" "), _digits(_bits("r7", 32, 10_000), 4)
    )

    # --- company attributes as written on the row: mostly the company's, sometimes conflicting
    conflict = _bits("r12", 48, 100)
    industry = (
        pl.when(conflict < 4)
        .then(pl.lit(None, pl.String))
        .when(conflict < 12)
        .then(_pick(_INDUSTRIES, pl.col("industry_alt_i")))
        .otherwise(_pick(_INDUSTRIES, pl.col("industry_i")))
    )
    size_roll = _bits("r12", 56, 100)
    bucket = pl.when(size_roll < 8).then(pl.col("bucket_alt")).otherwise(pl.col("bucket"))
    size_missing = size_roll >= 96
    min_size = pl.when(size_missing).then(pl.lit(None, pl.Int32)).otherwise(_pick(_SIZE_MIN, bucket))
    max_size = pl.when(size_missing).then(pl.lit(None, pl.Int32)).otherwise(_pick(_SIZE_MAX, bucket))
    company_bucket_min = _pick(_SIZE_MIN, pl.col("bucket")).cast(pl.Int64)
    revenue = pl.col("revenue_base") * company_bucket_min * 2
    revenue_roll = _bits("r7", 40, 100)
    revenue = (
        pl.when(revenue_roll < 15)
        .then(pl.lit(None, pl.Int64))
        .when(revenue_roll < 21)
        .then(revenue * pl.col("revenue_alt_pct") // 100)
        .otherwise(revenue)
    )
    size_link = pl.concat_str(pl.lit("https://www.linkedin.com/company/"), pl.col("slug"), pl.lit("/people/"))
    size_link = pl.when(pl.col("has_size_link") & (_bits("r7", 48, 10) > 0)).then(size_link).otherwise(pl.lit(None, pl.String))

    # --- provenance and timestamps
    i = pl.col("i")
    source_i = _pick(_SOURCE_BY_PERCENT, _bits("r11", 48, 100))
    external_id = _when_chain(
        source_i,
        [
            pl.concat_str(pl.lit("hs-"), i.cast(pl.String)),
            pl.concat_str(pl.lit("003"), i.cast(pl.String).str.zfill(15)),
        ],
        pl.concat_str(pl.lit("csv-"), i.cast(pl.String)),
    )
    span = _EPOCH_2026_MS - _EPOCH_2021_MS
    created = _u64(_EPOCH_2021_MS) + pl.col("r9") % _u64(span)
    frame = frame.with_columns(created_ms=created)
    created = pl.col("created_ms")
    updated = pl.when(_bits("r10", 0, 4) == 0).then(created).otherwise(
        created + (pl.col("r10") // _u64(4)) % (_u64(_EPOCH_2026_MS) - created)
    )
    index_part = ((i * _u64(_ID_MULTIPLIER)) % _u64(1 << _ID_INDEX_BITS)) ^ _u64(key % (1 << _ID_INDEX_BITS))
    cuid = pl.concat_str(
        pl.lit("c"), _base36_8(created), _base36_8(index_part), _base36_8(pl.col("r11") % _u64(36**8))
    )

    frame = frame.with_columns(
        id=cuid,
        phone=pl.when(optional < 15).then(pl.lit(None, pl.String)).otherwise(phone),
        mobilePhone=pl.when(_bits("r7", 0, 100) < 55).then(pl.lit(None, pl.String)).otherwise(mobile),
        industry=industry,
        minEmployeeSize=min_size,
        maxEmployeeSize=max_size,
        employeeSizeLink=size_link,
        revenue=revenue,
        address=unless_missing(address),
        city=unless_missing(_pick(_LOC_CITY, loc)),
        state=unless_missing(_pick(_LOC_STATE, loc)),
        country=unless_missing(country),
        zipCode=unless_missing(zip_code),
        externalSource=_pick(_SOURCES_S, source_i),
        externalId=external_id,
        createdAt=pl.from_epoch(created.cast(pl.Int64), time_unit="ms"),
        updatedAt=pl.from_epoch(updated.cast(pl.Int64), time_unit="ms"),
        _case=_pick(_CASES_S, pl.col("case")),
        _company_domain=pl.col("expected_domain"),
    )

    # A few fields are empty or whitespace-only: at most one per row, ~0.8% per column.
    blank_roll = _bits("r13", 0, 1000)
    blank_value = _pick(_BLANKS, _bits("r13", 10, _BLANKS.len()))
    blankable = ("firstName", "lastName", "jobTitle", "department", "phone", "city", "state", "zipCode", "industry", "address")
    frame = frame.with_columns(
        pl.when(blank_roll // _u64(8) == _u64(k)).then(blank_value).otherwise(pl.col(name)).alias(name)
        for k, name in enumerate(blankable)
    )
    return frame.select(*CUSTOMER_COLUMNS, "_case", "_company_domain").cast(CUSTOMER_SCHEMA)


def generate_customers(
    rows: int, seed: int = 42, *, offset: int = 0, with_truth: bool = False
) -> pl.DataFrame:
    """Rows ``[offset, offset + rows)`` of the deterministic legacy ``Customer`` stream for ``seed``.

    Columns are ``CUSTOMER_COLUMNS`` with ``CUSTOMER_SCHEMA`` dtypes (Int32 sizes, Int64
    revenue, Datetime(ms) timestamps). ``with_truth`` appends ``_case`` and ``_company_domain``.
    """
    frame = _customers_lazy(rows, seed, offset).collect()
    return frame if with_truth else frame.drop("_case", "_company_domain")


def iter_customer_chunks(
    rows: int, seed: int = 42, chunk_rows: int = 200_000, *, with_truth: bool = False
) -> Iterator[pl.DataFrame]:
    """The first ``rows`` rows of the stream in frames of at most ``chunk_rows`` (bounded memory)."""
    if chunk_rows <= 0:
        raise ValueError(f"chunk_rows must be > 0, got {chunk_rows}")
    for start in range(0, rows, chunk_rows):
        yield generate_customers(min(chunk_rows, rows - start), seed, offset=start, with_truth=with_truth)


# --------------------------------------------------------------------------------------
# CSV drops
# --------------------------------------------------------------------------------------


def _drop_offset(seed: int) -> int:
    # Each drop seed gets its own 16M-row window of new people, disjoint from legacy rows.
    return _DROP_INDEX_BASE + (seed % (1 << 16)) * (1 << 24)


def generate_drop(
    rows: int,
    seed: int,
    *,
    existing: pl.DataFrame | None = None,
    update_fraction: float = 0.5,
    missing_external_id_fraction: float = 0.0,
    with_truth: bool = False,
) -> pl.DataFrame:
    """A CSV-drop-shaped frame (``DROP_COLUMNS``, no id/timestamps) of ``rows`` rows.

    About ``update_fraction`` of the rows (bounded by ``existing.height``) re-send people of
    ``existing`` with the same ``externalSource``/``externalId`` and a changed ``jobTitle`` and
    location group (the person moved: address, city, state, country, zipCode); the rest are
    brand-new people (externalIds never used by the legacy stream, with the same hard cases,
    some at companies not in ``existing``). ``missing_external_id_fraction`` of the rows get a
    null/empty ``externalId`` (the ``missing_external_id`` quarantine case). With
    ``with_truth`` the frame also has ``_drop_action`` ("new" or "update") and, where known,
    ``_case``/``_company_domain``. Deterministic for the same arguments (updates depend on the
    row order of ``existing``).
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= update_fraction <= 1.0 or not 0.0 <= missing_external_id_fraction <= 1.0:
        raise ValueError("fractions must be within [0, 1]")
    key = _seed_key(seed ^ 0xD809)
    n_update = 0 if existing is None else min(round(rows * update_fraction), existing.height)
    n_new = rows - n_update

    new = generate_customers(n_new, seed, offset=_drop_offset(seed), with_truth=True)
    new = new.select(*DROP_COLUMNS, "_case", "_company_domain").with_columns(
        _drop_action=pl.lit("new")
    )
    parts = [new]
    if n_update:
        assert existing is not None
        truth = [c for c in ("_case", "_company_domain") if c in existing.columns]
        picked = (
            existing.lazy()
            .select(*DROP_COLUMNS, *truth)
            .with_row_index("_pos")
            .with_columns(_h=_mix(pl.col("_pos").cast(pl.UInt64) ^ _u64(key)))
            .sort("_h")
            .head(n_update)
        )
        h = _stream(pl.col("_h"), 0)
        new_title = _pick(_UPDATE_TITLES, _bits(h, 0, _UPDATE_TITLES.len()))
        next_title = _pick(_UPDATE_TITLES, (_bits(h, 0, _UPDATE_TITLES.len()) + _u64(1)) % _u64(_UPDATE_TITLES.len()))
        loc = _bits(h, 8, len(_LOCATIONS))
        next_loc = (loc + _u64(1)) % _u64(len(_LOCATIONS))
        moved_loc = pl.when(_pick(_LOC_CITY, loc) == pl.col("city")).then(next_loc).otherwise(loc)
        updates = (
            picked.with_columns(_loc=moved_loc, _hh=h)
            .with_columns(
                jobTitle=pl.when(new_title == pl.col("jobTitle")).then(next_title).otherwise(new_title),
                address=pl.concat_str(
                    (_bits("_hh", 20, 999) + _u64(1)).cast(pl.String),
                    pl.lit(" "),
                    _pick(_STREETS, _bits("_hh", 32, _STREETS.len())),
                ),
                city=_pick(_LOC_CITY, pl.col("_loc")),
                state=_pick(_LOC_STATE, pl.col("_loc")),
                country=_pick(_LOC_COUNTRY, pl.col("_loc")),
                zipCode=pl.concat_str(
                    _pick(_LOC_ZIP_PREFIX, pl.col("_loc")),
                    pl.when(_pick(_LOC_ZIP_DIGITS, pl.col("_loc")) == 1)
                    .then(_digits(_bits("_hh", 50, 10), 1))
                    .otherwise(_digits(_bits("_hh", 50, 100), 2)),
                    _pick(_LOC_ZIP_SUFFIX, pl.col("_loc")),
                ),
                _drop_action=pl.lit("update"),
            )
            .drop("_pos", "_h", "_hh", "_loc")
            .collect()
        )
        for column in ("_case", "_company_domain"):
            if column not in updates.columns:
                updates = updates.with_columns(pl.lit(None, pl.String).alias(column))
        parts.append(updates.select(new.columns))

    drop = (
        pl.concat(parts, how="vertical")
        .lazy()
        .with_row_index("_pos")
        .with_columns(_h=_mix(pl.col("_pos").cast(pl.UInt64) ^ _u64(key ^ 0xA5A5)))
        .sort("_h")
        .with_columns(
            externalId=pl.when(_bits(_stream(pl.col("_h"), 1), 0, 1_000_000) < _u64(round(missing_external_id_fraction * 1_000_000)))
            .then(_when_chain(_bits(_stream(pl.col("_h"), 1), 32, 3), [pl.lit(None, pl.String), pl.lit("")], pl.lit("  ")))
            .otherwise(pl.col("externalId"))
        )
        .drop("_pos", "_h")
        .collect()
    )
    schema = {c: CUSTOMER_SCHEMA[c] for c in DROP_COLUMNS}
    drop = drop.cast(schema)
    return drop if with_truth else drop.select(DROP_COLUMNS)


def drop_header(column: str, style: str) -> str:
    """Header of a Customer field in a drop file: "snake" first_name, "camel" firstName, "title" First Name."""
    words: list[str] = []
    for ch in column:
        if ch.isupper() and words:
            words.append(" ")
        words.append(ch)
    parts = "".join(words).split(" ")
    if style == "camel":
        return column
    if style == "snake":
        return "_".join(p.lower() for p in parts)
    if style == "title":
        return " ".join(p[:1].upper() + p[1:] for p in parts)
    raise ValueError(f"unknown header_style {style!r}: expected 'snake', 'camel' or 'title'")


def write_drop_csv(
    path: Path,
    frame: pl.DataFrame,
    *,
    header_style: str = "snake",
    gzip: bool = False,
    include_bom: bool = False,
) -> Path:
    """Write ``frame`` as a drop file and return its path (``.csv.gz`` when ``gzip``).

    Only Customer fields are written (no id/createdAt/updatedAt, no ``_truth`` columns). The
    file appears atomically (written under a hidden temporary name, then renamed), so a
    sensor never sees it half written.
    """
    path = Path(path)
    if gzip and not path.name.endswith(".gz"):
        path = path.with_name(path.name + ".gz" if path.name.endswith(".csv") else path.name + ".csv.gz")
    columns = [c for c in DROP_COLUMNS if c in frame.columns]
    out = frame.select(columns).rename({c: drop_header(c, header_style) for c in columns})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        out.write_csv(
            tmp,
            include_bom=include_bom,
            compression="gzip" if gzip else "uncompressed",
            check_extension=False,
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------
# Loading the legacy table
# --------------------------------------------------------------------------------------

_COPY_BATCH_ROWS = 100_000
_COPY_NULL = "\\N"


def create_legacy_table(conn: psycopg.Connection) -> None:
    """Create ``"Customer"`` and its indexes as Prisma would (no-op when they exist)."""
    with conn.transaction():
        for statement in LEGACY_CUSTOMER_DDL_STATEMENTS:
            conn.execute(statement, prepare=False)


def _copy_statement() -> sql.Composed:
    return sql.SQL("COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL {null})").format(
        table=sql.Identifier("Customer"),
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in CUSTOMER_COLUMNS),
        null=sql.Literal(_COPY_NULL),
    )


def _copy_frames(conn: psycopg.Connection, frames: Iterable[pl.DataFrame]) -> int:
    total = 0
    with conn.transaction(), conn.cursor() as cur, cur.copy(_copy_statement()) as copy:
        for frame in frames:
            missing = [c for c in CUSTOMER_COLUMNS if c not in frame.columns]
            if missing:
                raise ValueError(f"frame lacks Customer columns: {missing}")
            frame = frame.select(CUSTOMER_COLUMNS)
            for start in range(0, frame.height, _COPY_BATCH_ROWS):
                # Strings always quoted, NULL as bare \N: '' and '  ' stay distinct from NULL.
                payload = frame.slice(start, _COPY_BATCH_ROWS).write_csv(
                    include_header=False,
                    null_value=_COPY_NULL,
                    quote_style="non_numeric",
                    datetime_format="%Y-%m-%d %H:%M:%S%.3f",
                )
                copy.write(payload.encode("utf-8"))
            total += frame.height
    return total


def load_customers(conn: psycopg.Connection, frame: pl.DataFrame) -> int:
    """COPY ``frame`` into ``"Customer"`` in one transaction; returns the number of rows."""
    return _copy_frames(conn, [frame])


def load_generated_customers(
    conn: psycopg.Connection, rows: int, seed: int = 42, chunk_rows: int = 200_000
) -> int:
    """Create the legacy table and stream ``rows`` generated rows into it in one transaction."""
    create_legacy_table(conn)
    return _copy_frames(conn, iter_customer_chunks(rows, seed, chunk_rows))
