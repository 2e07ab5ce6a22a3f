"""Bad drops end to end (issue 6, item 2): through ``ingest_drop`` on the real Postgres and OpenSearch.

Each bad input ends in one of two ways, never in a crash, a partial write or a silent loss:

- a failed run whose error names the file and line, with every pipeline table and every
  alias exactly as before;
- a successful run where each row is a prospect or quarantined with a reason, and the
  values are kept verbatim (numbers that cannot be parsed: null, raw text kept in staging;
  values too long to index: the row quarantined, the value in its raw record).

The reader's own rules are unit-tested in ``unit/test_drop_reader.py``; the sensor's wait
for a file still being written is in ``test_automation.py``.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from psycopg.rows import dict_row

from restructure_pipeline.automation.launch import register_sources
from restructure_pipeline.resources import APPLICATION_NAME, OpenSearchResource
from restructure_pipeline.search_index.indices import live_indices
from restructure_pipeline_tests.integration.conftest import PipelineRunner
from restructure_pipeline_tests.integration.digests import alias_state, exact_snapshot
from restructure_pipeline_tests.integration.legacy_rows import customer, load_legacy, write_csv

LOCK_WAIT_TIMEOUT = 60

#: name -> (file content, the line the error must name, what it must say)
UNREADABLE_DROPS: dict[str, tuple[bytes, int, str]] = {
    "empty.csv": (b"", 1, "the file is empty"),
    "no_external_id.csv": (b"email,company\nann@acme.com,Acme\n", 1, "no externalId column"),
    "semicolons.csv": (b"externalId;email\n1;ann@acme.com\n", 1, "no externalId column"),
    "duplicate_column.csv": (b"externalId,email,Email\n1,a@acme.com,b@acme.com\n", 1, "appears twice"),
    "ragged.csv": (b"externalId,email\n1,ann@acme.com\n2,bob@acme.com,extra\n", 3, "expected 2 fields"),
    "unclosed_quote.csv": (b'externalId,email\n1,ann@acme.com\n2,"bob@acme.com\n', 3, "malformed CSV"),
    "nul_byte.csv": (b"externalId,email\n1,ann@acme.com\n2,bob\x00@acme.com\n", 3, "NUL byte"),
    "invalid_utf8.csv": (b"externalId,email\n1,ann@acme.com\n2,b\xffb@acme.com\n", 3, "not valid UTF-8"),
    "latin1.csv": ("externalId,firstName\n1,Jürgen\n".encode("latin-1"), 2, "not valid UTF-8"),
    "truncated.csv.gz": (
        gzip.compress(("externalId,email\n" + "".join(f"{n},p{n}@acme.com\n" for n in range(5000))).encode())[:4000],
        None, "cannot read the file",
    ),
}


def _failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        event.event_specific_data.error.to_string()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    ]


def _committed(conn: psycopg.Connection, pipeline: PipelineRunner) -> tuple[dict, dict]:
    opensearch = pipeline.opensearch
    return exact_snapshot(conn), alias_state(opensearch.client(), opensearch.index_prefix)


def _prospect(conn: psycopg.Connection, external_id: str) -> dict:
    with conn.cursor(row_factory=dict_row) as cursor:
        return cursor.execute('SELECT * FROM "Prospect" WHERE "externalId" = %s', (external_id,)).fetchone()


def _staged(conn: psycopg.Connection, source: str) -> list[tuple]:
    return conn.execute(
        'SELECT line, "externalId", is_current, rejected_values FROM restructure.source_record '
        "WHERE source = %s ORDER BY line",
        (source,),
    ).fetchall()


def test_each_unreadable_drop_fails_naming_file_and_line_and_writes_nothing(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    committed = _committed(conn, pipeline)

    for name, (content, line, message) in UNREADABLE_DROPS.items():
        path = drop_dir / name
        path.write_bytes(content)
        result = pipeline.ingest_drop(name, expect_success=False)

        assert not result.success, name
        (error,) = _failures(result)
        where = f"{path}, line {line}: " if line is not None else f"{path}, line "
        assert where in error and message in error, (name, error)
        assert not result.asset_materializations_for_node("customer_extract"), name
        assert _committed(conn, pipeline) == committed, f"{name} changed the committed state"
        path.unlink()


def test_an_unreadable_drop_fails_a_full_refresh_with_every_source_as_it_was(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    """A full refresh stages all its sources in one transaction: the legacy table and a good drop,
    read before the bad one, are not written either."""
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    committed = _committed(conn, pipeline)
    conn.execute("""UPDATE "Customer" SET "jobTitle" = 'Chief Changes Officer'""")  # the legacy side changes too
    write_csv(drop_dir / "a_good.csv", ["externalId", "email", "company"], [["g-1", "bob@acme.com", "Acme"]])
    content, line, message = UNREADABLE_DROPS["nul_byte.csv"]
    (drop_dir / "b_bad.csv").write_bytes(content)

    result = pipeline.full_refresh(expect_success=False)

    (error,) = _failures(result)
    assert f"{drop_dir / 'b_bad.csv'}, line {line}: " in error and message in error, error
    assert _committed(conn, pipeline) == committed
    assert conn.execute("SELECT count(*) FROM restructure.drop_file").fetchone()[0] == 0


def test_an_unreadable_drop_fails_a_backfill_run_of_several_drops_with_none_of_them_staged(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    """A single-run backfill over drops stages them in one transaction: the good drop read before
    the bad one is not written either, so no partition the run failed holds staged rows."""
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    committed = _committed(conn, pipeline)
    write_csv(drop_dir / "a_good.csv", ["externalId", "email", "company"], [["g-1", "bob@acme.com", "Acme"]])
    content, line, message = UNREADABLE_DROPS["nul_byte.csv"]
    (drop_dir / "b_bad.csv").write_bytes(content)
    register_sources(pipeline.instance, drop_dir)

    result = pipeline.definitions.resolve_job_def("ingest_drop").execute_in_process(
        instance=pipeline.instance, raise_on_error=False,
        tags={ASSET_PARTITION_RANGE_START_TAG: "a_good.csv", ASSET_PARTITION_RANGE_END_TAG: "b_bad.csv"},
    )

    (error,) = _failures(result)
    assert f"{drop_dir / 'b_bad.csv'}, line {line}: " in error and message in error, error
    assert _committed(conn, pipeline) == committed
    assert conn.execute("SELECT count(*) FROM restructure.drop_file").fetchone()[0] == 0


def test_a_header_only_drop_stages_nothing_and_changes_nothing(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    tables = conn.execute('SELECT (SELECT count(*) FROM "Company"), (SELECT count(*) FROM "Prospect")').fetchone()
    write_csv(drop_dir / "header_only.csv", ["externalId", "email", "company"], [])

    result = pipeline.ingest_drop("header_only.csv")

    extract = result.asset_materializations_for_node("customer_extract")[0]
    assert extract.metadata["rows_read"].value == 0
    assert conn.execute("SELECT row_count FROM restructure.drop_file").fetchall() == [(0,)]
    assert conn.execute('SELECT (SELECT count(*) FROM "Company"), (SELECT count(*) FROM "Prospect")').fetchone() == tables
    assert all(check.passed for check in result.get_asset_check_evaluations())


def test_hostile_values_are_kept_verbatim_in_postgres_and_the_index(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch: OpenSearchResource
) -> None:
    """Formula and SQL-injection text, a 10 MB field (in a column without a Postgres index: see
    the value_too_long tests), quotes and newlines are data; huge numbers are rejected to null with
    their raw text kept; nothing is executed, truncated or lost."""
    formula = '=HYPERLINK("http://evil.example","click")'
    injection = "Robert'); DROP TABLE \"Prospect\";--"
    huge_field = "x" * (10 * 1024 * 1024)
    address = 'Unit 4, "The Yard"\nRear Building'
    write_csv(
        drop_dir / "hostile.csv",
        ["externalId", "email", "company", "firstName", "lastName", "jobTitle", "address",
         "minEmployeeSize", "maxEmployeeSize", "revenue"],
        [
            ["h-1", "ann@acme.com", "Acme", formula, injection, "CTO", address, "10", "50", "1000000"],
            ["h-2", "bob@acme.com", "Acme", "Bob", "Big", "CEO", huge_field, "", "", ""],
            ["h-3", "cid@globex.com", "Globex", "Cid", "Huge", "CFO", "", "99999999999", "-5",
             "1" + "0" * 30],
        ],
    )

    result = pipeline.ingest_drop("hostile.csv")

    ann, bob, cid = (_prospect(conn, external_id) for external_id in ("h-1", "h-2", "h-3"))
    assert cid["companyId"] is not None  # kept, numbers or not
    assert (ann["firstName"], ann["lastName"], ann["address"]) == (formula, injection, address)
    assert len(bob["address"]) == len(huge_field)
    assert conn.execute('SELECT count(*) FROM "Prospect"').fetchone()[0] == 3  # still there, all of it
    globex = conn.execute(
        'SELECT "minEmployeeSize", "maxEmployeeSize", revenue FROM "Company" WHERE domain = %s', ("globex.com",)
    ).fetchone()
    assert globex == (None, None, None)
    staged = _staged(conn, "hostile.csv")
    assert [line for line, *_ in staged] == [2, 4, 5]  # h-1's address spans two lines
    rejected = {external_id: values for _, external_id, _, values in staged if values}
    assert {key: value for key, value in rejected["h-3"].items() if value is not None} == {
        "minEmployeeSize": "99999999999", "maxEmployeeSize": "-5", "revenue": "1" + "0" * 30,
    }
    client = opensearch.client()
    prospects = opensearch.index_prefix + "prospects"
    assert client.get(index=prospects, id=ann["id"])["_source"]["lastName"] == injection
    assert len(client.get(index=prospects, id=bob["id"])["_source"]["address"]) == len(huge_field)
    assert all(check.passed for check in result.get_asset_check_evaluations())


TEN_MB = 10 * 1024 * 1024


def _quarantined(conn: psycopg.Connection, source: str) -> list[tuple]:
    return conn.execute(
        "SELECT line, source_ref, reason, raw FROM restructure.customer_quarantine WHERE source = %s "
        "ORDER BY line, source_ref",
        (source,),
    ).fetchall()


def _too_long_preview(result: dg.ExecuteInProcessResult) -> str:
    (materialization,) = result.asset_materializations_for_node("prospects")
    return materialization.metadata["values_too_long"].value


def test_values_too_long_for_a_prisma_index_are_quarantined_naming_file_line_and_column(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    """schema.prisma puts btree indexes on "Prospect".jobTitle, email, places and the identity, and on
    "Company".name, industry and places; a btree entry must fit in a third of a page. Such a row is
    quarantined as value_too_long (file and line in the quarantine, the column in the metadata), the
    rest of the drop goes on, and fixing the file releases it."""
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    header = ["externalId", "email", "company", "jobTitle", "city"]
    huge = "x" * TEN_MB
    wide_city = "東" * 400  # 400 characters, 1,200 bytes: over the limit in bytes
    rows = [
        ["l-1", "bob@acme.com", "Acme", "CTO", "Paris"],
        ["l-2", "cid@acme.com", "Acme", huge, "Paris"],           # line 3: job title
        ["l-3", "dee@globex.com", huge, "CFO", ""],               # line 4: a company's only row, its name
        ["l-4", "eve@initech.com", "Initech", "Engineer", ""],
        [huge, "fay@acme.com", "Acme", "CEO", ""],                # line 6: the identity itself
        ["l-6", "gus@" + "a" * TEN_MB + ".com", "Acme", "", ""],  # line 7: the email
        ["l-7", "hal@acme.com", "Acme", "Buyer", wide_city],      # line 8: multi-byte place
    ]
    path = write_csv(drop_dir / "long_values.csv", header, rows)

    for _ in range(2):  # a rerun with the same drop changes nothing
        result = pipeline.ingest_drop("long_values.csv")
        assert all(check.passed for check in result.get_asset_check_evaluations())
        quarantined = _quarantined(conn, "long_values.csv")
        assert [(line, reason) for line, _, reason, _ in quarantined] == [
            (3, "value_too_long"), (4, "value_too_long"), (6, "value_too_long"), (7, "value_too_long"),
            (8, "value_too_long"),
        ]
        assert conn.execute(
            'SELECT "externalId", "jobTitle" FROM "Prospect" ORDER BY 1'
        ).fetchall() == [("ext-c1", None), ("l-1", "CTO"), ("l-4", "Engineer")]
        assert conn.execute('SELECT domain FROM "Company" ORDER BY 1').fetchall() == [("acme.com",), ("initech.com",)]

    # The raw record keeps every value verbatim, the long one under its own field.
    raw = {line: record for line, _, _, record in quarantined}
    assert (raw[3]["externalId"], len(raw[3]["jobTitle"])) == ("l-2", TEN_MB)
    assert len(raw[4]["company"]) == TEN_MB and len(raw[6]["externalId"]) == TEN_MB
    assert len(raw[7]["email"]) == TEN_MB + 8 and raw[8]["city"] == wide_city
    # No row lost: each line of the drop is a prospect or quarantined.
    staged = _staged(conn, "long_values.csv")
    assert [line for line, *_ in staged] == list(range(2, 2 + len(rows)))
    assert len(staged) == 2 + len(quarantined)
    # The materialization names the column of each row.
    preview = _too_long_preview(result)
    for line, column, size in [(3, "jobTitle", TEN_MB), (4, "company", TEN_MB), (6, "externalId", TEN_MB),
                               (7, "email", TEN_MB + 8), (8, "city", 1200)]:
        assert f"| long_values.csv | line {line} | {column} | {size} |" in preview, preview

    # Fixed in the file: the rows leave the quarantine and become prospects.
    write_csv(path, header, [row if row[0] != "l-2" else ["l-2", "cid@acme.com", "Acme", "COO", "Paris"]
                             for row in rows])
    result = pipeline.ingest_drop("long_values.csv")
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert _prospect(conn, "l-2")["jobTitle"] == "COO"
    assert [line for line, *_ in _quarantined(conn, "long_values.csv")] == [4, 6, 7, 8]


def test_values_too_long_in_the_legacy_table_are_quarantined_by_full_refresh(
    conn: psycopg.Connection, pipeline: PipelineRunner
) -> None:
    huge = "x" * TEN_MB
    load_legacy(conn, [
        customer("c1", "ann@acme.com", "Acme", jobTitle="CTO"),
        customer("c2", "bob@acme.com", "Acme", jobTitle=huge),
        customer("c3", "cid@globex.com", "Globex", industry=huge),
        customer("c4", "dee@acme.com", huge),
    ])

    result = pipeline.full_refresh()

    assert all(check.passed for check in result.get_asset_check_evaluations())
    quarantined = _quarantined(conn, "legacy")
    assert [(line, source_ref, reason) for line, source_ref, reason, _ in quarantined] == [
        (None, "c2", "value_too_long"), (None, "c3", "value_too_long"), (None, "c4", "value_too_long"),
    ]
    assert len(quarantined[0][3]["jobTitle"]) == len(quarantined[1][3]["industry"]) == TEN_MB
    assert conn.execute('SELECT id, "companyId" IS NOT NULL FROM "Prospect"').fetchall() == [("c1", True)]
    assert conn.execute('SELECT domain, name FROM "Company"').fetchall() == [("acme.com", "Acme")]
    preview = _too_long_preview(result)
    for row, column in [("id c2", "jobTitle"), ("id c3", "industry"), ("id c4", "company")]:
        assert f"| legacy | {row} | {column} | {TEN_MB} |" in preview, preview


def test_a_duplicate_external_id_inside_one_drop_keeps_the_later_line(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    write_csv(
        drop_dir / "twice.csv",
        ["externalId", "email", "company", "jobTitle"],
        [
            ["d-1", "ann@acme.com", "Acme", "Engineer"],
            ["d-2", "bob@acme.com", "Acme", "Buyer"],
            ["d-1", "ann@acme.com", "Acme", "CTO"],
        ],
    )

    result = pipeline.ingest_drop("twice.csv")

    assert conn.execute('SELECT "externalId", "jobTitle" FROM "Prospect" ORDER BY 1').fetchall() == [
        ("d-1", "CTO"), ("d-2", "Buyer")
    ]
    # The earlier line stays staged as lineage (superseded), so every input row is accounted for.
    assert [(line, external_id, current) for line, external_id, current, _ in _staged(conn, "twice.csv")] == [
        (2, "d-1", False), (3, "d-2", True), (4, "d-1", True)
    ]
    assert all(check.passed for check in result.get_asset_check_evaluations())


def test_min_above_max_employee_size_is_kept_as_given_not_quarantined(
    conn: psycopg.Connection, pipeline: PipelineRunner, drop_dir: Path, opensearch: OpenSearchResource
) -> None:
    """The pair is the source's: neither swapped (a guess) nor nulled (a loss), and the person is no
    less valid for it. The company takes both values, together, from one row, as for any range."""
    write_csv(
        drop_dir / "inverted.csv",
        ["externalId", "email", "company", "minEmployeeSize", "maxEmployeeSize", "employeeSizeLink"],
        [["i-1", "ann@inverted.com", "Inverted", "500", "10", "https://inverted.com/size"]],
    )

    result = pipeline.ingest_drop("inverted.csv")

    company = conn.execute(
        'SELECT id, "minEmployeeSize", "maxEmployeeSize", "employeeSizeLink" FROM "Company" WHERE domain = %s',
        ("inverted.com",),
    ).fetchone()
    assert company[1:] == (500, 10, "https://inverted.com/size")
    assert _prospect(conn, "i-1")["companyId"] == company[0]
    assert conn.execute("SELECT count(*) FROM restructure.customer_quarantine").fetchone()[0] == 0
    assert _staged(conn, "inverted.csv") == [(2, "i-1", True, None)]  # nothing rejected either
    source = opensearch.client().get(index=opensearch.index_prefix + "companies", id=company[0])["_source"]
    assert (source["minEmployeeSize"], source["maxEmployeeSize"]) == (500, 10)
    assert all(check.passed for check in result.get_asset_check_evaluations())


# ---------------------------------------------------------------------------------------------
# A file still being written when its run reads it
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def share_lock(database_url: str, table: str) -> Iterator[None]:
    """Hold ``LOCK TABLE <table> IN SHARE MODE``: reads go on, the first write to it waits until released."""
    with psycopg.connect(database_url) as holder:
        holder.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        holder.rollback()


def _run_waits_on_a_lock(conn: psycopg.Connection) -> bool:
    return conn.execute(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = %s AND wait_event_type = 'Lock'",
        (APPLICATION_NAME,),
    ).fetchone()[0]


def test_a_drop_that_changes_while_its_run_reads_it_fails_naming_the_file_and_writes_nothing(
    conn: psycopg.Connection, database_url: str, pipeline: PipelineRunner, drop_dir: Path
) -> None:
    load_legacy(conn, [customer("c1", "ann@acme.com", "Acme")])
    pipeline.full_refresh()
    committed = _committed(conn, pipeline)
    path = write_csv(drop_dir / "growing.csv", ["externalId", "email", "company"],
                     [[f"g-{n}", f"p{n}@acme.com", "Acme"] for n in range(3)])
    outcome: dict[str, dg.ExecuteInProcessResult] = {}
    run = threading.Thread(target=lambda: outcome.update(result=pipeline.ingest_drop("growing.csv", expect_success=False)))

    # The staging transaction has read every row when it first writes restructure.source_record:
    # hold that table so the run waits right there, and let the writer append meanwhile.
    with share_lock(database_url, "restructure.source_record"):
        run.start()
        deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
        while not _run_waits_on_a_lock(conn):
            assert run.is_alive() and time.monotonic() < deadline, "the run never reached its staging write"
            time.sleep(0.05)
        with path.open("a", encoding="utf-8") as handle:
            handle.write("g-3,p3@acme.com,Acme\n")
    run.join(LOCK_WAIT_TIMEOUT)

    result = outcome["result"]
    assert not result.success
    (error,) = _failures(result)
    assert f"{path}: the file changed while it was being staged (size " in error, error
    assert "nothing was written" in error
    assert _committed(conn, pipeline) == committed

    # Once complete, the same drop is staged whole.
    pipeline.ingest_drop("growing.csv")
    assert conn.execute("SELECT row_count FROM restructure.drop_file").fetchall() == [(4,)]
    assert conn.execute("SELECT count(*) FROM \"Prospect\" WHERE \"externalId\" LIKE 'g-%'").fetchone()[0] == 4
    assert live_indices(pipeline.opensearch.client(), pipeline.opensearch.index_prefix + "prospects")
