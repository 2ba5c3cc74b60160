"""Offline checks of the services' Dockerfiles and .dockerignore.

It needs dockerfile-parse and docker (for its implementation of .dockerignore rules) from the
dev dependency group.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

from .deploy_helpers import ROOT, SERVICES, locked_version, settings_of


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


PYTORCH_INDEX = "https://download.pytorch.org/whl/"
# What each torch-carrying image gets by default: separation and composition the CPU build,
# render no torch.
DEFAULT_VARIANT = {"separation": "cpu", "composition": "cpu", "render": ""}


def builder_commands(service: str, variant: str, tmp_path: Path) -> list[list[str]]:
    """The uv and python commands the builder stage's RUN lines would run with
    `--build-arg TORCH_VARIANT=variant`: each RUN goes through /bin/sh with stand-ins for
    uv and the venv's python that only write down their arguments."""
    log = tmp_path / f"{service}-{variant or 'none'}.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("uv", "python"):
        fake = bin_dir / name
        fake.write_text(
            f'#!/bin/sh\nprintf "%s\\0" {name} "$@" >> "$LOG"\nprintf "\\n" >> "$LOG"\n'
        )
        fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(log), "TORCH_VARIANT": variant}
    for instruction, value in stages(service)[0]:
        if instruction != "RUN" or "uv==" in value or value.startswith("mkdir"):
            continue
        script = re.sub(r"^(--mount=\S+\s+)+", "", value)
        script = script.replace("/opt/venv/bin/python -c", f"{bin_dir}/python -c")
        subprocess.run(["/bin/sh", "-ec", script], env=env, check=True)
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.rstrip("\0").split("\0") for line in lines]


@pytest.mark.parametrize(
    ("service", "variant"),
    [
        ("separation", "cpu"),
        ("separation", "cu128"),
        ("composition", "cpu"),
        ("render", ""),
        ("render", "cu130"),
    ],
)
def test_torch_comes_from_pytorchs_index_in_the_variant_asked_for(
    service: str, variant: str, tmp_path: Path
) -> None:
    """uv.lock's torch is the CPU build from a folder a Docker build does not have, and PyPI's
    torch is a CUDA build: the images install torch from PyTorch's index, in the build that
    TORCH_VARIANT names (separation: cpu by default; render: none by default, a CUDA build for
    its CUDA image), pinned to the locked version, and the syncs never install the lock's."""
    locked = locked_version("torch")
    assert locked.endswith("+cpu"), f"uv.lock has torch {locked}, not the CPU build"
    for stage in stages(service):  # declared in both stages, with the same default
        declared = [v for i, v in stage if i == "ARG" and v.startswith("TORCH_VARIANT")]
        assert declared == [f"TORCH_VARIANT={DEFAULT_VARIANT[service]}"], declared

    commands = builder_commands(service, variant, tmp_path)
    installs = [c for c in commands if c[:3] == ["uv", "pip", "install"]]
    syncs = [c for c in commands if c[:2] == ["uv", "sync"]]
    assert syncs and all("--frozen" in c and "--no-dev" in c for c in syncs)
    if not variant:
        assert installs == [], "the CPU render image carries no torch"
        assert not any("--extra" in c for c in syncs)
        return
    assert len(installs) == 1, "torch is installed once, by itself"
    install = installs[0]
    assert install[install.index("--python") + 1] == "/opt/venv/bin/python"
    assert install[install.index("--index-url") + 1] == PYTORCH_INDEX + variant
    assert "--extra-index-url" not in install, "no fallback to PyPI's torch"
    assert install[-1] == f"torch=={locked.split('+')[0]}+{variant}"
    # A CPU build needs nothing else from that index; a CUDA build needs its nvidia-* libraries.
    assert ("--no-deps" in install) == (variant == "cpu")
    first_install = commands.index(install)
    for sync in syncs:
        # Every sync whose packages include torch (separation's, render's with the extra)
        # leaves the lock's torch out.
        if service != "render" or "--extra" in sync:
            flags = list(itertools.pairwise(sync))
            assert ("--no-install-package", "torch") in flags, sync
        if commands.index(sync) > first_install:
            assert "--inexact" in sync, f"this sync would uninstall torch: {sync}"
    if service == "render":
        assert "--extra" in syncs[0] and syncs[0][syncs[0].index("--extra") + 1] == "gpu"
    else:
        checks = [c for c in commands if c[:2] == ["python", "-c"]]
        assert checks and checks[-1][-1] == variant, "the build checks the CUDA-ness of torch"

    # uv refuses to start when pyproject.toml names a find-links folder that is missing.
    runs = [v for i, v in stages(service)[0] if i == "RUN"]
    tool_uv = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    for folder in tool_uv.get("find-links", []):
        if folder.startswith("/"):
            made = [
                i for i, r in enumerate(runs) if re.search(rf"mkdir -p {re.escape(folder)}\b", r)
            ]
            first_sync = next(i for i, r in enumerate(runs) if "uv sync" in r)
            assert made and made[0] < first_sync, f"create {folder} (empty) before uv sync"


@pytest.mark.parametrize("service", DEFAULT_VARIANT)
def test_cuda_comes_only_through_the_build_argument(service: str) -> None:
    """One Dockerfile makes both images: no CUDA base image, index or package is named
    outright, and the render image's `gpu` extra pins the same torch as separation."""
    text = " ".join(value for _, value in dockerfile(service))
    assert not re.search(r"/whl/cu\d|nvidia|\+cu\d", text)
    for stage in stages(service):
        assert "cuda" not in stage[0][1].lower(), f"the slim base, not {stage[0][1]}"
    render = tomllib.loads((ROOT / "services/render/pyproject.toml").read_text(encoding="utf-8"))
    separation = tomllib.loads(
        (ROOT / "services/separation/pyproject.toml").read_text(encoding="utf-8")
    )
    pins = [d for d in separation["project"]["dependencies"] if d.startswith("torch")]
    assert render["project"]["optional-dependencies"]["gpu"] == pins


def test_separation_image_reads_models_from_the_volume_only() -> None:
    instructions = dict(stages("separation")[-1])
    env = parsed("separation").envs
    assert json.loads(instructions["VOLUME"]) == [env["MODEL_DIR"]]
    assert env["DEVICE"] == "auto", "the GPU in the CUDA image, the CPU otherwise"
    assert env["USE_TORCH_HUB_CACHE"] == "false"
    assert env["TORCH_HOME"].startswith("/tmp/"), "writable with a read-only root filesystem"
    assert env["TORCH_THREADS"] == "0", "from the container's CPU quota"
    settings = settings_of("separation")
    for name in ("MODEL_DIR", "DEVICE", "USE_TORCH_HUB_CACHE", "TORCH_THREADS"):
        assert name in settings, f"separation has no setting {name}"


def test_catalog_image_warms_the_numba_cache_at_build_time() -> None:
    """librosa compiles its numba functions on first use (about 30 s); the image does it once,
    at build time, as the runtime user, into a NUMBA_CACHE_DIR that stays in the image."""
    final = stages("catalog")[-1]
    env = parsed("catalog").envs
    cache_dir = env["NUMBA_CACHE_DIR"]
    assert cache_dir.startswith("/"), cache_dir
    # Kubernetes mounts an emptyDir over /tmp, which would hide a cache built there.
    assert not cache_dir.startswith("/tmp"), f"{cache_dir}: outside /tmp"
    # numba keys its cache by processor: a cache for the build machine's would be recompiled
    # on every node that differs from it.
    assert env["NUMBA_CPU_NAME"] == "generic"

    def index(predicate: Any) -> int:
        hits = [i for i, (instruction, value) in enumerate(final) if predicate(instruction, value)]
        assert hits, "missing from the final stage"
        return hits[-1]

    warmups = [
        i
        for i, (ins, value) in enumerate(final)
        if ins == "RUN" and "cadenza.catalog.warmup" in value
    ]
    assert len(warmups) == 1, "python -m cadenza.catalog.warmup, once, in the final stage"
    warmup = warmups[0]
    assert re.search(r"\bpython -m cadenza\.catalog\.warmup\b", final[warmup][1])
    module = ROOT / "services/catalog/src/cadenza/catalog/warmup.py"
    assert module.is_file()
    # After the venv is in place, with the cache folder set, as the (non-root) runtime user, who
    # then owns the cache; the folder is made for that user first.
    assert index(lambda i, v: i == "COPY" and "/opt/venv" in v) < warmup
    assert index(lambda i, v: i == "ENV" and f"NUMBA_CACHE_DIR={cache_dir}" in v) < warmup
    assert index(lambda i, v: i == "ENV" and "NUMBA_CPU_NAME=" in v) < warmup
    user = index(lambda i, v: i == "USER")
    assert user < warmup
    assert int(final[user][1].split(":")[0]) != 0
    made = index(lambda i, v: i == "RUN" and re.search(rf"install -d -o \S+ .*{cache_dir}", v))
    assert made < user


def test_render_image_installs_the_fluidsynth_runtime_library() -> None:
    """pyfluidsynth is only ctypes bindings: it loads libfluidsynth.so.3, which PyPI does not
    ship. The runtime image installs Debian's libfluidsynth3, the library alone, as root."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    render = next(p for p in lock["package"] if p["name"] == SERVICES["render"].package)
    assert "pyfluidsynth" in {d["name"] for d in render["dependencies"]}

    final = stages("render")[-1]
    installs = [
        (i, v) for i, (ins, v) in enumerate(final) if ins == "RUN" and "apt-get install" in v
    ]
    assert len(installs) == 1, "one apt-get install, in the final stage"
    index, run = installs[0]
    packages = [
        word
        for word in run.split("apt-get install", 1)[1].split("&&")[0].split()
        if not word.startswith("-")
    ]
    assert packages == ["libfluidsynth3"], f"the runtime library only, not {packages}"
    assert "--no-install-recommends" in run
    assert re.search(r"\s-y\b|--yes\b|--assume-yes\b", run), "non-interactive"
    assert not re.search(r"-dev\b", run), "no headers: nothing is compiled"
    # The same layer fetches the lists and removes them: no stale or leftover apt lists.
    assert run.index("apt-get update") < run.index("apt-get install")
    assert "rm -rf /var/lib/apt/lists/*" in run
    # apt needs root: before the image switches to its non-root user.
    user = [i for i, (ins, _) in enumerate(final) if ins == "USER"]
    assert user and index < user[0]
    # No other image needs a system package.
    for service in SERVICES:
        if service != "render":
            text = " ".join(v for i, v in dockerfile(service) if i == "RUN")
            assert "apt-get" not in text and "libfluidsynth" not in text, service


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
