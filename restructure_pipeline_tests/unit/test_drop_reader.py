"""Bad CSV drops: each ends in a clear error naming file and line, or in rows to decide later.

The reader is strict and streaming; since a drop is staged in one transaction, an error
here means nothing of the file is written (proven end to end in the integration tests).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import polars as pl
import pytest

from restructure_pipeline.sources.drops import (
    DropFileError,
    DropReader,
    check_drop_unchanged,
    drop_fingerprint,
    resolve_drop_path,
)


def _read(path: Path, chunk_rows: int = 1000) -> pl.DataFrame:
    reader = DropReader(path, "csv_drop", chunk_rows)
    frames = list(reader.chunks())
    return pl.concat(frames) if frames else pl.DataFrame()


def _write(tmp_path: Path, content: bytes | str, name: str = "drop.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    "content, message, line",
    [
        ("", "the file is empty", 1),
        ("email,company\nann@acme.com,Acme\n", "no externalId column", 1),
        ("externalId;email\n1;ann@acme.com\n", "no externalId column", 1),  # wrong delimiter
        ("externalId,email,email\n1,a@b.com,c@d.com\n", "appears twice", 1),
        ("externalId,email\n1,ann@acme.com\n2,bob@acme.com,extra\n", "expected 2 fields", 3),
        ("externalId,email\n1,ann@acme.com\n2\n", "expected 2 fields", 3),
        ('externalId,email\n1,"ann@acme.com\n', "malformed CSV", 2),
        ("externalId,email\n1,ann\x00@acme.com\n", "NUL byte", 2),
    ],
)
def test_unreadable_drops_fail_naming_file_and_line(tmp_path: Path, content: str, message: str, line: int) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(DropFileError) as raised:
        _read(path)
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{path}, line {line}:")


def test_invalid_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, b"externalId,email\n1,ann@acme.com\n2,b\xffb@acme.com\n")
    with pytest.raises(DropFileError, match=r"line 3: not valid UTF-8"):
        _read(path)


def test_latin1_file_is_refused_not_misread(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId,firstName\n1,Jürgen\n".encode("latin-1"))
    with pytest.raises(DropFileError, match="line 2: not valid UTF-8"):
        _read(path)


def test_a_bad_byte_far_into_a_large_gzipped_file_is_found_on_its_line(tmp_path: Path) -> None:
    rows = "".join(f"{n},p{n}@acme.com\n" for n in range(200_000))  # several MB: past the first blocks
    data = gzip.compress(b"externalId,email\n" + rows.encode() + b"x,\xe9@acme.com\n")
    path = _write(tmp_path, data, name="drop.csv.gz")
    with pytest.raises(DropFileError, match="line 200002: not valid UTF-8"):
        _read(path, chunk_rows=50_000)


def test_a_multibyte_character_cut_off_at_the_end_is_found(tmp_path: Path) -> None:
    path = _write(tmp_path, b"externalId,firstName\n1,J\xc3")
    with pytest.raises(DropFileError, match="line 2: not valid UTF-8"):
        _read(path)


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    data = gzip.compress(("externalId,email\n" + "".join(f"{n},p{n}@acme.com\n" for n in range(5000))).encode())
    path = _write(tmp_path, data[: len(data) // 2], name="drop.csv.gz")
    with pytest.raises(DropFileError, match="cannot read the file"):
        _read(path)


@pytest.mark.parametrize("offset", [30, 200])
def test_a_corrupt_gzip_stream_is_refused_naming_the_file(tmp_path: Path, offset: int) -> None:
    data = bytearray(gzip.compress(("externalId,email\n" + "".join(f"{n},p{n}@acme.com\n" for n in range(1000))).encode()))
    data[offset] ^= 0xFF  # inside the deflate stream: zlib.error, not BadGzipFile
    path = _write(tmp_path, bytes(data), name="drop.csv.gz")
    with pytest.raises(DropFileError, match="cannot read the file") as raised:
        _read(path)
    assert str(raised.value).startswith(f"{path}, line ")


def test_a_corrupt_gzip_stream_after_bad_utf8_is_refused_on_its_line(tmp_path: Path) -> None:
    bad_utf8 = gzip.compress(b"externalId,email\n1,b\xffb@acme.com\n")
    broken = bytearray(gzip.compress("".join(f"{n},p{n}@acme.com\n" for n in range(1000)).encode()))
    broken[30] ^= 0xFF  # the second gzip member breaks only when the bad byte's line is searched for
    path = _write(tmp_path, bad_utf8 + bytes(broken), name="drop.csv.gz")
    with pytest.raises(DropFileError, match=r"line 2: not valid UTF-8"):
        _read(path)


def test_header_only_is_an_empty_drop(tmp_path: Path) -> None:
    assert _read(_write(tmp_path, "externalId,email\n")).is_empty()


def test_bom_quotes_and_embedded_newlines_keep_line_numbers(tmp_path: Path) -> None:
    content = '\ufeffExternal ID,E-mail,Job_Title\n1,ann@acme.com,"Head of\nSales, ""EMEA"""\n2,bob@acme.com,CTO\n'
    frame = _read(_write(tmp_path, content))
    assert frame["externalId"].to_list() == ["1", "2"]
    assert frame["jobTitle"].to_list() == ['Head of\nSales, "EMEA"', "CTO"]
    assert frame["line"].to_list() == [2, 4]


def test_unknown_columns_are_reported_not_fatal(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId,email,Favourite Colour,id\n1,ann@acme.com,blue,c123\n")
    reader = DropReader(path, "csv_drop")
    frame = pl.concat(list(reader.chunks()))
    assert reader.header.unknown_columns == ["Favourite Colour"]
    assert reader.header.ignored_columns == ["id"]  # drops carry no ids: the pipeline assigns them
    assert frame["externalSource"].to_list() == ["csv_drop"]


def test_formula_and_sql_injection_values_are_plain_text(tmp_path: Path) -> None:
    evil = ['=HYPERLINK("http://x","y")', "Robert'); DROP TABLE \"Prospect\";--", "+cmd|' /C calc'!A0"]
    rows = "".join(f'{n},p{n}@acme.com,"{value.replace(chr(34), chr(34) * 2)}"\n' for n, value in enumerate(evil))
    frame = _read(_write(tmp_path, "externalId,email,company\n" + rows))
    assert frame["company"].to_list() == evil


def test_a_ten_megabyte_field_is_read_whole(tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    frame = _read(_write(tmp_path, f"externalId,jobTitle\n1,{big}\n"))
    assert len(frame["jobTitle"][0]) == len(big)


def test_chunks_stay_bounded_and_cover_every_row(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId\n" + "".join(f"{n}\n" for n in range(2500)))
    frames = list(DropReader(path, "csv_drop", chunk_rows=1000).chunks())
    assert [frame.height for frame in frames] == [1000, 1000, 500]
    assert pl.concat(frames)["line"].to_list() == list(range(2, 2502))


def test_an_unchanged_drop_passes_the_check_before_commit(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId\n1\n")
    check_drop_unchanged(path, drop_fingerprint(path))


def test_a_drop_appended_to_after_it_was_read_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId\n1\n")
    before = drop_fingerprint(path)
    with path.open("a") as handle:
        handle.write("2\n")
    with pytest.raises(DropFileError, match=r"changed while it was being staged \(size 13 -> 15") as raised:
        check_drop_unchanged(path, before)
    assert str(raised.value).startswith(f"{path}: ")


def test_a_same_size_rewrite_keeping_the_time_is_caught_by_the_hash(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId\n1\n")
    before = drop_fingerprint(path)
    path.write_text("externalId\n2\n")
    os.utime(path, ns=(before.mtime_ns, before.mtime_ns))
    with pytest.raises(DropFileError, match="same size and time, different content"):
        check_drop_unchanged(path, before)


def test_a_drop_removed_while_it_was_read_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "externalId\n1\n")
    before = drop_fingerprint(path)
    path.unlink()
    with pytest.raises(DropFileError, match="went away while it was being staged"):
        check_drop_unchanged(path, before)


@pytest.mark.parametrize("key", ["../escape.csv", "/etc/passwd.csv", "sub/../../x.csv", "notes.txt"])
def test_partition_keys_outside_the_drop_folder_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(DropFileError, match="refused"):
        resolve_drop_path(tmp_path, key)
