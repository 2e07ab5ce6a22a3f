"""CSV drop files: discovery, partition keys, and a strict streaming reader.

A drop is ``*.csv`` or ``*.csv.gz`` in the drop folder, UTF-8 (a BOM is fine), one header
row. Headers match Customer field names ignoring case, spaces, ``_`` and ``-``. A file
that cannot be parsed raises :class:`DropFileError` naming the file and line; since the
caller stages a drop in one transaction, such a file writes nothing. Nor does a file that
changes while it is staged: :func:`drop_fingerprint` before reading, and
:func:`check_drop_unchanged` before committing, raise rather than stage a mix of versions.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from restructure_pipeline.identity.attributes import ATTRIBUTE_COLUMNS, canonical_column_name

DROP_SUFFIXES = (".csv", ".csv.gz")
# Drops carry no ids or timestamps of their own: the pipeline assigns both.
_IGNORED_SYSTEM_COLUMNS = frozenset({"id", "createdAt", "updatedAt"})
_DROP_COLUMNS = ("externalSource", "externalId", *ATTRIBUTE_COLUMNS)

csv.field_size_limit(64 * 1024 * 1024)  # a 10 MB field is bad data, not a reason to crash the reader


class DropFileError(ValueError):
    """A drop file that cannot be read; the message names the file and, where known, the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class DropHeader:
    """How a drop's header maps onto Customer fields."""

    columns: dict[int, str]  # position in the row -> Customer field
    unknown_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    has_external_source: bool = False


def is_drop_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(DROP_SUFFIXES) and not path.name.startswith(".")


def drop_partition_key(path: Path, drop_dir: Path) -> str:
    """The file's path relative to the drop folder, with forward slashes: stable and readable."""
    return path.resolve().relative_to(drop_dir.resolve()).as_posix()


def resolve_drop_path(drop_dir: Path, partition_key: str) -> Path:
    """The file behind a partition key; refuses anything that escapes the drop folder."""
    root = drop_dir.resolve()
    candidate = (root / partition_key).resolve()
    if not candidate.is_relative_to(root) or candidate == root:
        raise DropFileError(partition_key, f"refused: resolves outside the drop folder {root}")
    if not candidate.name.lower().endswith(DROP_SUFFIXES):
        raise DropFileError(partition_key, f"refused: a drop must end with one of {DROP_SUFFIXES}")
    return candidate


def discover_drop_files(drop_dir: Path) -> list[Path]:
    """Drop files under the folder (recursively), in a stable order; symlinks leaving it are skipped."""
    if not drop_dir.is_dir():
        return []
    root = drop_dir.resolve()
    found = [path for path in root.rglob("*") if is_drop_file(path) and path.resolve().is_relative_to(root)]
    return sorted(found)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class DropFingerprint:
    """What a drop file is at one moment: size, modification time and content hash."""

    size: int
    mtime_ns: int
    sha256: str


def drop_fingerprint(path: Path) -> DropFingerprint:
    stat = path.stat()
    return DropFingerprint(stat.st_size, stat.st_mtime_ns, file_sha256(path))


def check_drop_unchanged(path: Path, before: DropFingerprint) -> None:
    """Raise :class:`DropFileError` unless the file is still exactly what ``before`` saw.

    Called after the rows are read and before they are committed: a file rewritten or
    appended to meanwhile (still being written when its run started) must not be staged
    as a mix of two versions. The hash is compared too, since a same-size rewrite can
    keep the modification time on coarse file systems.
    """
    try:
        now = drop_fingerprint(path)
    except OSError as error:
        raise DropFileError(path, f"the file went away while it was being staged: {error}") from error
    if now != before:
        changes = [
            f"{name} {getattr(before, name)} -> {getattr(now, name)}"
            for name in ("size", "mtime_ns")
            if getattr(before, name) != getattr(now, name)
        ] or ["same size and time, different content"]
        raise DropFileError(
            path,
            f"the file changed while it was being staged ({'; '.join(changes)}): nothing was written; "
            "rerun once it is completely written (write a .ready marker last)",
        )


def parse_header(path: Path, header: list[str]) -> DropHeader:
    columns: dict[int, str] = {}
    unknown: list[str] = []
    ignored: list[str] = []
    for position, raw_name in enumerate(header):
        name = canonical_column_name(raw_name)
        if name is None:
            if raw_name.strip():
                unknown.append(raw_name)
            continue
        if name in _IGNORED_SYSTEM_COLUMNS:
            ignored.append(raw_name)
            continue
        if name in columns.values():
            raise DropFileError(path, f"column {name!r} appears twice in the header", line=1)
        columns[position] = name
    if "externalId" not in columns.values():
        raise DropFileError(path, "the header has no externalId column (required)", line=1)
    return DropHeader(
        columns=columns,
        unknown_columns=unknown,
        ignored_columns=ignored,
        has_external_source="externalSource" in columns.values(),
    )


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _open_text(path: Path) -> io.TextIOBase:
    return io.TextIOWrapper(_open_binary(path), encoding="utf-8-sig", errors="strict", newline="")


def line_of_first_invalid_utf8(path: Path) -> int | None:
    """The line (1-based, counting every newline) of the file's first byte that is not UTF-8, or None.

    The text reader decodes blocks ahead of the CSV parser, so its own position is not
    where a bad byte is: this rescans the bytes (only when decoding has already failed).
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with _open_binary(path) as binary:
            for block in iter(lambda: binary.read(1 << 20), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as error:  # error.object: the bytes held back from the last block + this one
                    return line + error.object[: error.start].count(b"\n")
                line += block.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:  # a sequence cut off by the end of the file
        return line + error.object[: error.start].count(b"\n")
    except (OSError, EOFError, zlib.error):  # a corrupt gzip can decode to bad UTF-8 before its stream breaks
        return None
    return None


class DropReader:
    """Reads one drop file as chunks of Customer-shaped frames with a ``line`` column."""

    def __init__(self, path: Path, default_external_source: str, chunk_rows: int = 100_000) -> None:
        self.path = path
        self.default_external_source = default_external_source
        self.chunk_rows = chunk_rows
        self.header: DropHeader | None = None
        self.rows_read = 0

    def chunks(self) -> Iterator[pl.DataFrame]:
        line = 1
        try:
            with _open_text(self.path) as text:
                reader = csv.reader(text, strict=True)
                try:
                    header = next(reader)
                except StopIteration:
                    raise DropFileError(self.path, "the file is empty: a drop needs a header row", line=1) from None
                self.header = parse_header(self.path, header)
                width = len(header)
                batch: list[list[str]] = []
                lines: list[int] = []
                for row in reader:
                    start_line, line = line + 1, reader.line_num
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # blank lines carry nothing
                    if len(row) != width:
                        raise DropFileError(
                            self.path, f"expected {width} fields as in the header, found {len(row)}", line=start_line
                        )
                    if any("\x00" in value for value in row):  # Postgres text cannot hold NUL
                        raise DropFileError(self.path, "a field contains a NUL byte", line=start_line)
                    batch.append(row)
                    lines.append(start_line)
                    if len(batch) >= self.chunk_rows:
                        yield self._frame(batch, lines)
                        batch, lines = [], []
                if batch:
                    yield self._frame(batch, lines)
        except DropFileError:
            raise
        except UnicodeDecodeError as error:
            bad_line = line_of_first_invalid_utf8(self.path) or line + 1
            raise DropFileError(self.path, f"not valid UTF-8 ({error.reason})", line=bad_line) from error
        except csv.Error as error:
            raise DropFileError(self.path, f"malformed CSV: {error}", line=line + 1) from error
        except (EOFError, gzip.BadGzipFile, OSError, zlib.error) as error:  # zlib.error: a corrupt deflate stream
            raise DropFileError(self.path, f"cannot read the file: {error}", line=line + 1) from error

    def _frame(self, batch: list[list[str]], lines: list[int]) -> pl.DataFrame:
        assert self.header is not None
        data: dict[str, list[str | None] | list[int]] = {}
        for position, name in self.header.columns.items():
            data[name] = [row[position] for row in batch]
        for name in _DROP_COLUMNS:
            data.setdefault(name, [None] * len(batch))
        if not self.header.has_external_source:
            data["externalSource"] = [self.default_external_source] * len(batch)
        self.rows_read += len(batch)
        frame = pl.DataFrame(data, schema=dict.fromkeys(_DROP_COLUMNS, pl.Utf8))
        return frame.with_columns(pl.Series("line", lines, dtype=pl.Int32))
