"""Offline checks of the one Dockerfile every service's image is built from, and .dockerignore.

Each check looks at the build as `--build-arg SERVICE=<name>` sees it (dockerfile_model.py:
arguments substituted, the stage FROM service-${SERVICE} picks, what the image inherits).
It needs dockerfile-parse and docker (for its implementation of .dockerignore rules) from the
dev dependency group.
"""

from __future__ import annotations

import itertools
import json
import re
import runpy
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from .deploy_helpers import ROOT, SERVICES, locked_version, settings_of
from .dockerfile_model import DOCKERFILE, Image, expand, global_args, image, instructions

# The Dockerfile's helper, run by the base image's python3 (it is no package of the workspace).
locked_torch = runpy.run_path(str(ROOT / "tools" / "image" / "locked_torch.py"))["locked_torch"]

LOCK = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
PYTORCH_INDEX = "https://download.pytorch.org/whl/"
# What each image gets by default: separation and composition the CPU build of torch, the
# others none (render's torch is its `gpu` extra, for its CUDA image only).
TORCH_BY_DEFAULT = {"separation", "composition"}
# Variables an image may set that are not a service's settings: the interpreter's, numba's,
# torch's, and the label of the torch build.
NOT_SETTINGS = {
    "PATH",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "NUMBA_CACHE_DIR",
    "NUMBA_CPU_NAME",
    "TORCH_HOME",
    "CADENZA_TORCH_VARIANT",
}


def default_of(name: str, stage: list[tuple[str, str]]) -> str:
    for instruction, value in stage:
        if instruction == "ARG" and value.startswith(f"{name}="):
            return value.split("=", 1)[1]
    raise AssertionError(f"no ARG {name} with a default")


def test_one_dockerfile_and_a_stage_for_every_service() -> None:
    """No per-service copies: one recipe at the root; each service folder has its stage, and
    each service stage a folder."""
    assert sorted(p.relative_to(ROOT) for p in ROOT.glob("services/*/Dockerfile*")) == []
    folders = {p.parent.name for p in ROOT.glob("services/*/pyproject.toml")}
    assert folders == set(SERVICES)
    named = {s.name for s in image("gateway").stages if s.name}
    assert {n.removeprefix("service-") for n in named if n.startswith("service-")} == folders
    assert instructions()[-2:][0] == ("FROM", "service-${SERVICE}")
    assert "SERVICE" in global_args() and global_args()["SERVICE"] is None, "required"


@pytest.mark.parametrize("service", SERVICES)
def test_every_build_argument_and_variable_resolves(service: str) -> None:
    """Every ${VAR} Docker substitutes is declared where it is used (dockerfile_model raises
    otherwise), with the CUDA variant too, and the chosen stage is the service's."""
    for args in ({}, {"TORCH_VARIANT": "cu128"}):
        built = image(service, **args)
        assert [s.name for s in built.chain][-2] == f"service-{service}"
        copies = [v for i, v in built.builder.instructions if i == "COPY"]
        assert f"services/{service} ./services/{service}" in copies
    with pytest.raises(KeyError, match="NOT_DECLARED"):
        expand("${NOT_DECLARED}", {})


def test_base_images_are_pinned_and_the_same_for_both_stages() -> None:
    base = global_args()["PYTHON_IMAGE"]
    assert base is not None
    digest = re.search(r"@sha256:[0-9a-f]{64}$", base)
    tag = base.split("@")[0].rsplit("/", 1)[-1].partition(":")[2]
    assert digest or re.match(r"\d+\.\d+\.\d+", tag), f"{base}: pin a full version"
    for service in SERVICES:
        built = image(service)
        # The venv is copied between stages: its interpreter must be the same one.
        assert built.builder.base == built.base_image == base
        assert image(service, PYTHON_IMAGE="registry.example/python:3.11.16").base_image == (
            "registry.example/python:3.11.16"
        ), "the base is a build argument"


@pytest.mark.parametrize("service", SERVICES)
def test_builds_from_the_lock_file_with_uv(service: str) -> None:
    builder = image(service).builder.instructions
    uv_version = default_of("UV_VERSION", builder)
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_version), "pin the uv version"
    assert f"UV_VERSION := {uv_version}" in make, "the Makefile's uv, which writes uv.lock"
    runs = [v for i, v in builder if i == "RUN"]
    assert any('"uv==${UV_VERSION}"' in r for r in runs)
    syncs = [r for r in runs if "uv sync" in r]
    assert len(syncs) == 2
    for run in syncs:
        assert "--frozen" in run and "--no-dev" in run
        assert '--package "cadenza-${SERVICE}"' in run
    package = (ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8")
    assert f'name = "{SERVICES[service].package}"' in package


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_is_non_root_with_a_healthcheck(service: str) -> None:
    spec = SERVICES[service]
    built = image(service)
    final = dict(built.final)  # the last of each kind wins, as in Docker
    user = final["USER"].split(":")[0]
    assert user.isdigit(), "a numeric USER, so that Kubernetes' runAsNonRoot can check it"
    assert int(user) != 0, "USER must not be root"
    assert built.chain[-1].instructions[-1][0] == "USER", "the image ends as that user"
    assert final["EXPOSE"].split("/")[0] == str(spec.port)

    healthcheck = final["HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[:2] == ["python", "-c"], "no curl in a slim image: Python's urllib"
    assert "/health" in command[2] and f"'{spec.port_var}'" in command[2]
    compile(command[2], "HEALTHCHECK", "exec")

    assert json.loads(final["CMD"]) == ["python", "-m", spec.module]
    main = ROOT / "services" / service / "src" / Path(*spec.module.split(".")) / "__main__.py"
    assert main.is_file()
    env = built.env
    assert env[spec.host_var] == "0.0.0.0"
    assert env[spec.port_var] == str(spec.port)


@pytest.mark.parametrize("service", SERVICES)
def test_the_environment_an_image_sets_is_what_its_service_reads(service: str) -> None:
    """Services ignore unknown variables: a misspelt one, or the gateway's HOST on a worker,
    would pass unnoticed."""
    unknown = set(image(service).env) - set(settings_of(service)) - NOT_SETTINGS
    assert not unknown, f"{service} has no setting for {sorted(unknown)}"


def builder_commands(
    service: str, variant: str, tmp_path: Path, wheels: Path | None = None
) -> list[list[str]]:
    """The uv and python commands the builder stage's RUN lines would run with
    `--build-arg SERVICE=service --build-arg TORCH_VARIANT=variant`: each RUN goes through
    /bin/sh in the repository root, with stand-ins for uv and the venv's python that only
    write down their arguments, and the real locked_torch.py reading the real uv.lock.
    `wheels`: the folder the TORCH_WHEELS image's /wheels is mounted from (else none)."""
    built = image(service, TORCH_VARIANT=variant)
    log = tmp_path / f"{service}-{variant}.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("uv", "python"):
        fake = bin_dir / name
        fake.write_text(
            f'#!/bin/sh\nprintf "%s\\0" {name} "$@" >> "$LOG"\nprintf "\\n" >> "$LOG"\n'
        )
        fake.chmod(0o755)
    stage = built.builder.instructions
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LOG": str(log),
        "SERVICE": service,
        "TORCH_VARIANT": variant,
        "TORCH_INDEX": default_of("TORCH_INDEX", stage),
    }
    for instruction, value in stage:
        # Only the steps that install packages (not uv's own install, apt-get or the slimming).
        if instruction != "RUN" or "uv==" in value or not re.search(r"\buv (sync|pip)\b", value):
            continue
        script = re.sub(r"^(--mount=\S+\s+)+", "", value)
        script = script.replace("/opt/venv/bin/python -c", f"{bin_dir}/python -c")
        script = script.replace("/usr/local/bin/locked-torch", "tools/image/locked_torch.py")
        script = script.replace("/tmp/torch-wheels", str(wheels or tmp_path / "no-wheels"))
        subprocess.run(["/bin/sh", "-ec", script], env=env, cwd=ROOT, check=True)
    lines = log.read_text().splitlines() if log.exists() else []
    return [line.rstrip("\0").split("\0") for line in lines]


@pytest.mark.parametrize(
    ("service", "variant"),
    [
        *((service, "cpu") for service in SERVICES),
        ("separation", "cu128"),
        ("composition", "cu126"),
        ("render", "cu130"),
        ("gateway", "cu128"),
    ],
)
def test_torch_comes_from_pytorchs_index_in_the_variant_asked_for(
    service: str, variant: str, tmp_path: Path
) -> None:
    """uv.lock's torch is the CPU build from a folder a Docker build does not have, and PyPI's
    torch is a CUDA build: an image whose service needs torch (the lock says which) installs it
    from PyTorch's index, in the build TORCH_VARIANT names, pinned to the locked version, and
    the syncs never install the lock's. A service without torch gets none, whatever the
    variant; render's CUDA image gets it through its `gpu` extra."""
    locked = locked_version("torch")
    assert locked.endswith("+cpu"), f"uv.lock has torch {locked}, not the CPU build"
    builder = image(service).builder.instructions
    assert default_of("TORCH_VARIANT", builder) == "cpu"
    assert default_of("TORCH_INDEX", builder) + "/" == PYTORCH_INDEX

    commands = builder_commands(service, variant, tmp_path)
    installs = [c for c in commands if c[:3] == ["uv", "pip", "install"]]
    syncs = [c for c in commands if c[:2] == ["uv", "sync"]]
    assert len(syncs) == 2 and all("--frozen" in c and "--no-dev" in c for c in syncs)
    assert all(("--all-extras" in c) == (variant != "cpu") for c in syncs)
    for sync in syncs:
        assert ("--no-install-package", "torch") in list(itertools.pairwise(sync)), sync
        assert sync[sync.index("--package") + 1] == SERVICES[service].package
    wants_torch = service in TORCH_BY_DEFAULT or (service == "render" and variant != "cpu")
    if not wants_torch:
        assert installs == [], f"the {service} image carries no torch"
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
        if commands.index(sync) > first_install:
            assert "--inexact" in sync, f"this sync would uninstall torch: {sync}"
    checks = [c for c in commands if c[:2] == ["python", "-c"]]
    assert checks and checks[-1][-1] == variant, "the build checks the CUDA-ness of torch"

    # uv refuses to start when pyproject.toml names a find-links folder that is missing.
    runs = [v for i, v in builder if i == "RUN"]
    tool_uv = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    for folder in tool_uv.get("find-links", []):
        if folder.startswith("/"):
            made = [
                i for i, r in enumerate(runs) if re.search(rf"mkdir -p {re.escape(folder)}\b", r)
            ]
            first_sync = next(i for i, r in enumerate(runs) if "uv sync" in r)
            assert made and made[0] < first_sync, f"create {folder} (empty) before uv sync"


@pytest.mark.parametrize("service", ["separation", "composition", "gateway"])
def test_torch_comes_from_the_local_wheels_alone_when_given(service: str, tmp_path: Path) -> None:
    """TORCH_WHEELS (an image whose /wheels the torch step mounts): when it holds a torch
    wheel, torch is installed from there with no index at all; the default stage holds none,
    and the step then uses TORCH_INDEX as before."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    locked = locked_version("torch")
    (wheels / f"torch-{locked}-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    installs = [
        c
        for c in builder_commands(service, "cpu", tmp_path, wheels)
        if c[:3] == ["uv", "pip", "install"]
    ]
    if service not in TORCH_BY_DEFAULT:
        assert installs == []
        return
    (install,) = installs
    assert "--no-index" in install and "--index-url" not in install
    assert install[install.index("--find-links") + 1] == str(wheels)
    assert install[-1] == f"torch=={locked}" and "--no-deps" in install

    torch_step = next(
        v for i, v in image(service).builder.instructions if i == "RUN" and "uv pip" in v
    )
    assert "--mount=type=bind,from=torch-wheels,source=/wheels,target=/tmp/torch-wheels" in (
        torch_step
    )
    assert global_args()["TORCH_WHEELS"] == "no-torch-wheels"
    empty = image(service, TORCH_WHEELS="no-torch-wheels").stage("no-torch-wheels")
    assert empty.instructions == [("RUN", "mkdir /wheels")], "the default holds no wheel"
    local = image(service, TORCH_WHEELS="cadenza-torch-wheels:local").stage("torch-wheels")
    assert local.base == "cadenza-torch-wheels:local"


def test_the_venv_is_slimmed_after_every_install() -> None:
    """Test suites and torch's headers leave every image's venv; a CPU image's libraries are
    stripped by strip_libraries.py (the CUDA ones are left as shipped)."""
    runs = [v for i, v in image("separation").builder.instructions if i == "RUN"]
    slim = next(i for i, r in enumerate(runs) if "strip-libraries" in r)
    assert slim == len(runs) - 1, "after the last install"
    assert "-name tests" in runs[slim] and "torch/include" in runs[slim]
    assert (
        'if [ "$TORCH_VARIANT" = cpu ]; then python3 /usr/local/bin/strip-libraries' in (runs[slim])
    )
    copies = [v for i, v in image("separation").builder.instructions if i == "COPY"]
    assert "tools/image/strip_libraries.py /usr/local/bin/strip-libraries" in copies


def test_strip_libraries_keeps_what_the_loader_would_refuse(tmp_path: Path) -> None:
    """Real wheels' libraries: numpy's extension loses its local symbols and still loads; the
    OpenBLAS that auditwheel vendored (patchelf'd) would be refused by the loader once
    stripped, so it is kept byte for byte."""
    import ctypes

    import numpy

    site = Path(numpy.__file__).parents[1]
    extension = next((site / "numpy" / "_core").glob("_multiarray_umath.*.so"))
    blas = next((site / "numpy.libs").glob("libscipy_openblas*.so"))
    work = tmp_path / "lib"
    work.mkdir()
    for lib in (extension, blas):
        shutil.copy(lib, work / lib.name)
    subprocess.run(
        [sys.executable, ROOT / "tools" / "image" / "strip_libraries.py", work], check=True
    )
    assert (work / blas.name).read_bytes() == blas.read_bytes()
    assert (work / extension.name).stat().st_size < extension.stat().st_size
    ctypes.CDLL(str(work / blas.name))
    ctypes.CDLL(str(work / extension.name))


def test_the_lock_says_which_services_need_torch() -> None:
    version = locked_version("torch").split("+")[0]
    for service, spec in SERVICES.items():
        expected = version if service in TORCH_BY_DEFAULT else None
        assert locked_torch(LOCK, spec.package) == expected, service
    assert locked_torch(LOCK, "cadenza-render", all_extras=True) == version
    assert locked_torch(LOCK, "cadenza-gateway", all_extras=True) is None
    with pytest.raises(SystemExit, match="no package 'cadenza-nothing'"):
        locked_torch(LOCK, "cadenza-nothing")


def test_cuda_comes_only_through_the_build_argument() -> None:
    """One Dockerfile makes both images: no CUDA base image, index or package is named
    outright; a CUDA variant adds the service's extras, so every extra is a GPU one; the
    render image's `gpu` extra pins the same torch as separation."""
    text = " ".join(value for _, value in instructions())
    assert not re.search(r"/whl/cu\d|nvidia|\+cu\d", text)
    for service in SERVICES:
        assert "cuda" not in image(service).base_image.lower()
        project = tomllib.loads(
            (ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8")
        )["project"]
        assert set(project.get("optional-dependencies", {})) <= {"gpu"}, service
    render = tomllib.loads((ROOT / "services/render/pyproject.toml").read_text(encoding="utf-8"))
    separation = tomllib.loads(
        (ROOT / "services/separation/pyproject.toml").read_text(encoding="utf-8")
    )
    pins = [d for d in separation["project"]["dependencies"] if d.startswith("torch")]
    assert render["project"]["optional-dependencies"]["gpu"] == pins


def test_separation_image_reads_models_from_the_volume_only() -> None:
    built = image("separation")
    final = dict(built.final)
    env = built.env
    assert json.loads(final["VOLUME"]) == [env["MODEL_DIR"]]
    assert env["DEVICE"] == "auto", "the GPU in the CUDA image, the CPU otherwise"
    assert env["USE_TORCH_HUB_CACHE"] == "false"
    assert env["TORCH_HOME"].startswith("/tmp/"), "writable with a read-only root filesystem"
    assert env["TORCH_THREADS"] == "0", "from the container's CPU quota"
    assert image("separation", TORCH_VARIANT="cu128").env["CADENZA_TORCH_VARIANT"] == "cu128"
    settings = settings_of("separation")
    for name in ("MODEL_DIR", "DEVICE", "USE_TORCH_HUB_CACHE", "TORCH_THREADS"):
        assert name in settings, f"separation has no setting {name}"


def test_catalog_image_warms_the_numba_cache_at_build_time() -> None:
    """librosa compiles its numba functions on first use (about 30 s); the image does it once,
    at build time, as the runtime user, into a NUMBA_CACHE_DIR that stays in the image."""
    built = image("catalog")
    final = built.final
    env = built.env
    cache_dir = env["NUMBA_CACHE_DIR"]
    assert cache_dir.startswith("/"), cache_dir
    # Kubernetes mounts an emptyDir over /tmp, which would hide a cache built there.
    assert not cache_dir.startswith("/tmp"), f"{cache_dir}: outside /tmp"
    # numba keys its cache by processor: a cache for the build machine's would be recompiled
    # on every node that differs from it.
    assert env["NUMBA_CPU_NAME"] == "generic"

    def index(predicate: object) -> int:
        assert callable(predicate)
        hits = [i for i, (instruction, value) in enumerate(final) if predicate(instruction, value)]
        assert hits, "missing from the image"
        return hits[0]

    warmups = [
        i
        for i, (ins, value) in enumerate(final)
        if ins == "RUN" and "cadenza.catalog.warmup" in value
    ]
    assert len(warmups) == 1, "python -m cadenza.catalog.warmup, once"
    warmup = warmups[0]
    assert re.search(r"\bpython -m cadenza\.catalog\.warmup\b", final[warmup][1])
    assert (ROOT / "services/catalog/src/cadenza/catalog/warmup.py").is_file()
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
    for service in SERVICES:
        if service != "catalog":
            assert "warmup" not in " ".join(v for _, v in image(service).final), service


# The Debian packages each image installs: the libraries its wheels load that PyPI does not
# ship. pedalboard's native module links libatomic.so.1 (absent from the slim image);
# pyfluidsynth is only ctypes bindings for libfluidsynth.so.3.
SYSTEM_PACKAGES = {service: ["libatomic1"] for service in SERVICES} | {
    "render": ["libatomic1", "libfluidsynth3"]
}


@pytest.mark.parametrize("service", SERVICES)
def test_images_install_only_the_runtime_libraries_they_load(service: str) -> None:
    """Runtime libraries alone, as root, each apt-get in one layer that fetches the lists
    and removes them: no -dev packages, no recommends."""
    render = next(p for p in LOCK["package"] if p["name"] == SERVICES["render"].package)
    assert "pyfluidsynth" in {d["name"] for d in render["dependencies"]}
    assert "pedalboard" in {
        d["name"]
        for p in LOCK["package"]
        if p["name"] == "cadenza-audio"
        for d in p["dependencies"]
    }

    final = image(service).final
    installs = [
        (i, v) for i, (ins, v) in enumerate(final) if ins == "RUN" and "apt-get install" in v
    ]
    installed: list[str] = []
    user = [i for i, (ins, _) in enumerate(final) if ins == "USER"]
    for index, run in installs:
        installed += [
            word
            for word in run.split("apt-get install", 1)[1].split("&&")[0].split()
            if not word.startswith("-")
        ]
        assert "--no-install-recommends" in run
        assert re.search(r"\s-y\b|--yes\b|--assume-yes\b", run), "non-interactive"
        assert not re.search(r"-dev\b", run), "no headers: nothing is compiled"
        assert run.index("apt-get update") < run.index("apt-get install")
        assert "rm -rf /var/lib/apt/lists/*" in run
        assert user and index < user[0], "apt needs root: before the image's USER"
    assert installed == SYSTEM_PACKAGES[service]


def test_make_image_builds_the_images_compose_runs() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = make.split("\nimage:", 1)[1].split("\n\n", 1)[0]
    assert "docker build --build-arg SERVICE=$(SERVICE)" in recipe
    assert "-t cadenza-$(SERVICE):$(or $(CADENZA_TAG),dev)" in recipe, "compose's image names"
    assert recipe.rstrip().endswith(" ."), "from the repository root"


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("service", SERVICES)
def test_every_copy_source_is_in_the_build_context(service: str) -> None:
    context = set(
        exclude_paths(
            str(ROOT), dockerignore_patterns(), dockerfile=str(DOCKERFILE.relative_to(ROOT))
        )
    )
    built: Image = image(service)
    copies = [v for s in built.stages for i, v in s.instructions if i in ("COPY", "ADD")]
    checked = 0
    for value in copies:
        if "--from=" in value:
            continue
        *sources, _dest = (word for word in value.split() if not word.startswith("--"))
        for source in sources:
            folder = source.rstrip("/")
            assert source in context or any(p.startswith(folder + "/") for p in context), (
                f"COPY {source}: not in the build context"
            )
            checked += 1
    assert checked >= 4


def test_dockerignore_keeps_secrets_and_local_state_out(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": True,
        "uv.lock": True,
        "libs/runtime/pyproject.toml": True,
        "libs/runtime/src/cadenza/runtime/bus.py": True,
        "services/gateway/src/cadenza/gateway/app.py": True,
        "tools/image/locked_torch.py": True,
        "tools/devstack/src/cadenza/devstack/platform.py": False,
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
