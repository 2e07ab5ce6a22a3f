"""The local single-node OpenSearch: started for real from the integ-test distribution, no mocks.

The distribution comes through the shared download cache (``$RESTRUCTURE_OPENSEARCH_CACHE`` or
``~/.cache/restructure-pipeline/opensearch``), so only the first run downloads it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from opensearchpy import OpenSearch

from restructure_pipeline.services import opensearch as service
from restructure_pipeline.services.opensearch import (
    DEFAULT_PORT,
    OPENSEARCH_VERSION,
    LocalOpenSearch,
    LocalOpenSearchError,
    find_java,
    free_port,
    parse_java_version,
)

INDEX_BODY = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0},
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "name": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
            "domain": {"type": "keyword"},
            "size": {"type": "integer"},
            "updated_at": {"type": "date"},
        },
    },
}
DOC = {"id": "c1", "name": "Acme Widgets", "domain": "acme.test", "size": 42, "updated_at": "2024-05-01T10:00:00Z"}


@pytest.fixture
def node_home() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and as root the node runs as an
    # unprivileged user who must be able to reach its home.
    base = Path(tempfile.mkdtemp(prefix="restructure-opensearch-test-"))
    base.chmod(0o755)
    try:
        yield base / "opensearch"
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def node(node_home: Path) -> Iterator[LocalOpenSearch]:
    local = LocalOpenSearch(node_home, port=free_port())
    try:
        yield local
    finally:
        local.stop()


def _client(url: str) -> OpenSearch:
    return OpenSearch(hosts=[url], timeout=30)


def _fake_java(folder: Path, version_line: str) -> Path:
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n", encoding="ascii")
    java.chmod(0o755)
    return folder


# --------------------------------------------------------------------------- the real node


@pytest.mark.integration
def test_start_index_search_stop_and_restart_from_another_process(node: LocalOpenSearch) -> None:
    url = node.start()
    assert url == f"http://127.0.0.1:{node.port}" == node.url
    status = node.status()
    assert status.running and status.port == node.port and status.url == url and status.home == node.home
    first_pid = status.pid
    assert first_pid is not None and node.pid_file.is_file()
    assert node.start() == url and node.status().pid == first_pid  # idempotent: same node

    client = _client(url)
    info = client.info()
    assert info["version"]["number"] == OPENSEARCH_VERSION
    assert info["cluster_name"] == service.CLUSTER_NAME
    client.indices.create(index="companies-test-v1", body=INDEX_BODY)
    client.index(index="companies-test-v1", id="c1", body=DOC, refresh=True)
    hits = client.search(index="companies-test-v1", body={"query": {"match": {"name": "acme"}}})["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["c1"]
    assert hits[0]["_source"] == DOC
    client.close()

    node.stop()
    stopped = node.status()
    assert stopped.running is False and stopped.pid is None and stopped.url is None and stopped.port is None
    assert not node.pid_file.exists()
    assert (
        not psutil.pid_exists(first_pid)
        or "org.opensearch.bootstrap.OpenSearch" not in psutil.Process(first_pid).cmdline()
    )
    node.stop()  # idempotent

    # Second start, from a process that exits straight away (as `services up` does): the node
    # outlives it, and this process finds it again through the pid file.
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from restructure_pipeline.services.opensearch import LocalOpenSearch
        print(LocalOpenSearch(Path({str(node.home)!r}), port={node.port}).start())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == url
    again = node.status()
    assert again.running and again.pid not in (None, first_pid) and again.port == node.port

    client = _client(url)
    hits = client.search(index="companies-test-v1", body={"query": {"term": {"domain": "acme.test"}}})["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["c1"]  # the data survived the restart
    client.close()

    node.stop()
    assert node.status().running is False
    assert (
        not psutil.pid_exists(again.pid)
        or "org.opensearch.bootstrap.OpenSearch" not in psutil.Process(again.pid).cmdline()
    )


def test_start_refuses_a_taken_port(node_home: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        local = LocalOpenSearch(node_home, port=port)
        with pytest.raises(LocalOpenSearchError, match=rf"port {port}\b.*already in use"):
            local.start()
    assert local.status().running is False
    assert not local.pid_file.exists()


def test_stale_pid_file_is_never_trusted(node_home: Path) -> None:
    local = LocalOpenSearch(node_home, port=free_port())
    node_home.mkdir(parents=True)
    me = psutil.Process()
    local.pid_file.write_text(json.dumps({"pid": me.pid, "port": local.port, "create_time": me.create_time()}))
    assert local.status().running is False  # this pytest process is not an OpenSearch
    local.stop()  # must not signal us
    assert me.is_running() and not local.pid_file.exists()


def test_stop_and_status_without_a_node(node_home: Path) -> None:
    local = LocalOpenSearch(node_home, port=free_port())
    local.stop()
    assert local.status() == service.OpenSearchStatus(
        running=False, pid=None, port=None, home=node_home.resolve(), url=None
    )


# --------------------------------------------------------------------------- the download cache


def test_a_copy_in_the_maven_repository_is_reused_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service.fetch_distribution()  # the shared cache (downloads on a fresh machine)
    home = tmp_path / "home"
    m2 = home / ".m2" / "repository" / "org/opensearch/distribution/integ-test-zip/opensearch" / OPENSEARCH_VERSION
    m2.mkdir(parents=True)
    shutil.copyfile(source, m2 / source.name)
    sha1 = hashlib.sha1(source.read_bytes()).hexdigest()
    (m2 / f"{source.name}.sha1").write_text(sha1)
    monkeypatch.setenv("HOME", str(home))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("should not download")

    monkeypatch.setattr(service, "_download_https", no_network)
    cache = tmp_path / "cache"
    fetched = service.fetch_distribution(cache=cache)
    assert fetched == cache / source.name and hashlib.sha1(fetched.read_bytes()).hexdigest() == sha1

    fetched.write_bytes(b"corrupt")  # a damaged cache entry is noticed and replaced
    assert hashlib.sha1(service.fetch_distribution(cache=cache).read_bytes()).hexdigest() == sha1
    assert not [p for p in cache.iterdir() if p.name.endswith(".part")]


def test_only_a_zip_with_the_pinned_digest_is_used_wherever_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = service.fetch_distribution()
    assert hashlib.sha512(source.read_bytes()).hexdigest() == service.PINNED_SHA512[OPENSEARCH_VERSION]
    # A sound zip, with a checksum file that matches it, in the Maven repository and in the cache.
    impostor = tmp_path / "impostor.zip"
    with zipfile.ZipFile(impostor, "w") as archive:
        archive.writestr("opensearch-2.19.6/bin/opensearch", "#!/bin/sh\necho not opensearch\n")
    home = tmp_path / "home"
    m2 = home / ".m2" / "repository" / "org/opensearch/distribution/integ-test-zip/opensearch" / OPENSEARCH_VERSION
    m2.mkdir(parents=True)
    shutil.copyfile(impostor, m2 / source.name)
    (m2 / f"{source.name}.sha1").write_text(hashlib.sha1(impostor.read_bytes()).hexdigest())
    monkeypatch.setenv("HOME", str(home))
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(impostor, cache / source.name)
    downloads: list[str] = []

    def download(url: str, target: Path, version: str) -> None:  # the network, serving the real zip
        downloads.append(url)
        shutil.copyfile(source, target)

    monkeypatch.setattr(service, "_download_https", download)
    fetched = service.fetch_distribution(cache=cache)

    assert hashlib.sha512(fetched.read_bytes()).hexdigest() == service.PINNED_SHA512[OPENSEARCH_VERSION]
    assert len(downloads) == 1  # neither the cached nor the Maven copy was taken


def test_cache_location_is_outside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(service.CACHE_ENV, str(tmp_path / "c"))
    assert service.cache_dir() == (tmp_path / "c").resolve()
    monkeypatch.delenv(service.CACHE_ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert service.cache_dir() == Path.home().resolve() / ".cache" / "restructure-pipeline" / "opensearch"
    assert service.distribution_url("2.19.6") == (
        "https://repo1.maven.org/maven2/org/opensearch/distribution/integ-test-zip/opensearch/2.19.6/opensearch-2.19.6.zip"
    )


# --------------------------------------------------------------------------- Java


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment', 17),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "25" 2025-09-16', 25),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ('Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "21.0.8" 2025-07-15 LTS', 21),
    ],
)
def test_parse_java_version(output: str, major: int) -> None:
    assert parse_java_version(output) == major


def test_parse_java_version_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_java_version("bash: java: command not found")


def test_find_java_rejects_a_too_new_java_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(service.JAVA_HOME_ENV, raising=False)
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk25", 'openjdk version "25" 2025-09-16')))
    with pytest.raises(LocalOpenSearchError) as caught:
        find_java()
    message = str(caught.value)
    assert "Java 25" in message and "too new" in message and "JAVA_HOME" in message and "11-21" in message


def test_find_java_rejects_a_too_old_java_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(service.JAVA_HOME_ENV, raising=False)
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk8", 'java version "1.8.0_292"')))
    with pytest.raises(LocalOpenSearchError, match=r"Java 8, which is too old"):
        find_java()


def test_find_java_rejects_a_java_home_without_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(service.JAVA_HOME_ENV, raising=False)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(LocalOpenSearchError, match=r"no executable bin/java"):
        find_java()


def test_project_java_home_wins_over_java_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _fake_java(tmp_path / "jdk17", 'openjdk version "17.0.9" 2023-10-17')
    monkeypatch.setenv(service.JAVA_HOME_ENV, str(good))
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / "jdk25", 'openjdk version "25"')))
    assert find_java() == good / "bin" / "java"


def test_find_java_finds_a_suitable_runtime_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(service.JAVA_HOME_ENV, raising=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    java = find_java()
    assert 11 <= service.java_major_version(java) <= 23


# --------------------------------------------------------------------------- configuration


def test_default_uses_the_state_dir_and_the_port_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTRUCTURE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv(service.PORT_ENV, raising=False)
    local = LocalOpenSearch.default()
    assert local.home == tmp_path.resolve() / "opensearch" and local.port == DEFAULT_PORT
    assert local.url == f"http://127.0.0.1:{DEFAULT_PORT}"
    monkeypatch.setenv(service.PORT_ENV, "59333")
    assert LocalOpenSearch.default().port == 59333
    monkeypatch.setenv(service.PORT_ENV, "nine")
    with pytest.raises(LocalOpenSearchError, match=service.PORT_ENV):
        LocalOpenSearch.default()


def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LocalOpenSearchError, match="invalid port"):
        LocalOpenSearch(tmp_path, port=70000)
    with pytest.raises(LocalOpenSearchError, match="invalid heap"):
        LocalOpenSearch(tmp_path, heap="lots")


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
    assert 0 < port < 65536
