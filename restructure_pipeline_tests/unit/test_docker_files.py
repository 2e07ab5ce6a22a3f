"""Static validation of the Docker deployment in ``docker/`` (no Docker engine needed).

The compose file, the two Dockerfiles, the instance and workspace configuration and
``docker/.env.example`` are checked against each other and against ``pyproject.toml``:
services and health checks, secrets only from the environment, ports on loopback only, every
variable documented, pinned images, Dagster versions in lockstep, non-root images, the run
launcher seeing what the code location sees, and ``docker/dagster.yaml`` validated against
Dagster's own instance schema. ``docker compose config`` runs too when the compose plugin is
installed (it only parses; no daemon needed).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
USER_CODE_DOCKERFILE = DOCKER / "Dockerfile"
DAGSTER_DOCKERFILE = DOCKER / "Dockerfile.dagster"
INSTANCE_YAML = DOCKER / "dagster.yaml"
WORKSPACE_YAML = DOCKER / "workspace.yaml"

POSTGRES, OPENSEARCH, USER_CODE, WEBSERVER, DAEMON = (
    "postgres",
    "opensearch",
    "user-code",
    "dagster-webserver",
    "dagster-daemon",
)
SERVICES = {POSTGRES, OPENSEARCH, USER_CODE, WEBSERVER, DAEMON}
DAGSTER_SERVICES = (USER_CODE, WEBSERVER, DAEMON)
DOCKER_SOCKET = "/var/run/docker.sock"

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PASSPHRASE|CREDENTIAL|PRIVATE_KEY|API_KEY", re.I)
# One whole compose reference with no literal fallback: ${VAR}, ${VAR:?message}, ${VAR?message}, ${VAR:-}.
PURE_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*|:?-)?\}")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]*:(?P<password>[^@\s]*)@", re.I)
PLACEHOLDER = "change-me"


# --------------------------------------------------------------------------- helpers: compose


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:-|-|:\?|\?|:\+|\+)(?P<argument>.*))?", re.S)


class MissingVariable(ValueError):
    pass


def interpolate(text: str, environment: Mapping[str, str]) -> str:
    """Compose's ``${...}`` interpolation (no nesting, which these files do not use)."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return environment.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None or "${" in match["braced"]:
            raise ValueError(f"unsupported interpolation {match[0]!r}")
        name, operator, argument = braced["name"], braced["operator"], braced["argument"] or ""
        value = environment.get(name)
        if operator == ":-":
            return value if value else argument
        if operator == "-":
            return argument if value is None else value
        if operator in (":?", "?") and (value is None or (operator == ":?" and not value)):
            raise MissingVariable(f"{name}: {argument}")
        if operator == ":+":
            return argument if value else ""
        if operator == "+":
            return "" if value is None else argument
        return value or ""

    return _VARIABLE.sub(replace, text)


def variables_in(text: str) -> set[str]:
    names = set()
    for match in _VARIABLE.finditer(text):
        if match["named"]:
            names.add(match["named"])
        elif match["braced"] is not None:
            braced = _BRACED.fullmatch(match["braced"])
            assert braced is not None, f"unsupported interpolation {match[0]!r}"
            names.add(braced["name"])
    return names


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def resolve(node: Any, environment: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environment)
    if isinstance(node, Mapping):
        return {resolve(key, environment): resolve(value, environment) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, environment) for item in node]
    return node


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path.name}:{number}: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        assert key not in values, f"{path.name}:{number}: {key} is set twice"
        values[key] = value
    return values


@cache
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@cache
def compose() -> dict[str, Any]:
    """The compose file as ``docker compose`` would see it with ``.env.example`` as its ``.env``."""
    return resolve(raw_compose(), env_example())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def environment_of(name: str) -> dict[str, str]:
    environment = service(name).get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def raw_environment_of(name: str) -> dict[str, str]:
    environment = raw_compose()["services"][name].get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def mounts_of(name: str) -> list[tuple[str, str, str]]:
    """``(source, target, mode)`` of a service's volumes (short or long syntax)."""
    mounts = []
    for entry in service(name).get("volumes") or []:
        if isinstance(entry, Mapping):
            mode = "ro" if entry.get("read_only") else "rw"
            mounts.append((str(entry.get("source", "")), str(entry["target"]), mode))
        else:
            parts = entry.split(":")
            mounts.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return mounts


def volume_names() -> dict[str, str]:
    """Compose volume key -> the Docker volume name (its fixed ``name:``)."""
    return {key: (spec or {}).get("name", key) for key, spec in (compose().get("volumes") or {}).items()}


def network_names() -> dict[str, str]:
    return {key: (spec or {}).get("name", key) for key, spec in (compose().get("networks") or {}).items()}


def image_reference(image: str) -> tuple[str, str | None]:
    """``(repository, tag)``; the tag is None when absent. A digest pins too (tag 'sha256:...')."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return repository, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
        return repository, tag
    return image, None


# --------------------------------------------------------------------------- helpers: Dockerfiles


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, f"{path.name} ends inside a continued line"
    return instructions


def exec_form(arguments: str) -> list[str]:
    assert arguments.startswith("["), f"expected the exec (JSON) form, got {arguments!r}"
    return json.loads(arguments)


def option(command: list[str], *names: str) -> str | None:
    for index, token in enumerate(command[:-1]):
        if token in names:
            return command[index + 1]
    return None


def pip_install_commands(path: Path) -> list[str]:
    commands = []
    for keyword, arguments in dockerfile_instructions(path):
        if keyword == "RUN":
            commands += [part.strip() for part in re.split(r"&&|;", arguments) if "pip install" in part]
    return commands


def pinned_dagster_packages(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for command in pip_install_commands(path):
        for token in command.replace('"', " ").replace("'", " ").split():
            if re.match(r"dagster(?:-[a-z0-9-]+)?(?:\[.*\])?(?:[=<>!~]|$)", token, re.I):
                match = re.fullmatch(r"(dagster(?:-[a-z0-9-]+)?)==([0-9][0-9A-Za-z.+-]*)", token, re.I)
                assert match, f"{path.name}: {token!r} is not pinned with =="
                pins[match[1].lower()] = match[2]
    return pins


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@cache
def pyproject_pins() -> dict[str, str]:
    pins = {}
    for requirement in pyproject()["project"]["dependencies"]:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)\s*(?:;.*)?", requirement)
        if match:
            pins[match[1].lower().replace("_", "-")] = match[2]
    return pins


def core_and_library_versions() -> tuple[str, str]:
    pins = pyproject_pins()
    return pins["dagster"], pins["dagster-postgres"]


def workspace_grpc_server() -> dict[str, Any]:
    entries = yaml.safe_load(WORKSPACE_YAML.read_text())["load_from"]
    assert len(entries) == 1 and set(entries[0]) == {"grpc_server"}, entries
    return entries[0]["grpc_server"]


def instance_config() -> dict[str, Any]:
    return yaml.safe_load(INSTANCE_YAML.read_text())


def env_references(node: Any) -> set[str]:
    found = set()
    if isinstance(node, Mapping):
        if set(node) == {"env"}:
            found.add(node["env"])
        for value in node.values():
            found |= env_references(value)
    elif isinstance(node, list):
        for item in node:
            found |= env_references(item)
    return found


# ====================================================================================== compose


def test_compose_defines_the_five_services() -> None:
    assert set(compose()["services"]) == SERVICES


def test_every_service_has_a_healthcheck() -> None:
    for name, spec in compose()["services"].items():
        healthcheck = spec.get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        test = healthcheck.get("test")
        if isinstance(test, str):
            test = ["CMD-SHELL", test]
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: healthcheck test {test!r}"


def test_healthchecks_probe_what_each_service_serves() -> None:
    probes = {name: " ".join(spec["healthcheck"]["test"]) for name, spec in compose()["services"].items()}
    assert "pg_isready" in probes[POSTGRES]
    assert "curl" in probes[OPENSEARCH] and "_cluster/health" in probes[OPENSEARCH]
    assert "grpc-health-check" in probes[USER_CODE]
    assert "/server_info" in probes[WEBSERVER]
    assert "liveness-check" in probes[DAEMON]


def test_services_start_only_once_their_dependencies_are_healthy() -> None:
    expected = {
        USER_CODE: {POSTGRES, OPENSEARCH},
        WEBSERVER: {POSTGRES, USER_CODE},
        DAEMON: {POSTGRES, USER_CODE},
    }
    for name, spec in compose()["services"].items():
        depends_on = spec.get("depends_on") or {}
        assert isinstance(depends_on, Mapping), f"{name}: depends_on must use the long form with conditions"
        for dependency, condition in depends_on.items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            assert condition.get("condition") == "service_healthy", f"{name} -> {dependency}: {condition}"
            assert service(dependency).get("healthcheck"), f"{name} waits for {dependency}, which has no healthcheck"
        assert set(depends_on) >= expected.get(name, set()), f"{name} depends on {set(depends_on)}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    raw = raw_compose()
    for name in raw["services"]:
        for key, value in raw_environment_of(name).items():
            if SECRET_NAME.search(key) or (key.endswith("_URL") and URL_WITH_PASSWORD.search(value)):
                assert PURE_REFERENCE.fullmatch(value), (
                    f"{name}: {key} must be a ${{...}} reference without a literal fallback, not {value!r}"
                )
            if key in ("DATABASE_URL", "DAGSTER_PG_URL"):
                assert PURE_REFERENCE.fullmatch(value), f"{name}: {key}={value!r}"
    for text in strings(raw):
        for match in URL_WITH_PASSWORD.finditer(text):
            assert match["password"].startswith("${"), f"a URL with a literal password in the compose file: {text!r}"


def test_secrets_are_placeholders_in_env_example() -> None:
    for key, value in env_example().items():
        if SECRET_NAME.search(key) and value:
            assert PLACEHOLDER in value, f".env.example: {key} must be a {PLACEHOLDER} placeholder"
        for match in URL_WITH_PASSWORD.finditer(value):
            assert PLACEHOLDER in match["password"], f".env.example: {key} holds a URL with a real-looking password"
    assert not URL_WITH_PASSWORD.search(env_example()["OPENSEARCH_URL"]), "OpenSearch credentials go in USER/PASSWORD"


def test_only_the_webserver_publishes_a_port_and_only_on_loopback() -> None:
    for name, spec in compose()["services"].items():
        assert spec.get("network_mode") != "host", f"{name} uses the host network"
        ports = spec.get("ports") or []
        if name != WEBSERVER:
            assert not ports, f"{name} publishes {ports}"
            continue
        assert ports, "the webserver publishes no port"
        for entry in ports:
            if isinstance(entry, Mapping):
                host_ip, target = entry.get("host_ip"), int(entry["target"])
            else:
                parts = str(entry).split(":")
                assert len(parts) == 3, f"{name}: {entry!r} does not name the host address"
                host_ip, target = parts[0], int(parts[2].split("/")[0])
            assert host_ip == "127.0.0.1", f"{name}: {entry!r} is not bound to 127.0.0.1"
            assert target == 3000


def test_databases_and_search_are_on_the_internal_network_only() -> None:
    networks = compose()["networks"]
    internal = [key for key, spec in networks.items() if (spec or {}).get("internal")]
    assert internal, "no internal network"
    for name in (POSTGRES, OPENSEARCH):
        attached = service(name).get("networks") or ["default"]
        assert set(attached) <= set(internal), f"{name} is attached to {attached}"
    assert service(OPENSEARCH)["environment"]["DISABLE_SECURITY_PLUGIN"] == "true"


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set().union(*(variables_in(text) for text in strings(raw_compose())))
    documented = set(env_example())
    assert used - documented == set(), f"used in docker-compose.yml, missing from .env.example: {used - documented}"
    assert documented - used == set(), f"in .env.example but never used: {documented - used}"


def test_env_example_satisfies_every_required_variable() -> None:
    try:
        resolve(raw_compose(), env_example())
    except MissingVariable as error:  # pragma: no cover - the assertion message is the point
        pytest.fail(f".env.example leaves a required variable empty: {error}")
    with pytest.raises(MissingVariable):
        resolve(raw_compose(), {key: value for key, value in env_example().items() if key != "DATABASE_URL"})


def test_images_are_pinned() -> None:
    for name, spec in compose()["services"].items():
        assert spec.get("image"), f"{name} has no image name"
        repository, tag = image_reference(spec["image"])
        assert tag and tag != "latest", f"{name}: image {spec['image']!r} is not pinned"
        if "build" not in spec:
            assert re.search(r"\d", tag), f"{name}: {spec['image']!r} has no version in its tag"
    for path in (USER_CODE_DOCKERFILE, DAGSTER_DOCKERFILE):
        bases = [arguments.split()[0] for keyword, arguments in dockerfile_instructions(path) if keyword == "FROM"]
        assert bases, f"{path.name} has no FROM"
        for base in bases:
            assert re.fullmatch(r"python:3\.11\.\d+-slim(?:-[a-z]+)?", base), f"{path.name}: FROM {base}"


def test_bundled_services_run_the_versions_the_tests_use() -> None:
    from restructure_pipeline.services.opensearch import OPENSEARCH_VERSION

    assert image_reference(service(OPENSEARCH)["image"]) == ("opensearchproject/opensearch", OPENSEARCH_VERSION)
    repository, tag = image_reference(service(POSTGRES)["image"])
    assert repository == "postgres" and int(tag.split(".")[0]) in (16, 17), service(POSTGRES)["image"]


def test_the_user_code_image_is_the_run_image() -> None:
    image = service(USER_CODE)["image"]
    assert environment_of(USER_CODE)["DAGSTER_CURRENT_IMAGE"] == image
    assert service(USER_CODE)["build"]["dockerfile"] == "docker/Dockerfile"
    for name in (WEBSERVER, DAEMON):
        assert service(name)["build"]["dockerfile"] == "docker/Dockerfile.dagster"
    assert service(WEBSERVER)["image"] == service(DAEMON)["image"]


def test_builds_use_the_repository_root_as_context() -> None:
    for name in DAGSTER_SERVICES:
        context = (COMPOSE_FILE.parent / service(name)["build"]["context"]).resolve()
        assert context == ROOT, f"{name} builds from {context}"
        assert (context / service(name)["build"]["dockerfile"]).is_file()


def test_drops_are_mounted_read_only_where_the_pipeline_looks() -> None:
    drop_dir = environment_of(USER_CODE)["RESTRUCTURE_DROP_DIR"]
    state_dir = environment_of(USER_CODE)["RESTRUCTURE_STATE_DIR"]
    mounts = {target: (source, mode) for source, target, mode in mounts_of(USER_CODE)}
    assert mounts[drop_dir] == ("drops", "ro"), mounts
    assert mounts[state_dir][0] == "state"
    drops = compose()["volumes"]["drops"]
    assert drops["driver_opts"]["device"] == env_example()["RESTRUCTURE_DROP_HOST_DIR"]
    assert "RESTRUCTURE_DROP_HOST_DIR" in raw_compose()["volumes"]["drops"]["driver_opts"]["device"]


def test_only_the_webserver_and_daemon_reach_the_docker_engine() -> None:
    for name, spec in compose()["services"].items():
        targets = [target for _, target, _ in mounts_of(name)]
        if name in (WEBSERVER, DAEMON):
            assert DOCKER_SOCKET in targets, f"{name} cannot reach the Docker engine"
            assert spec.get("group_add"), f"{name} (non-root) needs the socket's group"
        else:
            assert DOCKER_SOCKET not in targets, f"{name} must not get the Docker socket"


# ================================================================================= Dockerfiles


@pytest.mark.parametrize("path", [USER_CODE_DOCKERFILE, DAGSTER_DOCKERFILE], ids=lambda path: path.name)
def test_dockerfiles_run_as_non_root_with_a_healthcheck(path: Path) -> None:
    instructions = dockerfile_instructions(path)
    keywords = [keyword for keyword, _ in instructions]
    assert "USER" in keywords, f"{path.name} has no USER"
    last_user_index = len(keywords) - 1 - keywords[::-1].index("USER")
    user = instructions[last_user_index][1].split(":")[0]
    assert user not in ("root", "0", ""), f"{path.name} runs as {user!r}"
    assert "RUN" not in keywords[last_user_index:], f"{path.name}: RUN after the final USER"
    healthchecks = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "CMD" in healthchecks[0].split(), f"{path.name}: {healthchecks}"
    assert not any(keyword == "ENTRYPOINT" for keyword in keywords), "the run launcher replaces CMD only"
    for command in pip_install_commands(path):
        assert "--no-cache-dir" in command, f"{path.name}: {command!r}"


def test_dagster_versions_in_the_images_equal_the_pyproject_pins() -> None:
    core, library = core_and_library_versions()
    major, minor, _ = core.split(".")
    assert library.split(".")[:2] == ["0", str(int(minor) + 16)] and major == "1", (core, library)
    pins = pyproject_pins()
    assert pins["dagster-webserver"] == core

    host_pins = pinned_dagster_packages(DAGSTER_DOCKERFILE)
    assert {"dagster", "dagster-webserver", "dagster-postgres", "dagster-docker"} <= set(host_pins), host_pins
    for package, version in host_pins.items():
        if package in pins:
            assert version == pins[package], f"Dockerfile.dagster: {package}=={version}, pyproject: {pins[package]}"
        expected = core if version.startswith("1.") else library
        assert version == expected, f"Dockerfile.dagster: {package}=={version} (core {core}, libraries {library})"

    code_pins = pinned_dagster_packages(USER_CODE_DOCKERFILE)
    assert code_pins == {"dagster-docker": library}, code_pins
    code_installs = pip_install_commands(USER_CODE_DOCKERFILE)
    installs_project = [re.search(r"pip install\b.*\s\.(\s|$)", command) for command in code_installs]
    assert any(installs_project), "docker/Dockerfile must pip install the project (pyproject.toml)"

    # The webserver/daemon image tag names the Dagster version it holds.
    assert image_reference(service(WEBSERVER)["image"])[1] == core


def test_user_code_image_serves_the_code_location() -> None:
    instructions = dockerfile_instructions(USER_CODE_DOCKERFILE)
    command = exec_form([arguments for keyword, arguments in instructions if keyword == "CMD"][-1])
    assert command[:3] == ["dagster", "code-server", "start"] or command[:3] == ["dagster", "api", "grpc"], command
    assert option(command, "-m", "--module-name") == pyproject()["tool"]["dagster"]["module_name"]
    assert option(command, "-h", "--host") == "0.0.0.0"
    port = option(command, "-p", "--port")
    assert port == str(workspace_grpc_server()["port"])
    exposed = [arguments for keyword, arguments in instructions if keyword == "EXPOSE"]
    assert port in " ".join(exposed).split()
    healthcheck = [arguments for keyword, arguments in instructions if keyword == "HEALTHCHECK"][0]
    assert "grpc-health-check" in healthcheck and f"-p {port}" in healthcheck


def test_user_code_image_installs_the_project_in_cacheable_layers() -> None:
    instructions = dockerfile_instructions(USER_CODE_DOCKERFILE)
    copies = [(index, arguments) for index, (keyword, arguments) in enumerate(instructions) if keyword == "COPY"]
    pyproject_copy = next(index for index, arguments in copies if "pyproject.toml" in arguments.split())
    package_copy = next(index for index, arguments in copies if arguments.split()[0] == "restructure_pipeline")
    dependencies = next(
        index
        for index, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and "pip install" in arguments
    )
    assert pyproject_copy < dependencies < package_copy, "dependencies must be installed before the package is copied"


def test_user_code_image_has_pg_dump() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions(USER_CODE_DOCKERFILE) if keyword == "RUN"]
    apt = [run for run in runs if "apt-get install" in run]
    assert apt and "postgresql-client" in apt[0].split() and "--no-install-recommends" in apt[0]
    assert "rm -rf /var/lib/apt/lists/*" in apt[0]


def test_dagster_image_carries_the_instance_and_workspace() -> None:
    instructions = dockerfile_instructions(DAGSTER_DOCKERFILE)
    home = next(
        match[1]
        for keyword, arguments in instructions
        if keyword == "ENV" and (match := re.search(r"(?:^|\s)DAGSTER_HOME=(\S+)", arguments))
    )
    copies = [arguments.split() for keyword, arguments in instructions if keyword == "COPY"]
    assert any(
        {"docker/dagster.yaml", "docker/workspace.yaml"} <= set(parts) and parts[-1].rstrip("/") == home.rstrip("/")
        for parts in copies
    ), copies
    for name in (WEBSERVER, DAEMON):
        workspace = option(service(name)["command"], "-w", "--workspace")
        assert workspace == f"{home.rstrip('/')}/workspace.yaml", f"{name}: -w {workspace}"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context() -> None:
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", ".state", "**/node_modules", "**/.env", "**/__pycache__", ".pytest_cache"):
        assert required in patterns, f".dockerignore lacks {required}"
    for needed in ("pyproject.toml", "README.md", "restructure_pipeline", "docker", "docker/dagster.yaml"):
        assert needed not in patterns and f"/{needed}" not in patterns, f".dockerignore excludes {needed}"


# ============================================================================ workspace, instance


def test_workspace_points_at_the_user_code_service() -> None:
    server = workspace_grpc_server()
    assert server["host"] == USER_CODE
    assert server["location_name"] == pyproject()["tool"]["dagster"]["code_location_name"]
    port = str(server["port"])
    assert port in [str(item) for item in service(USER_CODE).get("expose", [])]
    assert ["-p", port] == service(USER_CODE)["healthcheck"]["test"][-2:]
    # The webserver and the daemon share a network with the code server.
    for name in (WEBSERVER, DAEMON):
        assert set(service(name)["networks"]) & set(service(USER_CODE)["networks"])


def test_instance_config_passes_dagsters_own_schema(tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    shutil.copyfile(INSTANCE_YAML, tmp_path / "dagster.yaml")
    validated, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert set(validated["storage"]) == {"postgres"}


@pytest.mark.parametrize("section", ["run_coordinator", "run_launcher", "local_artifact_storage", "compute_logs"])
def test_each_configurable_class_accepts_its_config(section: str) -> None:
    from dagster._config import validate_config
    from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer

    entry = instance_config()[section]
    config = entry.get("config") or {}
    # ConfigurableClassData maps the documented dagster.core.* paths the way the instance does.
    data = ConfigurableClassData(entry["module"], entry["class"], yaml.safe_dump(config))
    if data.module_name == "dagster_docker":
        try:
            import dagster_docker  # noqa: F401
        except ImportError:
            # dagster-docker is in the images, not in the project's environment: check the
            # keys against DockerRunLauncher's schema (dagster-docker 0.29.x) instead.
            assert set(config) <= {"image", "network", "networks", "env_vars", "container_kwargs", "registry"}
            assert not set(config.get("container_kwargs", {})) & {"image", "environment", "network"}
            assert not ("network" in config and "networks" in config)
            assert all(isinstance(name, str) and "=" not in name for name in config.get("env_vars", []))
            return
    klass = class_from_code_pointer(data.module_name, data.class_name)
    result = validate_config(klass.config_type(), config)
    assert result.success, [error.message for error in result.errors or []]


def test_instance_storage_reads_every_credential_from_the_environment() -> None:
    database = instance_config()["storage"]["postgres"]["postgres_db"]
    for field in ("hostname", "username", "password", "db_name"):
        assert set(database[field]) == {"env"}, f"storage.postgres.postgres_db.{field} must be {{env: ...}}"
    # Every Dagster service loads the instance: each one must set every variable it references.
    for name in DAGSTER_SERVICES:
        missing = env_references(instance_config()) - set(environment_of(name))
        assert not missing, f"{name} lacks {missing}"


def test_writer_runs_are_limited_to_one_at_a_time() -> None:
    from restructure_pipeline.automation.partitions import WRITER_TAG

    coordinator = instance_config()["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    writer = [limit for limit in limits if limit["key"] == WRITER_TAG]
    # No value: the limit counts every run carrying the key, whatever its value.
    assert writer == [{"key": WRITER_TAG, "limit": 1}], limits
    assert instance_config()["telemetry"] == {"enabled": False}


def test_run_containers_see_what_the_code_server_sees() -> None:
    launcher = instance_config()["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]

    # Environment: the same variables as the code server; the daemon must hold them all, or the
    # launch fails (DockerRunLauncher reads each one from the daemon's environment).
    code_env = set(environment_of(USER_CODE)) - {"DAGSTER_CURRENT_IMAGE"}
    assert set(config["env_vars"]) == code_env
    assert set(config["env_vars"]) <= set(environment_of(DAEMON))

    # Networks: by their fixed Docker names, the ones the code server is attached to.
    names = network_names()
    assert set(config["networks"]) == {names[key] for key in service(USER_CODE)["networks"]}
    for key in service(USER_CODE)["networks"]:
        assert compose()["networks"][key].get("name") == names[key], f"network {key} needs a fixed name"

    # Volumes: by their fixed Docker names, at the same paths and modes as in the code server.
    volumes = volume_names()
    expected = {(volumes[source], target, mode) for source, target, mode in mounts_of(USER_CODE)}
    launched = set()
    for entry in config["container_kwargs"]["volumes"]:
        parts = entry.split(":")
        launched.add((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    assert launched == expected
    for source, _, _ in mounts_of(USER_CODE):
        assert compose()["volumes"][source].get("name"), f"volume {source} needs a fixed name"

    # Step logs written by run containers are readable by the webserver.
    compute_logs = instance_config()["compute_logs"]["config"]["base_dir"]
    storage_mounts = {target for _, target, _ in mounts_of(WEBSERVER)}
    assert any(compute_logs.startswith(target.rstrip("/") + "/") for target in storage_mounts), compute_logs
