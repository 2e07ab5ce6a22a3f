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
corporate_messy_email            3%      ``"  Mailto:<jo.doe@ACMESYSTEMS.COM> "``, ``<..>``
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

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS

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

CUSTOMER_COLUMNS: tuple[str, ...] = ("id", *ATTRIBUTE_COLUMNS, "externalSource", "externalId", "createdAt", "updatedAt")

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
# Row index -> 41-bit id part: i * K mod 2**41, an xorshift, and * K2 mod 2**41 are all
# bijections, so ids are unique; K, K2 odd and < 2**23 keep every product below 2**64.
_ID_K1, _ID_K2 = 0x5BD1E9, 0x2F5A3B
_ID_INDEX_BITS = 41  # 2**41 < 36**8: the scrambled index fits 8 base36 chars
_DROP_INDEX_BASE = 1 << 40  # drops' new people live far beyond any legacy stream


def _splitmix64(x: int) -> int:
    """Reference implementation in Python; ``_mix_columns`` is the same function over columns."""
    z = (x + _GOLDEN) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _u64(value: int) -> pl.Expr:
    return pl.lit(value & _MASK64, dtype=pl.UInt64)


def _mix_columns(frame: pl.LazyFrame, inputs: dict[str, pl.Expr]) -> pl.LazyFrame:
    """Add ``name = splitmix64(expr)`` for each input, UInt64 arithmetic wrapping.

    Staged column by column: written as one nested expression, every ``z ^ (z >> s)``
    would duplicate its subtree and the cost would grow eightfold per nesting level.
    polars has no shift operator, so floor division by a power of two is the shift.
    """
    names = list(inputs)
    frame = frame.with_columns((e + _u64(_GOLDEN)).alias(n) for n, e in inputs.items())
    for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
        steps = []
        for n in names:
            z = pl.col(n) ^ (pl.col(n) // _u64(1 << shift))
            steps.append((z * _u64(multiplier) if multiplier else z).alias(n))
        frame = frame.with_columns(steps)
    return frame


def _with_streams(frame: pl.LazyFrame, key: pl.Expr, prefix: str, count: int) -> pl.LazyFrame:
    """``prefix0..`` = independent 64-bit streams of ``key`` (splitmix's gamma stepping)."""
    base = f"{prefix}_key"
    frame = _mix_columns(frame, {base: key})
    frame = _mix_columns(
        frame, {f"{prefix}{k}": pl.col(base) + _u64((k + 1) * _GOLDEN) for k in range(count)}
    )
    return frame.drop(base)


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


def _base36_8(column: str) -> list[pl.Expr]:
    """Eight lowercase base36 chars (as three pieces to concatenate) for ``0 <= v < 36**8``."""
    v = pl.col(column)
    return [
        _pick(_B36_2, (v // _u64(36**6)) % _u64(36**2)),
        _pick(_B36_3, (v // _u64(36**3)) % _u64(36**3)),
        _pick(_B36_3, v % _u64(36**3)),
    ]


_DIGITS_2 = _series([f"{n:02d}" for n in range(100)])
_DIGITS_3 = _series([f"{n:03d}" for n in range(1000)])
_DIGITS_4 = _series([f"{n:04d}" for n in range(10_000)])
_NULL = pl.lit(None, pl.String)


# --------------------------------------------------------------------------------------
# Value lists
# --------------------------------------------------------------------------------------


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss").replace("ø", "o"))
    return "".join(ch for ch in folded if "a" <= ch <= "z")


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
# index in the universe -> (canonical name, Unicode domain, HQ country, ASCII slug for links)
_IDN_COMPANIES: dict[int, tuple[str, str, str, str]] = {
    5: ("Bücher Online", "bücher.de", "Germany", "buecher"),
    11: ("München Handel", "münchen-gmbh.de", "Germany", "muenchen-gmbh"),
    23: ("Café Lumière", "café-lumière.fr", "France", "cafe-lumiere"),
    47: ("Ørsted Vind", "ørstedvind.dk", "Denmark", "orstedvind"),
    95: ("日本テック", "日本テック.jp", "Japan", "nihon-tech"),
}
_IDN_ASCII = {j: v[1].encode("idna").decode("ascii") for j, v in _IDN_COMPANIES.items()}
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
_SUBDOMAINS = _series(["mail.", "eu.sales.", "us.", "corp.", "email.", "de.mail.", "m.", "uk.info."])
_SUBDOMAINS_UPPER = _series([s.upper() for s in _SUBDOMAINS])
# "messy" corporate emails: lead + local@host + tail, the host upper-cased for some variants
_MESSY_LEAD = _series(["  Mailto:<", "<", "MAILTO:", " ", "  "])
_MESSY_TAIL = _series(["> ", ">", None, "\t", "  "])
_MESSY_UPPER = (0, 3, 4)
# broken emails: what stands between local part and domain, by variant (see _customers_lazy)
_BROKEN_AT = _series([None, "@@", "@", "@", "@", "@", "@", " @", "..@", None])
_PRIVATE_IPS = _series([f"192.168.1.{n}" for n in range(1, 251)])
_MISSING_FORMS = _series([None, None, "", "   "])
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
if len(_MALE_FIRST) != len(_FEMALE_FIRST):  # person index = gender * 32 + name
    raise RuntimeError("first-name lists must have the same length")
_FIRST_NAMES = _series(_MALE_FIRST + _FEMALE_FIRST)
_FIRST_SLUG = _series([_ascii_slug(n) for n in _MALE_FIRST + _FEMALE_FIRST])
_FIRST_INITIAL = _series([_ascii_slug(n)[0] for n in _MALE_FIRST + _FEMALE_FIRST])
_LAST_S = _series(_LAST)
_LAST_SLUG = _series([_ascii_slug(n) for n in _LAST])
# email local part by pattern: first.last x4, flast, first_last, firstlast, first, last.first, first.lastNN
_LOCAL_SEPARATORS = _series([".", ".", ".", ".", None, "_", None, None, ".", "."])

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
# Title = pre + (C-level title | department | IC title) + post, by level * 3 + style.
_TITLE_PRE = _series(
    [None, None, None, "VP of ", "Vice President, ", "SVP ", "Director of ", None, "Senior Director, ",
     None, "Senior ", "Manager, ", None, None, None]
)  # fmt: skip
_TITLE_POST = _series(
    [None, None, None, None, None, None, None, " Director", None, " Manager", " Manager", None,
     None, None, None]
)  # fmt: skip
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
# externalId: "hs-<index>", "003<index zero-padded to 15>", "csv-<index>"
_SOURCE_ID_PREFIX = _series(["hs-", "003", "csv-"])
_ZEROS = _series(["0" * n for n in range(16)])

_NUMBERS = _series([str(n) for n in range(1000)])
_DIGITS_1 = _series([str(n) for n in range(10)])
_SUITES = _series([f", Suite {n}" for n in range(100, 500, 10)])
# phone = lead + calling code (not for format 1) + sep0 + area + sep1 + 3 digits + sep2 + 4 digits
_PHONE_LEAD = _series(["+", "(", "+", "+"])
_PHONE_SEP0 = _series([" ", None, None, " "])
_PHONE_SEP1 = _series([" ", ") ", None, "-"])
_PHONE_SEP2 = _series([" ", "-", None, "-"])
_EXTENSIONS = _series([f" ext. {n}" for n in range(100, 1000)])
# Columns that are sometimes "" or whitespace-only.
_BLANKABLE = (
    "firstName", "lastName", "jobTitle", "department", "phone", "city", "state", "zipCode",
    "industry", "address",
)  # fmt: skip

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
    root, tail, q = index % _R, (index // _R + index % _R) % _T, index // (_R * _T)
    name = f"{_ROOTS[root]} {_TAILS[tail]}"
    if q:
        name += f" {_QUALIFIERS[(q - 1) % _Q]}"
        if (q - 1) // _Q:
            name += f" {(q - 1) // _Q + 1}"
    return name


def company_domain(index: int) -> str:
    """Registrable domain (IDNA ASCII) of company ``index``, as the pipeline should store it."""
    frame = pl.LazyFrame({"j": [index]}, schema={"j": pl.UInt64})
    return _with_company(frame).select("domain_ascii").collect().item()


def _special(values: dict[int, object], default: pl.Expr) -> pl.Expr:
    """Override ``default`` for the hand-made companies of the universe."""
    j = pl.col("j")
    expr = None
    for index, value in values.items():
        cond = j == _u64(index)
        expr = (pl.when(cond) if expr is None else expr.when(cond)).then(pl.lit(value))
    return default if expr is None else expr.otherwise(default)


def _with_company(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add the attributes of company ``j``: a pure function of ``j``, the same for every seed.

    Bit layout of the company streams (shift: field): c0 0 tld, 8 size jitter, 16 industry,
    24 alternative industry, 32 alternative size, 40 revenue per employee, 49 alternative
    revenue, 56 size link; c1 0 country, 8 HQ city, 28.. street; c2 the alternative HQ.
    """
    j = pl.col("j")
    frame = _with_streams(frame, j ^ _u64(_WORLD_KEY), "c", 3)
    q = j // _u64(_R * _T)
    n_ind = _INDUSTRIES.len()
    # Bigger near the head of the Zipf ranking: ranks 0-2 are 10001+, the long tail is 1-10.
    rank_bucket = 6 - ((j + _u64(1)).cast(pl.Float64).log(2) / 3.3).floor().cast(pl.Int64)
    bucket = (
        pl.when(j < _u64(3))
        .then(pl.lit(7, pl.Int64))
        .otherwise((rank_bucket + _bits("c0", 8, 3).cast(pl.Int64) - 1).clip(0, 6))
    )
    frame = frame.with_columns(
        _root=j % _u64(_R),
        # rotated by the root so the head is not all "... Systems"; still a bijection of j
        _tail=(j // _u64(_R) + j % _u64(_R)) % _u64(_T),
        _qual=pl.when(q > _u64(0)).then((q - _u64(1)) % _u64(_Q)),
        _num=pl.when(q > _u64(_Q)).then(((q - _u64(1)) // _u64(_Q) + _u64(1)).cast(pl.String)),
        tld_i=pl.when(j == _u64(0))
        .then(pl.lit(_COM, pl.UInt32))
        .otherwise(_pick(_TLD_BY_PERCENT, _bits("c0", 0, 100))),
        industry_i=_bits("c0", 16, n_ind),
        industry_alt_i=(_bits("c0", 16, n_ind) + _u64(1) + _bits("c0", 24, n_ind - 1)) % _u64(n_ind),
        bucket=bucket,
        revenue_base=(_bits("c0", 40, 400) + _u64(50)).cast(pl.Int64) * 1000,
        revenue_alt_pct=(_bits("c0", 49, 100) + _u64(50)).cast(pl.Int64),
        has_size_link=_bits("c0", 56, 100) < _u64(60),
        _alt_country=_pick(_GENERIC_COUNTRY_BY_PERCENT, _bits("c2", 0, 100)),
    )
    alt_bucket = pl.when(_bits("c0", 32, 2) == 0).then(pl.col("bucket") + 1).otherwise(pl.col("bucket") - 1)
    num_piece = pl.col("_num")
    num_sep = pl.when(num_piece.is_not_null()).then(pl.lit(" "))
    regular_name = pl.concat_str(
        [
            _pick(_series(_ROOTS), pl.col("_root")),
            pl.lit(" "),
            _pick(_series(_TAILS), pl.col("_tail")),
            _pick(_series([" " + q for q in _QUALIFIERS]), pl.col("_qual")),
            num_sep,
            num_piece,
        ],
        ignore_nulls=True,
    )
    slug = pl.concat_str(
        [
            _pick(_series([r.lower() for r in _ROOTS]), pl.col("_root")),
            _pick(_series([t.lower() for t in _TAILS]), pl.col("_tail")),
            _pick(_series(["-" + q.lower() for q in _QUALIFIERS]), pl.col("_qual")),
            num_piece,
        ],
        ignore_nulls=True,
    )
    tld_i = pl.col("tld_i")
    tld_country = _pick(_TLD_COUNTRY, tld_i)
    country_i = _special(
        {i: _COUNTRY_INDEX[v[2]] for i, v in _IDN_COMPANIES.items()},
        pl.when(tld_country >= 0)
        .then(tld_country)
        .otherwise(_pick(_GENERIC_COUNTRY_BY_PERCENT, _bits("c1", 0, 100)).cast(pl.Int64)),
    ).cast(pl.UInt64)
    frame = frame.with_columns(
        company_name=_special({i: v[0] for i, v in _IDN_COMPANIES.items()}, regular_name),
        slug=_special({i: v[3] for i, v in _IDN_COMPANIES.items()}, slug),
        _country=country_i,
        bucket_alt=pl.when(alt_bucket < 0).then(pl.lit(1, pl.Int64)).otherwise(alt_bucket.clip(0, 7)),
        alt_loc=_pick(_COUNTRY_START, pl.col("_alt_country"))
        + _bits("c2", 8, 1 << 16) % _pick(_COUNTRY_COUNT, pl.col("_alt_country")),
    )
    regular_domain = pl.concat_str(pl.col("slug"), pl.lit("."), _pick(_TLDS, tld_i))
    country = pl.col("_country")
    return frame.with_columns(
        domain_unicode=_special({i: v[1] for i, v in _IDN_COMPANIES.items()}, regular_domain),
        domain_ascii=_special(_IDN_ASCII, regular_domain),
        sister_domain=pl.concat_str(
            pl.col("slug"),
            pl.when(tld_i == _CO_UK).then(pl.lit(".com")).otherwise(pl.lit(".co.uk")),
        ),
        hq_loc=_pick(_COUNTRY_START, country) + _bits("c1", 8, 1 << 20) % _pick(_COUNTRY_COUNT, country),
    ).drop("_root", "_tail", "_qual", "_num", "_alt_country", "_country")


# --------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------

_CORPORATE_KINDS = (_CASE["corporate"], _CASE["corporate_subdomain"], _CASE["corporate_messy_email"])
_PERSONAL_KINDS = (
    _CASE["personal_named_company"],
    _CASE["personal_unknown_company"],
    _CASE["personal_no_company"],
)
_NAMED_KINDS = (_CASE["personal_named_company"], _CASE["missing_email_named_company"])
_MISSING_KINDS = (_CASE["missing_email"], _CASE["missing_email_named_company"])


def _seed_key(seed: int) -> int:
    return _splitmix64((seed * 0x632BE59BD9B4E019 + 0x1234567) & _MASK64)


def _customers_lazy(rows: int, seed: int, offset: int) -> pl.LazyFrame:
    """The query behind ``generate_customers``: staged ``with_columns``, no Python per row.

    Bit layout of the row streams (shift: field):
    r0 0 kind, 14 named-if-missing, 16 sister row, 24 IDNA-ASCII form, 26 salutation,
       34 gender, 35 first name, 50 last name;
    r1 0 source, 11.. company (Zipf); r2 0 local-part pattern, 4 personal digits,
       5 messy variant, 8 subdomain, 11.. named company (Zipf);
    r3 0 number, 8 personal domain, 16 disposable domain, 20 broken variant, 24 IP,
       32 nonsense, 36 missing form, 40 link suffix;
    r4 0 company-name variant, 8 case style, 16 legal suffix, 24 padding, 28 blank kind,
       32 unknown company, 40 no-company form, 44 missing-email company, 48 industry, 56 size;
    r5 0 level, 8 department, 16 title style, 24 title null, 32 level null, 40 department
       null, 48 link null; r6 phone; r7 mobile, 46 revenue, 53 size link, 57 phone null;
    r8 0 location kind, 8 own city, 16 US spelling, 28.. street (same layout as c1/c2);
    r9 timestamps; r10 0 id randomness, 42 blank field, 52 blank form.
    """
    if rows < 0 or offset < 0:
        raise ValueError(f"rows and offset must be >= 0, got rows={rows}, offset={offset}")
    if offset + rows > 1 << _ID_INDEX_BITS:
        raise ValueError(f"row indices must stay below 2**{_ID_INDEX_BITS}")
    key = _seed_key(seed)
    frame = pl.LazyFrame().select(i=pl.int_range(offset, offset + rows, dtype=pl.UInt64))
    frame = _with_streams(frame, pl.col("i") ^ _u64(key), "r", 11)

    # --- what kind of row this is, and which company it is about
    kind_bp = _bits("r0", 0, 10_000)
    kind = pl.lit(_CASE["corporate"], pl.UInt8)
    for name, threshold in reversed(_KIND_THRESHOLDS):
        kind = pl.when(kind_bp < _u64(threshold)).then(pl.lit(_CASE[name], pl.UInt8)).otherwise(kind)
    kind = (
        pl.when((kind == _CASE["missing_email"]) & (_bits("r0", 14, 2) == 0))
        .then(pl.lit(_CASE["missing_email_named_company"], pl.UInt8))
        .otherwise(kind)
    )
    frame = frame.with_columns(kind=kind)
    kind = pl.col("kind")
    named = kind.is_in(_NAMED_KINDS)
    frame = frame.with_columns(
        j=pl.when(named).then(_zipf("r2", _NAMED_COMPANY_HEAD)).otherwise(_zipf("r1", COMPANY_UNIVERSE)),
        i_str=pl.col("i").cast(pl.String),
    )
    frame = _with_company(frame)

    # --- integer decisions
    j = pl.col("j")
    corporate = kind.is_in(_CORPORATE_KINDS)
    sister_row = corporate & j.is_in(_SISTER_COMPANIES) & (_bits("r0", 16, 100) < _u64(_SISTER_ROW_PERCENT))
    idn_company = j.is_in(list(_IDN_COMPANIES))
    ascii_form = _bits("r0", 24, 2) == 0
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
    loc_roll = _bits("r8", 0, 100)
    messy_v = _bits("r2", 5, 5)
    level = _pick(_LEVEL_BY_PERCENT, _bits("r5", 0, 100))
    frame = frame.with_columns(
        case=case,
        host_base=pl.when(sister_row)
        .then(pl.col("sister_domain"))
        .when(ascii_form)
        .then(pl.col("domain_ascii"))
        .otherwise(pl.col("domain_unicode")),
        _company_domain=pl.when(sister_row)
        .then(pl.col("sister_domain"))
        .when(corporate | (named & ~ambiguous))
        .then(pl.col("domain_ascii"))
        .otherwise(_NULL),
        person=_bits("r0", 34, 2) * _u64(len(_MALE_FIRST)) + _bits("r0", 35, len(_MALE_FIRST)),
        last_i=_bits("r0", 50, len(_LAST)),
        pattern=_bits("r2", 0, 10),
        messy_v=pl.when(kind == _CASE["corporate_messy_email"]).then(messy_v),
        broken_v=pl.when(kind == _CASE["broken_email"]).then(_bits("r3", 20, 10)),
        with_number=(_bits("r2", 0, 10) == 9) | (kind.is_in(_PERSONAL_KINDS) & (_bits("r2", 4, 2) == 0)),
        title_i=level * _u64(3) + _bits("r5", 16, 3),
        level=level,
        dept_i=_bits("r5", 8, len(_DEPARTMENTS)),
        loc=pl.when(loc_roll < 80)
        .then(pl.col("hq_loc"))
        .when(loc_roll < 88)
        .then(pl.col("alt_loc"))
        .otherwise(_bits("r8", 8, len(_LOCATIONS))),
        street_h=pl.when(loc_roll < 80).then(pl.col("c1")).when(loc_roll < 88).then(pl.col("c2")).otherwise(pl.col("r8")),
        loc_missing=loc_roll >= 98,
        created_ms=_u64(_EPOCH_2021_MS) + (pl.col("r9") % _u64(1 << 38)) % _u64(_EPOCH_2026_MS - _EPOCH_2021_MS),
        id_part=(pl.col("i") * _u64(_ID_K1)) % _u64(1 << _ID_INDEX_BITS),
        source=_pick(_SOURCE_BY_PERCENT, _bits("r1", 0, 100)),
    )

    # --- the person and the local part of the email
    person, pattern = pl.col("person"), pl.col("pattern")
    first_slug = _pick(_FIRST_SLUG, person)
    last_slug = _pick(_LAST_SLUG, pl.col("last_i"))
    number = _pick(_NUMBERS, _bits("r3", 0, 90) + _u64(10))
    local = pl.concat_str(
        [
            pl.when(pattern == 8).then(last_slug).when(pattern == 4).then(_pick(_FIRST_INITIAL, person)).otherwise(first_slug),
            _pick(_LOCAL_SEPARATORS, pattern),
            pl.when(pattern == 7).then(_NULL).when(pattern == 8).then(first_slug).otherwise(last_slug),
            pl.when(pl.col("with_number")).then(number),
        ],
        ignore_nulls=True,
    )
    salutation_roll = _bits("r0", 26, 100)
    male = person < _u64(len(_MALE_FIRST))
    salutation = (
        pl.when(salutation_roll < 25)
        .then(_NULL)
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
    id_part = pl.col("id_part")
    id_part = id_part ^ (id_part // _u64(1 << 20))
    frame = frame.with_columns(
        local=local,
        first_slug=first_slug,
        last_slug=last_slug,
        salutation=salutation,
        firstName=_pick(_FIRST_NAMES, person),
        lastName=_pick(_LAST_S, pl.col("last_i")),
        id_part=id_part,
        host_upper=pl.when(pl.col("messy_v").is_in(_MESSY_UPPER)).then(pl.col("host_base").str.to_uppercase()),
    )

    # --- email, assembled from pieces so each row pays for one concatenation
    local, broken_v, messy_v = pl.col("local"), pl.col("broken_v"), pl.col("messy_v")
    host_base = pl.col("host_base")
    upper = messy_v.is_in(_MESSY_UPPER)
    broken_domain = (
        pl.when(broken_v.is_in([1, 5, 7, 8]))
        .then(host_base)
        .when(broken_v == 2)
        .then(pl.lit("localhost"))
        .when(broken_v == 3)
        .then(_pick(_PRIVATE_IPS, _bits("r3", 24, _PRIVATE_IPS.len())))
        .when(broken_v == 4)
        .then(pl.col("slug"))
        .when(broken_v == 9)
        .then(_pick(_NONSENSE_EMAILS, _bits("r3", 32, _NONSENSE_EMAILS.len())))
    )
    subdomain = _bits("r2", 8, _SUBDOMAINS.len())
    email = pl.concat_str(
        [
            _pick(_MESSY_LEAD, messy_v),
            pl.when(broken_v.is_in([5, 9])).then(_NULL).otherwise(local),
            pl.when(broken_v.is_not_null()).then(_pick(_BROKEN_AT, broken_v)).otherwise(pl.lit("@")),
            pl.when(kind == _CASE["corporate_subdomain"]).then(
                pl.when(upper).then(_pick(_SUBDOMAINS_UPPER, subdomain)).otherwise(_pick(_SUBDOMAINS, subdomain))
            ),
            pl.when(corporate)
            .then(pl.when(upper).then(pl.col("host_upper")).otherwise(host_base))
            .when(kind.is_in(_PERSONAL_KINDS))
            .then(_pick(_PERSONAL_DOMAINS, _bits("r3", 8, 100)))
            .when(kind == _CASE["disposable_email"])
            .then(_pick(_DISPOSABLE_DOMAINS, _bits("r3", 16, _DISPOSABLE_DOMAINS.len())))
            .otherwise(broken_domain),
            _pick(_MESSY_TAIL, messy_v),
        ],
        ignore_nulls=True,
    )
    email = pl.when(kind.is_in(_MISSING_KINDS)).then(_pick(_MISSING_FORMS, _bits("r3", 36, 4))).otherwise(email)

    # --- the company name as written on the row
    canonical = pl.col("company_name")
    name_roll = _bits("r4", 0, 100)
    use_variant = pl.when(named).then(name_roll >= 50).otherwise((name_roll >= 72) & (name_roll < 95))
    style = pl.when(use_variant).then(_bits("r4", 8, 4))
    padded = use_variant & (_bits("r4", 24, 10) == 0)
    written = pl.concat_str(
        [
            pl.when(padded).then(pl.lit("  ")),
            pl.when(style == 1)
            .then(canonical.str.to_uppercase())
            .when(style == 2)
            .then(canonical.str.to_lowercase())
            .otherwise(canonical),
            pl.when(use_variant).then(_pick(_LEGAL_SUFFIXES, _bits("r4", 16, _LEGAL_SUFFIXES.len()))),
            pl.when(padded).then(pl.lit(" ")),
        ],
        ignore_nulls=True,
    )
    unknown_company = _pick(_UNKNOWN_COMPANIES, _bits("r4", 32, _UNKNOWN_COMPANIES.len()))
    no_company = _pick(_MISSING_FORMS, _bits("r4", 40, 4))
    company = (
        pl.when(named)
        .then(written)
        .when(kind == _CASE["personal_unknown_company"])
        .then(unknown_company)
        .when(kind == _CASE["personal_no_company"])
        .then(no_company)
        .when(kind == _CASE["missing_email"])
        .then(pl.when(_bits("r4", 44, 2) == 0).then(unknown_company).otherwise(no_company))
        .when(name_roll >= 98)
        .then(_pick(_BLANKS, _bits("r4", 28, 2)))
        .when(name_roll >= 95)
        .then(_NULL)
        .otherwise(written)
    )

    # --- job
    dept_i, level = pl.col("dept_i"), pl.col("level")
    title = pl.concat_str(
        [
            _pick(_TITLE_PRE, pl.col("title_i")),
            pl.when(level == 0)
            .then(_pick(_CLEVEL_TITLES, dept_i))
            .when(level == 4)
            .then(_pick(_IC_TITLES, dept_i * _u64(3) + _bits("r5", 16, 3)))
            .otherwise(_pick(_DEPARTMENTS_S, dept_i)),
            _pick(_TITLE_POST, pl.col("title_i")),
        ],
        ignore_nulls=True,
    )
    job_link = pl.concat_str(
        pl.lit("https://www.linkedin.com/in/"),
        pl.col("first_slug"),
        pl.lit("-"),
        pl.col("last_slug"),
        pl.lit("-"),
        _pick(_B36_3, _bits("r3", 40, 36**3)),
    )

    # --- location: the company HQ, a conflicting second HQ, or the person's own city
    loc, street_h = pl.col("loc"), pl.col("street_h")
    address = pl.concat_str(
        [
            _pick(_NUMBERS, _bits(street_h, 28, 999) + _u64(1)),
            pl.lit(" "),
            _pick(_STREETS, _bits(street_h, 38, _STREETS.len())),
            pl.when(_bits(street_h, 43, 5) == 0).then(_pick(_SUITES, _bits(street_h, 46, _SUITES.len()))),
        ],
        ignore_nulls=True,
    )
    zip_code = pl.concat_str(
        _pick(_LOC_ZIP_PREFIX, loc),
        pl.when(_pick(_LOC_ZIP_DIGITS, loc) == 1)
        .then(_pick(_DIGITS_1, _bits(street_h, 52, 10)))
        .otherwise(_pick(_DIGITS_2, _bits(street_h, 52, 100))),
        _pick(_LOC_ZIP_SUFFIX, loc),
    )
    us_spelling = _bits("r8", 16, 20)
    country = (
        pl.when((loc < _US_LOCATIONS) & (us_spelling == 0))
        .then(pl.lit("USA"))
        .when((loc < _US_LOCATIONS) & (us_spelling == 1))
        .then(pl.lit("US"))
        .otherwise(_pick(_LOC_COUNTRY, loc))
    )

    def located(expr: pl.Expr) -> pl.Expr:
        return pl.when(pl.col("loc_missing")).then(_NULL).otherwise(expr)

    # --- phones
    cc = _pick(_LOC_CALLING_CODE, loc)
    phone_format = _bits("r6", 0, 4)
    phone = pl.concat_str(
        [
            _pick(_PHONE_LEAD, phone_format),
            pl.when(phone_format != 1).then(cc),
            _pick(_PHONE_SEP0, phone_format),
            _pick(_NUMBERS, _bits("r6", 8, 900) + _u64(100)),
            _pick(_PHONE_SEP1, phone_format),
            _pick(_DIGITS_3, _bits("r6", 20, 1000)),
            _pick(_PHONE_SEP2, phone_format),
            _pick(_DIGITS_4, _bits("r6", 32, 10_000)),
            pl.when(phone_format == 3).then(_pick(_EXTENSIONS, _bits("r6", 48, _EXTENSIONS.len()))),
        ],
        ignore_nulls=True,
    )
    mobile = pl.concat_str(
        pl.lit("+"),
        cc,
        pl.lit(" 7"),
        _pick(_DIGITS_2, _bits("r7", 8, 100)),
        pl.lit(" "),
        _pick(_DIGITS_3, _bits("r7", 16, 1000)),
        pl.lit(" "),
        _pick(_DIGITS_4, _bits("r7", 32, 10_000)),
    )

    # --- company attributes as written on the row: mostly the company's, sometimes conflicting
    industry_roll = _bits("r4", 48, 100)
    industry = (
        pl.when(industry_roll < 4)
        .then(_NULL)
        .when(industry_roll < 12)
        .then(_pick(_INDUSTRIES, pl.col("industry_alt_i")))
        .otherwise(_pick(_INDUSTRIES, pl.col("industry_i")))
    )
    size_roll = _bits("r4", 56, 100)
    bucket = (
        pl.when(size_roll >= 96)
        .then(pl.lit(None, pl.Int64))
        .when(size_roll < 8)
        .then(pl.col("bucket_alt"))
        .otherwise(pl.col("bucket"))
    )
    revenue = pl.col("revenue_base") * _pick(_SIZE_MIN, pl.col("bucket")).cast(pl.Int64) * 2
    revenue_roll = _bits("r7", 46, 100)
    revenue = (
        pl.when(revenue_roll < 15)
        .then(pl.lit(None, pl.Int64))
        .when(revenue_roll < 21)
        .then(revenue * pl.col("revenue_alt_pct") // 100)
        .otherwise(revenue)
    )
    size_link = pl.when(pl.col("has_size_link") & (_bits("r7", 53, 10) > 0)).then(
        pl.concat_str(pl.lit("https://www.linkedin.com/company/"), pl.col("slug"), pl.lit("/people/"))
    )

    # --- provenance, timestamps, id
    source = pl.col("source")
    i_str = pl.col("i_str")
    external_id = pl.concat_str(
        [
            _pick(_SOURCE_ID_PREFIX, source),
            pl.when(source == 1).then(_pick(_ZEROS, _u64(15) - i_str.str.len_chars().cast(pl.UInt64))),
            i_str,
        ],
        ignore_nulls=True,
    )
    created = pl.col("created_ms")
    same = _bits("r9", 38, 4) == 0
    updated = pl.when(same).then(created).otherwise(
        created + (_bits("r9", 40, 1 << 24) * (_u64(_EPOCH_2026_MS) - created)) // _u64(1 << 24)
    )
    optional = _bits("r5", 24, 100)
    frame = frame.with_columns(
        email=email,
        company=company,
        jobTitle=pl.when(optional < 3).then(_NULL).otherwise(title),
        jobTitleLevel=pl.when(_bits("r5", 32, 100) < 5).then(_NULL).otherwise(_pick(_LEVELS_S, level)),
        department=pl.when(_bits("r5", 40, 100) < 5).then(_NULL).otherwise(_pick(_DEPARTMENTS_S, dept_i)),
        jobTitleLink=pl.when(_bits("r5", 48, 100) < 60).then(_NULL).otherwise(job_link),
        phone=pl.when(_bits("r7", 57, 128) < 19).then(_NULL).otherwise(phone),  # 7 bits left: ~15%
        mobilePhone=pl.when(_bits("r7", 0, 100) < 55).then(_NULL).otherwise(mobile),
        industry=industry,
        minEmployeeSize=_pick(_SIZE_MIN, bucket),
        maxEmployeeSize=_pick(_SIZE_MAX, bucket),
        employeeSizeLink=size_link,
        revenue=revenue,
        address=located(address),
        city=located(_pick(_LOC_CITY, loc)),
        state=located(_pick(_LOC_STATE, loc)),
        country=located(country),
        zipCode=located(zip_code),
        externalSource=_pick(_SOURCES_S, source),
        externalId=external_id,
        createdAt=pl.from_epoch(created.cast(pl.Int64), time_unit="ms"),
        updatedAt=pl.from_epoch(updated.cast(pl.Int64), time_unit="ms"),
        _case=_pick(_CASES_S, pl.col("case")),
        id_part=((pl.col("id_part") * _u64(_ID_K2)) % _u64(1 << _ID_INDEX_BITS)) ^ _u64(key % (1 << _ID_INDEX_BITS)),
        id_random=pl.col("r10") % _u64(1 << _ID_INDEX_BITS),
    )
    frame = frame.with_columns(
        id=pl.concat_str(pl.lit("c"), *_base36_8("created_ms"), *_base36_8("id_part"), *_base36_8("id_random"))
    )

    # A few fields are empty or whitespace-only: at most one per row, ~0.8% per column.
    blank_field = _bits("r10", 42, 1000) // _u64(8)
    blank_value = _pick(_BLANKS, _bits("r10", 52, _BLANKS.len()))
    frame = frame.with_columns(
        pl.when(blank_field == _u64(k)).then(blank_value).otherwise(pl.col(name)).alias(name)
        for k, name in enumerate(_BLANKABLE)
    )
    return frame.select(*CUSTOMER_COLUMNS, "_case", "_company_domain").cast(CUSTOMER_SCHEMA)


def generate_customers(
    rows: int, seed: int = 42, *, offset: int = 0, with_truth: bool = False
) -> pl.DataFrame:
    """Rows ``[offset, offset + rows)`` of the deterministic legacy ``Customer`` stream for ``seed``.

    Columns are ``CUSTOMER_COLUMNS`` with ``CUSTOMER_SCHEMA`` dtypes (Int32 sizes, Int64
    revenue, Datetime(ms) timestamps). ``with_truth`` appends ``_case`` and ``_company_domain``.
    """
    frame = _customers_lazy(rows, seed, offset).collect(engine="streaming")
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
    ``existing`` with the same ``externalSource``/``externalId``, a changed ``jobTitle`` and
    a changed location group (the person moved: address, city, state, country, zipCode);
    the rest are brand-new people (externalIds never used by the legacy stream, with the
    same hard cases, some at companies not in ``existing``). About ``missing_external_id_fraction``
    of the new rows get a null/empty ``externalId`` (the ``missing_external_id`` quarantine case).
    ``with_truth`` adds ``_drop_action`` ("new"/"update") and ``_case``/``_company_domain``
    (carried over from ``existing`` when it has them). Deterministic for the same arguments;
    which rows are updated depends on the row order of ``existing``.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 <= update_fraction <= 1.0 or not 0.0 <= missing_external_id_fraction <= 1.0:
        raise ValueError("fractions must be within [0, 1]")
    key = _seed_key(seed ^ 0xD809)
    n_update = 0 if existing is None else min(round(rows * update_fraction), existing.height)

    new = generate_customers(rows - n_update, seed, offset=_drop_offset(seed), with_truth=True)
    parts = [new.select(*DROP_COLUMNS, "_case", "_company_domain").with_columns(_drop_action=pl.lit("new"))]
    if n_update:
        assert existing is not None
        truth = [pl.col(c) if c in existing.columns else _NULL.alias(c) for c in ("_case", "_company_domain")]
        picked = _mix_columns(
            existing.lazy().select(*DROP_COLUMNS, *truth).with_row_index("_pos"),
            {"_h": pl.col("_pos").cast(pl.UInt64) ^ _u64(key)},
        )
        picked = picked.sort("_h").head(n_update)
        n_titles, n_locs = _UPDATE_TITLES.len(), len(_LOCATIONS)
        title_i, loc_i = _bits("_h", 0, n_titles), _bits("_h", 8, n_locs)
        title_i = (
            pl.when(_pick(_UPDATE_TITLES, title_i) == pl.col("jobTitle"))
            .then((title_i + _u64(1)) % _u64(n_titles))
            .otherwise(title_i)
        )
        loc_i = pl.when(_pick(_LOC_CITY, loc_i) == pl.col("city")).then((loc_i + _u64(1)) % _u64(n_locs)).otherwise(loc_i)
        updates = picked.with_columns(_title=title_i, _loc=loc_i).with_columns(
            jobTitle=_pick(_UPDATE_TITLES, pl.col("_title")),
            address=pl.concat_str(
                _pick(_NUMBERS, _bits("_h", 28, 999) + _u64(1)),
                pl.lit(" "),
                _pick(_STREETS, _bits("_h", 38, _STREETS.len())),
            ),
            city=_pick(_LOC_CITY, pl.col("_loc")),
            state=_pick(_LOC_STATE, pl.col("_loc")),
            country=_pick(_LOC_COUNTRY, pl.col("_loc")),
            zipCode=pl.concat_str(
                _pick(_LOC_ZIP_PREFIX, pl.col("_loc")),
                pl.when(_pick(_LOC_ZIP_DIGITS, pl.col("_loc")) == 1)
                .then(_pick(_DIGITS_1, _bits("_h", 52, 10)))
                .otherwise(_pick(_DIGITS_2, _bits("_h", 52, 100))),
                _pick(_LOC_ZIP_SUFFIX, pl.col("_loc")),
            ),
            _drop_action=pl.lit("update"),
        )
        parts.append(updates.select(parts[0].columns).collect())

    shuffled = _mix_columns(
        pl.concat(parts, how="vertical").lazy().with_row_index("_pos"),
        {"_h": pl.col("_pos").cast(pl.UInt64) ^ _u64(key ^ 0xA5A5)},
    ).sort("_h")
    # Only new people lose their externalId: an update must stay recognisable as one.
    without_id = (pl.col("_drop_action") == "new") & (
        _bits("_h", 0, 1_000_000) < _u64(round(missing_external_id_fraction * 1_000_000))
    )
    drop = (
        shuffled.with_columns(
            externalId=pl.when(without_id).then(_pick(_MISSING_FORMS, _bits("_h", 32, 4))).otherwise(pl.col("externalId"))
        )
        .drop("_pos", "_h")
        .collect()
        .cast({c: CUSTOMER_SCHEMA[c] for c in DROP_COLUMNS})
    )
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
