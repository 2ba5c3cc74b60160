"""Offline checks of the deployment files: the Dockerfiles, docker-compose.yml and k8s/.

Nothing here needs a network, a Docker engine or a cluster. It needs:

- a kustomize renderer: `kustomize` or `kubectl` (which embeds it) on PATH, or the path of
  either in $KUSTOMIZE. GitHub's Ubuntu runners ship both. A missing renderer fails the
  test run (it is not skipped); k8s/README.md says how to get one.
- the dev dependency group: kubernetes-validate (bundles the Kubernetes JSON schemas),
  check-jsonschema (bundles the Compose specification schema), dockerfile-parse, and docker
  (for its implementation of .dockerignore rules).

Every environment variable the files set is checked against the services' own `Settings`
classes: the services ignore unknown variables, so a misspelt one would otherwise pass.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
# The three minor versions upstream supports at the time of writing.
KUBERNETES_VERSIONS = ("1.35.0", "1.36.0", "1.37.0")
SECRET_NAME = "cadenza-secrets"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    port_var: str
    host_var: str

    @property
    def package(self) -> str:
        return f"cadenza-{self.name}"

    @property
    def module(self) -> str:
        return f"cadenza.{self.name}"

    @property
    def dockerfile(self) -> Path:
        return ROOT / "services" / self.name / "Dockerfile"


SERVICES = {
    s.name: s
    for s in (
        Service("gateway", port=8000, port_var="PORT", host_var="HOST"),
        Service("effects", port=8011, port_var="HTTP_PORT", host_var="HTTP_HOST"),
    )
}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must work offline: any connection attempt in this process is an error."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during an offline test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@cache
def settings_of(service: str) -> dict[str, bool]:
    """The variables a service reads (pydantic-settings: field name, upper case) -> required."""
    module = importlib.import_module(f"{SERVICES[service].module}.settings")
    fields = module.Settings.model_fields
    return {name.upper(): field.is_required() for name, field in fields.items()}


def required(service: str) -> set[str]:
    return {name for name, is_required in settings_of(service).items() if is_required}


# --------------------------------------------------------------------------- Kubernetes


def kustomize_command() -> list[str]:
    explicit = os.environ.get("KUSTOMIZE")
    if explicit:
        return [explicit, "kustomize"] if Path(explicit).name == "kubectl" else [explicit, "build"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    pytest.fail(
        "no kustomize renderer: install kustomize or kubectl (k8s/README.md), "
        "or set KUSTOMIZE to the path of one"
    )


@cache
def render(path: str) -> tuple[Manifest, ...]:
    done = subprocess.run(
        [*kustomize_command(), str(K8S / path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"kustomize could not render k8s/{path}:\n{done.stderr}"
    objects = tuple(d for d in yaml.safe_load_all(done.stdout) if d)
    assert objects, f"k8s/{path} rendered nothing"
    return objects


def find(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    hits = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}"
    return hits[0]


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per service pod"
    result: Manifest = containers[0]
    return result


def container_env(objects: tuple[Manifest, ...], deployment: Manifest) -> dict[str, Any]:
    """The variables a container gets: ConfigMap values, or the `valueFrom` of `env` entries."""
    c = container(deployment)
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        assert set(source) == {"configMapRef"}, f"only ConfigMaps come in through envFrom: {source}"
        env.update(find(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in c.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


def is_pinned(image: str) -> bool:
    """A digest, or a tag that names a release (a version number, MinIO's RELEASE.<date>)."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(re.match(r"v?\d+\.\d+|RELEASE\.\d{4}-", tag))


_SCALE = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30}


def quantity(value: str | int) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?", str(value))
    assert match, f"not a Kubernetes quantity (or an unusual suffix): {value!r}"
    return float(match[1]) * _SCALE.get(match[2] or "", 1.0)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_object_and_no_secret(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    for name in SERVICES:
        for kind in (
            "ServiceAccount",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
        ):
            find(objects, kind, name)
    assert not [o for o in objects if o["kind"] == "Secret"], "secrets are never committed"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_matches_the_kubernetes_schema(overlay: str, version: str) -> None:
    errors = []
    for o in render(f"overlays/{overlay}"):
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {e.message} at {list(e.path)}")
    assert not errors, "\n".join(errors)


def test_schema_validation_catches_mistakes() -> None:
    deployment = copy.deepcopy(find(render("overlays/prod"), "Deployment", "gateway"))
    container(deployment)["livenesProbe"] = container(deployment).pop("livenessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(find(render("overlays/prod"), "Deployment", "gateway"))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "thirty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_base_is_namespace_agnostic() -> None:
    placed = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in render("base")
        if "namespace" in o["metadata"]
    ]
    assert not placed, f"the overlays choose the namespace: {placed}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_hardened(overlay: str, service: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    # The container's securityContext overrides the pod's, field by field.
    effective = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
    assert effective.get("runAsNonRoot") is True
    assert effective.get("runAsUser", 0) != 0
    assert effective.get("readOnlyRootFilesystem") is True
    assert effective.get("allowPrivilegeEscalation") is False
    assert effective.get("privileged", False) is False
    assert effective.get("capabilities", {}).get("drop") == ["ALL"]
    assert not effective.get("capabilities", {}).get("add")
    assert effective.get("seccompProfile") == {"type": "RuntimeDefault"}

    # /tmp is the only writable place, and it is a bounded emptyDir.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
    assert "sizeLimit" in volumes[mounts["/tmp"]].get("emptyDir", {})

    account = find(objects, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False

    # dev runs locally built `:dev` images; prod must name a release (checked below).
    tag = c["image"].rsplit("/", 1)[-1].partition(":")[2]
    assert tag, f"{c['image']}: no tag"
    assert tag != "latest", f"{c['image']}: name the version"

    resources_ = c["resources"]
    for resource in ("cpu", "memory"):
        request = quantity(resources_["requests"][resource])
        limit = quantity(resources_["limits"][resource])
        assert 0 < request <= limit, f"{resource}: request {request} and limit {limit}"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_the_health_endpoints_on_the_served_port(overlay: str, service: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", service)
    c = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expected = {
        "livenessProbe": "/health",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health",
    }
    for probe, path in expected.items():
        get = c[probe]["httpGet"]
        assert get["path"] == path, f"{probe} asks {get['path']}"
        port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        assert port == SERVICES[service].port, f"{probe} asks port {port}"
    env = container_env(objects, deployment)
    assert env[SERVICES[service].port_var] == str(SERVICES[service].port)
    assert env[SERVICES[service].host_var] == "0.0.0.0"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_environment_is_what_the_service_reads(overlay: str, service: str) -> None:
    objects = render(f"overlays/{overlay}")
    env = container_env(objects, find(objects, "Deployment", service))
    unknown = set(env) - set(settings_of(service))
    assert not unknown, f"{service} has no setting for {sorted(unknown)}"
    missing = required(service) - set(env)
    assert not missing, f"{service} requires {sorted(missing)}"
    assert env["STORAGE_BACKEND"] == "s3", "pods share artifacts through S3, not a local dir"

    readme = (K8S / "README.md").read_text(encoding="utf-8")
    for name, value in env.items():
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            assert ref["name"] == SECRET_NAME
            assert f"`{ref['key']}`" in readme, f"k8s/README.md does not document {ref['key']}"
        else:
            assert isinstance(value, str), f"{name}: {value!r}"
            assert not re.search(r"PASSWORD|SECRET|DATABASE_URL", name), f"{name} is a secret"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_budget_and_autoscaler_target_the_deployment(overlay: str, service: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", service)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"

    svc = find(objects, "Service", service)
    assert svc["spec"]["selector"] == selector
    port_names = {p["name"] for p in container(deployment)["ports"]}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names

    pdb = find(objects, "PodDisruptionBudget", service)
    assert pdb["spec"]["selector"]["matchLabels"] == selector

    hpa = find(objects, "HorizontalPodAutoscaler", service)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": service,
    }
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    # CPU utilisation is measured against the request, so there has to be one.
    assert "cpu" in container(deployment)["resources"]["requests"]


def test_prod_runs_more_and_larger_pods_on_replicated_streams() -> None:
    dev, prod = render("overlays/dev"), render("overlays/prod")
    for service in SERVICES:
        dev_env = container_env(dev, find(dev, "Deployment", service))
        prod_env = container_env(prod, find(prod, "Deployment", service))
        assert dev_env["NATS_STREAM_REPLICAS"] == "1"
        assert prod_env["NATS_STREAM_REPLICAS"] == "3"
        dev_hpa = find(dev, "HorizontalPodAutoscaler", service)["spec"]
        prod_hpa = find(prod, "HorizontalPodAutoscaler", service)["spec"]
        assert prod_hpa["minReplicas"] > dev_hpa["minReplicas"]
        assert prod_hpa["maxReplicas"] > dev_hpa["maxReplicas"]
        dev_limits = container(find(dev, "Deployment", service))["resources"]["limits"]
        prod_limits = container(find(prod, "Deployment", service))["resources"]["limits"]
        for resource in ("cpu", "memory"):
            assert quantity(prod_limits[resource]) > quantity(dev_limits[resource])
        image = container(find(prod, "Deployment", service))["image"]
        assert is_pinned(image), f"prod runs {image}: a release tag or a digest"
    assert find(prod, "HorizontalPodAutoscaler", "gateway")["spec"]["minReplicas"] >= 3


# --------------------------------------------------------------------------- Compose

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
def compose_raw() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


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
    for text in strings(compose_raw()):
        for m in _VARIABLE.finditer(text):
            if m["escaped"]:
                continue
            name = m["braced"] or m["named"]
            default = m["arg"] if m["op"] in (":-", "-") else None
            used.setdefault(name, set()).add(default)
    assert set(used) == set(example), (
        f"only in docker-compose.yml: {sorted(set(used) - set(example))}; "
        f"only in .env.example: {sorted(set(example) - set(used))}"
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


def test_compose_wires_the_services_together() -> None:
    services = compose()["services"]
    assert {"nats", "postgres", "minio", "minio-init", "gateway", "effects"} <= set(services)
    volumes = set(compose()["volumes"])

    nats = services["nats"]
    assert "-js" in nats["command"]
    store = nats["command"][nats["command"].index("-sd") + 1]
    mounted = {target: source for source, target, *_ in (v.split(":") for v in nats["volumes"])}
    assert mounted.get(store) in volumes, "JetStream files live on a named volume"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert any(v.split(":")[0] in volumes for v in services["postgres"]["volumes"])

    for name, svc in services.items():
        if "build" not in svc:
            assert is_pinned(svc["image"]), f"{name}: pin the image ({svc['image']})"
        if name not in ("minio-init",):
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"

    gateway, effects = services["gateway"], services["effects"]
    assert gateway["ports"] == ["8000:8000"]
    for dependency in ("nats", "postgres"):
        assert gateway["depends_on"][dependency]["condition"] == "service_healthy"
    assert effects["depends_on"]["nats"]["condition"] == "service_healthy"
    minio = services["minio"]["environment"]
    for svc in (gateway, effects):
        env = svc["environment"]
        assert svc["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
        assert env["STORAGE_BACKEND"] == "s3"
        assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["S3_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
        assert env["S3_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
        assert env["NATS_URL"] == "nats://nats:4222"
    assert gateway["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in gateway["environment"]["DATABASE_URL"]


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
    assert str(spec.port) in " ".join(svc["healthcheck"]["test"])


# --------------------------------------------------------------------------- Dockerfiles


@cache
def parsed(service: str) -> Any:
    return DockerfileParser(fileobj=io.BytesIO(SERVICES[service].dockerfile.read_bytes()))


def dockerfile(service: str) -> list[tuple[str, str]]:
    """(instruction, value) pairs, continuation lines joined, comments dropped."""
    structure = parsed(service).structure
    return [(i["instruction"], i["value"]) for i in structure if i["instruction"] != "COMMENT"]


def stages(service: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, value in dockerfile(service):
        if instruction == "FROM":
            result.append([])
        assert result, "the Dockerfile starts with FROM"
        result[-1].append((instruction, value))
    return result


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_base_images_are_pinned(service: str) -> None:
    aliases: set[str] = set()
    bases = []
    for stage in stages(service):
        words = stage[0][1].split()
        image = next(w for w in words if not w.startswith("--"))
        if len(words) >= 3 and words[-2].lower() == "as":
            aliases.add(words[-1])
        if image in aliases:
            continue
        bases.append(image)
        digest = re.search(r"@sha256:[0-9a-f]{64}$", image)
        tag = image.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
        assert digest or re.match(r"\d+\.\d+\.\d+", tag), f"{image}: pin a full version"
    # The venv is copied between stages: its interpreter must be the same one.
    assert len(set(bases)) == 1, f"builder and runtime differ: {bases}"
    assert len(stages(service)) >= 2, "multi-stage: build tools stay out of the runtime"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_from_the_lock_file_with_uv(service: str) -> None:
    runs = [v for i, v in stages(service)[0] if i == "RUN"]
    assert any(re.search(r"\buv==\d+\.\d+\.\d+", r) for r in runs), "pin the uv version"
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs
    for run in syncs:
        assert "--frozen" in run or "--locked" in run
        assert "--no-dev" in run
        assert f"--package {SERVICES[service].package}" in run
    package = (ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8")
    assert f'name = "{SERVICES[service].package}"' in package


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_runtime_is_non_root_with_a_healthcheck(service: str) -> None:
    spec = SERVICES[service]
    final = stages(service)[-1]
    instructions = dict(final)  # the last of each kind wins, as in Docker
    user = instructions["USER"].split(":")[0]
    assert user.isdigit(), "a numeric USER, so that Kubernetes' runAsNonRoot can check it"
    assert int(user) != 0, "USER must not be root"
    assert instructions["EXPOSE"].split("/")[0] == str(spec.port)

    healthcheck = instructions["HEALTHCHECK"]
    assert "CMD" in healthcheck
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"], "no curl in a slim image: Python's urllib"
    assert "/health" in command[2]
    assert spec.port_var in command[2]
    compile(command[2], "HEALTHCHECK", "exec")

    assert json.loads(instructions["CMD"]) == ["python", "-m", spec.module]
    main = ROOT / "services" / service / "src" / Path(*spec.module.split(".")) / "__main__.py"
    assert main.is_file()
    env = parsed(service).envs  # the final stage's
    assert env[spec.host_var] == "0.0.0.0"
    assert env[spec.port_var] == str(spec.port)


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("service", SERVICES)
def test_every_copy_source_is_in_the_build_context(service: str) -> None:
    context = set(
        exclude_paths(
            str(ROOT),
            dockerignore_patterns(),
            dockerfile=str(SERVICES[service].dockerfile.relative_to(ROOT)),
        )
    )
    for instruction, value in dockerfile(service):
        if instruction not in ("COPY", "ADD") or "--from=" in value:
            continue
        *sources, _dest = (word for word in value.split() if not word.startswith("--"))
        for source in sources:
            assert source in context, f"COPY {source}: not in the build context"


def test_dockerignore_keeps_secrets_and_local_state_out(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": True,
        "uv.lock": True,
        "libs/runtime/pyproject.toml": True,
        "libs/runtime/src/cadenza/runtime/bus.py": True,
        "services/gateway/src/cadenza/gateway/app.py": True,
        ".env": False,
        "services/gateway/.env": False,
        ".git/config": False,
        ".venv/bin/python": False,
        "var/artifacts/a.wav": False,
        "k8s/base/gateway.yaml": False,
        "libs/runtime/tests/test_bus.py": False,
        "libs/runtime/src/cadenza/runtime/__pycache__/bus.cpython-311.pyc": False,
    }
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    sent = set(exclude_paths(str(tmp_path), dockerignore_patterns()))
    assert not {name for name, wanted in files.items() if wanted and name not in sent}
    assert not {name for name, wanted in files.items() if not wanted and name in sent}
