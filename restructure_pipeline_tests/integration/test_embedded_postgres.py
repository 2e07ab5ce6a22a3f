"""The embedded Postgres service against real servers: lifecycle, auth, databases, failure messages."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from restructure_pipeline.services.postgres import (
    DEFAULT_PORT,
    PORT_ENV,
    EmbeddedPostgres,
    EmbeddedPostgresError,
    free_port,
)
from restructure_pipeline.settings import STATE_DIR_ENV

pytestmark = pytest.mark.integration


def _scratch_dir(request: pytest.FixtureRequest) -> Path:
    """A folder directly in the system temp dir, removed afterwards.

    Not pytest's tmp_path: when root runs the server as another account, every ancestor must stay
    traversable, and each pytest session resets /tmp/pytest-of-<user> to 0700.
    """
    folder = Path(tempfile.mkdtemp(prefix="restructure-pg-test-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    return folder


def _new_server(request: pytest.FixtureRequest, data_dir: Path | None = None) -> EmbeddedPostgres:
    server = EmbeddedPostgres(data_dir or _scratch_dir(request) / "data", port=free_port())
    request.addfinalizer(server.stop)  # registered last, so it runs before the folder is removed
    return server


@pytest.fixture(scope="module")
def shared_server(request: pytest.FixtureRequest) -> EmbeddedPostgres:
    server = _new_server(request)
    server.start()
    return server


@pytest.fixture
def server(shared_server: EmbeddedPostgres) -> EmbeddedPostgres:
    """The module's server, started (a previous test may have stopped it)."""
    shared_server.start()
    return shared_server


@pytest.fixture
def own_server(request: pytest.FixtureRequest) -> EmbeddedPostgres:
    """A separate, not yet started server for tests that stop, crash or break it."""
    return _new_server(request)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """Something else listening on a 127.0.0.1 port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _password(server: EmbeddedPostgres) -> str:
    return server.password_file.read_text().strip()


def test_start_returns_admin_url_that_runs_queries(server: EmbeddedPostgres) -> None:
    url = server.start()

    assert url == server.url() == server.url("postgres")
    assert url.startswith("postgresql://postgres:") and url.endswith(f"@127.0.0.1:{server.port}/postgres")
    with psycopg.connect(url) as conn:
        user, answer = conn.execute("SELECT current_user, 6 * 7").fetchone()
    assert (user, answer) == ("postgres", 42)


def test_start_is_idempotent_and_keeps_the_same_server(server: EmbeddedPostgres) -> None:
    pid_before = server.status().pid

    assert server.start() == server.start()
    assert server.status().pid == pid_before


def test_server_listens_only_on_loopback_with_durable_settings(server: EmbeddedPostgres) -> None:
    with psycopg.connect(server.url()) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["listen_addresses", "port", "fsync", "max_connections", "shared_buffers", "max_wal_size"],),
            ).fetchall()
        )
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["port"] == str(server.port)
    assert settings["fsync"] == "on"
    assert settings["max_connections"] == "100"
    assert settings["shared_buffers"] == str(1024 * 1024 // 8)  # 1GB in 8 kB pages
    assert settings["max_wal_size"] == "2048"  # in MB

    listening = {
        conn.laddr
        for conn in psutil.net_connections(kind="inet")
        if conn.pid == server.status().pid and conn.status == psutil.CONN_LISTEN
    }
    assert {(addr.ip, addr.port) for addr in listening} == {("127.0.0.1", server.port)}


def test_connections_need_the_generated_password(server: EmbeddedPostgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", password="not-it", connect_timeout=5
        )
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=str(server.socket_dir), port=server.port, user="postgres", dbname="postgres", connect_timeout=5)


def test_password_file_is_private_and_kept_outside_pgdata(server: EmbeddedPostgres) -> None:
    mode = stat.S_IMODE(server.password_file.stat().st_mode)

    assert mode == 0o600
    assert server.password_file.parent == server.data_dir.parent
    assert len(_password(server)) >= 32


def test_password_stays_out_of_reprs(server: EmbeddedPostgres) -> None:
    status = server.status()
    password = _password(server)

    assert password not in repr(status)
    assert password not in repr(server)
    assert status.redacted_url == f"postgresql://postgres:***@127.0.0.1:{server.port}/postgres"
    assert status.url == server.url()


def test_status_reports_running_server(server: EmbeddedPostgres) -> None:
    status = server.status()

    assert status.running is True
    assert status.port == server.port
    assert status.data_dir == server.data_dir
    assert psutil.Process(status.pid).cwd() == str(server.data_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has to hand the server to another account")
def test_server_runs_as_unprivileged_account_when_started_by_root(server: EmbeddedPostgres) -> None:
    postmaster = psutil.Process(server.status().pid)

    assert postmaster.uids().effective != 0
    assert postmaster.username() == "embedded_postgres"
    assert server.data_dir.stat().st_uid == postmaster.uids().effective


def test_ensure_database_creates_once_and_drop_removes_it(server: EmbeddedPostgres) -> None:
    name = 'odd "name" with spaces'  # proves the identifier is quoted, not interpolated

    url = server.ensure_database(name)
    assert server.ensure_database(name) == url == server.url(name)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (name,)

    with psycopg.connect(url):  # an open session does not block the forced drop
        server.drop_database(name)
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url, connect_timeout=5)
    server.drop_database(name)  # already gone: still fine


def test_drop_database_refuses_system_databases(server: EmbeddedPostgres) -> None:
    with pytest.raises(EmbeddedPostgresError, match="system database"):
        server.drop_database("postgres")


def test_database_names_postgres_would_truncate_are_rejected(server: EmbeddedPostgres) -> None:
    with pytest.raises(EmbeddedPostgresError, match="longer than 63 bytes"):
        server.ensure_database("x" * 64)


def test_start_on_another_port_while_running_names_the_running_port(server: EmbeddedPostgres) -> None:
    other = EmbeddedPostgres(server.data_dir, port=free_port())

    with pytest.raises(EmbeddedPostgresError, match=f"already running on port {server.port}"):
        other.start()


def test_data_survives_stop_and_start(server: EmbeddedPostgres) -> None:
    url = server.ensure_database("survivor")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO kept VALUES (1, 'still here') ON CONFLICT (id) DO NOTHING")

    server.stop()
    assert server.status().running is False
    server.start()

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT note FROM kept WHERE id = 1").fetchone() == ("still here",)
    server.drop_database("survivor")


def test_stop_is_idempotent_and_status_reports_stopped(server: EmbeddedPostgres) -> None:
    server.stop()
    server.stop()

    status = server.status()
    assert (status.running, status.pid, status.port, status.url) == (False, None, None, None)
    assert status.data_dir == server.data_dir
    assert not (server.data_dir / "postmaster.pid").exists()


def test_databases_need_a_running_server(server: EmbeddedPostgres) -> None:
    server.stop()

    with pytest.raises(EmbeddedPostgresError, match="not running"):
        server.ensure_database("anything")


def test_status_of_a_never_started_server_is_stopped(own_server: EmbeddedPostgres) -> None:
    status = own_server.status()

    assert (status.running, status.pid, status.url) == (False, None, None)


def test_start_on_a_taken_port_names_the_port_and_the_setting(
    own_server: EmbeddedPostgres, listening_socket: socket.socket
) -> None:
    taken = listening_socket.getsockname()[1]
    blocked = EmbeddedPostgres(own_server.data_dir, port=taken)

    with pytest.raises(EmbeddedPostgresError) as raised:
        blocked.start()

    message = str(raised.value)
    assert f"Port {taken}" in message
    assert PORT_ENV in message
    assert blocked.status().running is False


def test_password_stays_out_of_error_messages(own_server: EmbeddedPostgres, listening_socket: socket.socket) -> None:
    own_server.start()
    own_server.stop()
    blocked = EmbeddedPostgres(own_server.data_dir, port=listening_socket.getsockname()[1])

    with pytest.raises(EmbeddedPostgresError) as raised:
        blocked.start()

    assert _password(own_server) not in str(raised.value)


def test_start_recovers_after_a_crash_that_left_a_stale_pid_file(own_server: EmbeddedPostgres) -> None:
    url = own_server.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE crash_proof (id int)")
        conn.execute("INSERT INTO crash_proof VALUES (7)")  # committed: fsync is on, so it must survive

    postmaster = psutil.Process(own_server.status().pid)
    children = postmaster.children()
    postmaster.send_signal(signal.SIGKILL)
    psutil.wait_procs([postmaster, *children], timeout=30)
    assert (own_server.data_dir / "postmaster.pid").exists()
    assert own_server.status().running is False

    own_server.start()

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM crash_proof").fetchall() == [(7,)]


def test_long_data_dir_gets_a_short_socket_dir(request: pytest.FixtureRequest) -> None:
    deep = _scratch_dir(request) / ("nested-folder-" * 8) / "data"
    server = EmbeddedPostgres(deep, port=free_port())
    request.addfinalizer(lambda: shutil.rmtree(server.socket_dir, ignore_errors=True))
    request.addfinalizer(server.stop)

    server.start()

    assert server.socket_dir != server.data_dir
    assert len(str(server.socket_dir / f".s.PGSQL.{server.port}")) < 100
    with psycopg.connect(
        host=str(server.socket_dir), port=server.port, user="postgres", dbname="postgres", password=_password(server)
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_non_empty_folder_without_a_cluster_is_not_initialized(own_server: EmbeddedPostgres) -> None:
    own_server.data_dir.mkdir(parents=True)
    (own_server.data_dir / "someone-elses-file.txt").write_text("keep me")

    with pytest.raises(EmbeddedPostgresError, match="not empty"):
        own_server.start()
    assert (own_server.data_dir / "someone-elses-file.txt").read_text() == "keep me"


def test_bin_dir_holds_the_client_programs(own_server: EmbeddedPostgres) -> None:
    for program in ("pg_dump", "pg_restore", "psql", "pg_ctl"):
        assert os.access(own_server.bin_dir / program, os.X_OK)


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_default_server_lives_in_the_state_dir_on_the_configured_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(PORT_ENV, raising=False)
    assert EmbeddedPostgres.default().data_dir == tmp_path.resolve() / "postgres"
    assert EmbeddedPostgres.default().port == DEFAULT_PORT

    monkeypatch.setenv(PORT_ENV, "61234")
    assert EmbeddedPostgres.default().port == 61234

    monkeypatch.setenv(PORT_ENV, "not-a-port")
    with pytest.raises(EmbeddedPostgresError, match=PORT_ENV):
        EmbeddedPostgres.default()


def test_concurrent_ensure_database_calls_agree(server: EmbeddedPostgres) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=6) as pool:
        urls = set(pool.map(lambda _: server.ensure_database("raced"), range(6)))

    assert urls == {server.url("raced")}
    server.drop_database("raced")
