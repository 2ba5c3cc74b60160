# Every Cadenza service's image, from one recipe: a builder stage that installs the service's
# locked dependencies and our packages into /opt/venv, a runtime stage that every image shares
# (the interpreter, the venv, a non-root user, a health check), and at the bottom one short
# stage per service with only what is its own (port, settings, system packages, command).
#
# Build from the repository root (the build context must hold pyproject.toml, uv.lock, libs/,
# services/ and tools/image/; .dockerignore keeps everything else out):
#   docker build --build-arg SERVICE=gateway -t cadenza-gateway:dev .
#   docker build --build-arg SERVICE=separation --build-arg TORCH_VARIANT=cu128 \
#       -t cadenza-separation:dev-cuda .
# Needs BuildKit (the default builder since Docker 23; DOCKER_BUILDKIT=1 before): cache and
# bind mounts, and a FROM that names a stage through a build argument (only the stages the
# chosen service needs are built). Without a registry (tests/deploy/test_images.py, make
# images): a local base and the local torch wheel, the build on the host's network:
#   DOCKER_BUILDKIT=1 docker build --network host --build-arg SERVICE=separation \
#       --build-arg PYTHON_IMAGE=cadenza-local-base:bookworm \
#       --build-arg TORCH_WHEELS=cadenza-torch-wheels:local -t cadenza-separation:dev .
#
# Build arguments:
#   SERVICE        gateway, effects, separation, catalog, render or composition (required)
#   PYTHON_IMAGE   the base of both stages: the public Python slim image, pinned. Another base
#                  (a mirror, a hardened image) must provide /usr/local/bin/python3 (3.11 or 3.12)
#   UV_VERSION     the uv release that writes this repository's uv.lock
#   TORCH_VARIANT  for the services whose locked dependencies include torch (separation,
#                  composition, and render's `gpu` extra): `cpu` (the default), or a CUDA build
#                  that PyTorch's index has for the locked torch (cu126, cu128, cu130…). CUDA
#                  wheels bring the CUDA runtime libraries (cuBLAS, cuDNN…), so CPU and CUDA
#                  images share the slim base; the driver comes from the host (NVIDIA container
#                  toolkit; in Kubernetes the device plugin). A CUDA variant also installs the
#                  service's extras: a service's optional dependencies are what its GPU adds.
#   TORCH_INDEX    where torch wheels come from: PyTorch's index (or a mirror of it), never
#                  PyPI, whose torch is a CUDA build whatever the image is for
#   TORCH_WHEELS   instead of TORCH_INDEX, for a machine that has the torch wheel but no route
#                  to PyPI's or PyTorch's index for it: an image (or stage) holding wheels in
#                  /wheels, e.g. one built from a local folder (tools/image/torch_wheels.sh:
#                  `FROM scratch`, `COPY torch-*.whl /wheels/`). torch is then installed from
#                  there alone (--no-index), in the variant TORCH_VARIANT names; for a CUDA
#                  variant the folder must hold its nvidia-* wheels too. The default,
#                  no-torch-wheels, is empty: TORCH_INDEX is used.

ARG SERVICE
ARG PYTHON_IMAGE=python:3.11.16-slim-trixie
ARG TORCH_WHEELS=no-torch-wheels

# ---- torch wheels from a local folder (TORCH_WHEELS), or none: mounted by the builder ----
FROM ${PYTHON_IMAGE} AS no-torch-wheels
RUN mkdir /wheels

FROM ${TORCH_WHEELS} AS torch-wheels

# ---- builder: the locked dependencies and our packages, into /opt/venv ----
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
ARG UV_VERSION=0.13.9
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX=https://download.pytorch.org/whl

# binutils: strip, for the slimming step at the end of this stage (the builder's only).
RUN test -n "$SERVICE" || { echo "--build-arg SERVICE=<a folder of services/> is required" >&2; exit 1; } \
 && apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

WORKDIR /src

# uv.lock records torch 2.13.0+cpu from a local find-links folder (/opt/wheels, named in
# pyproject.toml), which exists on the development machines only. uv refuses to start when a
# find-links folder is missing, so an empty one stands in for it; torch itself comes from
# TORCH_INDEX below.
RUN mkdir -p /opt/wheels

# Third-party packages first, except torch: this layer is rebuilt only when the lock file
# changes. A CUDA image also takes the service's extras (render's `gpu`: torch's own
# dependencies, sympy, networkx…).
COPY pyproject.toml uv.lock ./
COPY tools/image/locked_torch.py /usr/local/bin/locked-torch
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "$TORCH_VARIANT" != cpu ]; then extras=--all-extras; else extras=; fi \
 && uv sync --frozen --no-dev --no-install-workspace --no-install-package torch $extras \
        --package "cadenza-${SERVICE}"

# torch at the locked version, in the build TORCH_VARIANT names, from TORCH_INDEX only (no
# fallback to PyPI), or from the TORCH_WHEELS image's wheels only when it has any, for a
# service that needs it (the lock says which). Its pure-Python dependencies came from the lock
# file above: a CPU build needs nothing more (--no-deps), a CUDA build also brings the nvidia-*
# runtime libraries and triton, from the same index.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,from=torch-wheels,source=/wheels,target=/tmp/torch-wheels \
    if [ "$TORCH_VARIANT" != cpu ]; then extras=--all-extras; deps=; else extras=; deps=--no-deps; fi \
 && torch=$(python3 /usr/local/bin/locked-torch uv.lock "cadenza-${SERVICE}" $extras) \
 && if ls /tmp/torch-wheels/torch-*.whl >/dev/null 2>&1; then \
        source="--no-index --find-links /tmp/torch-wheels"; \
    else \
        source="--index-url ${TORCH_INDEX}/${TORCH_VARIANT}"; \
    fi \
 && if [ -n "$torch" ]; then \
        uv pip install --python /opt/venv/bin/python $deps $source \
            "torch==${torch}+${TORCH_VARIANT}"; \
    fi

# Then our own packages, installed as wheels (not editable): the runtime needs no source tree.
# --inexact keeps the torch installed above, which this sync is told not to install.
COPY libs ./libs
COPY services/${SERVICE} ./services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    if [ "$TORCH_VARIANT" != cpu ]; then extras=--all-extras; else extras=; fi \
 && uv sync --frozen --no-dev --no-editable --inexact --no-install-package torch $extras \
        --package "cadenza-${SERVICE}" \
 && uv pip check --python /opt/venv/bin/python \
 && if [ -n "$(python3 /usr/local/bin/locked-torch uv.lock "cadenza-${SERVICE}" $extras)" ]; then \
        /opt/venv/bin/python -c "import sys, torch; cpu = sys.argv[1] == 'cpu'; \
assert (torch.version.cuda is None) == cpu, (sys.argv[1], torch.version.cuda)" "$TORCH_VARIANT"; \
    fi

# What the runtime never reads, out of the venv: the packages' own test suites, torch's C++
# headers (for building extensions, with a compiler the image does not have) and, in a CPU
# image, the native libraries' symbol tables (strip-libraries: the dynamic symbols stay, and a
# library whose stripped copy the loader would refuse stays as it was). Separation's CPU image
# is 0.4 GB smaller (docs/deployment.md). The CUDA images' libraries are left as shipped:
# nothing here can load them to check.
COPY tools/image/strip_libraries.py /usr/local/bin/strip-libraries
RUN find /opt/venv/lib -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3*/site-packages/torch/include \
 && if [ "$TORCH_VARIANT" = cpu ]; then python3 /usr/local/bin/strip-libraries /opt/venv/lib; fi

# ---- runtime: the interpreter, the venv, a non-root user; what every image shares ----
FROM ${PYTHON_IMAGE} AS runtime

# libatomic1: pedalboard's native module (effects; every image's venv has it through
# cadenza-audio) links libatomic.so.1, which the slim image does not have.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libatomic1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cadenza \
 && useradd --system --uid 10001 --gid cadenza --create-home --shell /usr/sbin/nologin cadenza \
 && install -d -o cadenza -g cadenza /var/lib/cadenza/artifacts

COPY --from=builder /opt/venv /opt/venv

# STORAGE_DIR: where the local backend writes when STORAGE_BACKEND=local (mount a volume there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STORAGE_DIR=/var/lib/cadenza/artifacts

WORKDIR /home/cadenza

# Liveness only: readiness (/health/ready) also needs NATS (and PostgreSQL, storage). The
# gateway listens on PORT, the workers' ops servers on HTTP_PORT. A long start period: the
# separation worker imports torch and reads its model directory first.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % (os.environ.get('HTTP_PORT') or os.environ['PORT']), timeout=4)"]

# The workers' ops server (health, metrics) must be reachable from outside the container.
FROM runtime AS worker
ENV HTTP_HOST=0.0.0.0

# ---- one stage per service: only what is its own ----

FROM runtime AS service-gateway
# Inside a container the loopback default would be unreachable.
ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
# `python -m cadenza.gateway migrate` applies the migrations alone (serve also applies them).
CMD ["python", "-m", "cadenza.gateway"]

# pedalboard effect chains, batch and live.
FROM worker AS service-effects
ENV HTTP_PORT=8011
EXPOSE 8011
CMD ["python", "-m", "cadenza.effects"]

# Demucs, RoFormer and a classical method. Checkpoints are not in the image: mount a directory
# of them at MODEL_DIR (read-only is enough); the worker never downloads them.
# USE_TORCH_HUB_CACHE=false: a container has no hub cache of its own. TORCH_HOME is under /tmp
# anyway (writable, also with a read-only root). DEVICE=auto: the GPU when the CUDA image
# finds one, else the CPU (the prod overlay sets DEVICE=cuda, so a GPU pod without a GPU fails
# at start instead of crawling on the CPU). TORCH_THREADS=0: one torch thread per CPU of the
# container's CPU limit (cgroup quota), not per CPU of the host. CADENZA_TORCH_VARIANT tells
# the images apart. NUMBA_CACHE_DIR: bs_roformer imports librosa, whose cached numba functions
# refuse to import without a writable cache folder (the read-only root has none; /tmp is a
# volume).
FROM worker AS service-separation
ARG TORCH_VARIANT=cpu
RUN install -d -o cadenza -g cadenza /var/lib/cadenza/models
ENV HTTP_PORT=8012 \
    MODEL_DIR=/var/lib/cadenza/models \
    USE_TORCH_HUB_CACHE=false \
    TORCH_HOME=/tmp/torch \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    DEVICE=auto \
    TORCH_THREADS=0 \
    CADENZA_TORCH_VARIANT=${TORCH_VARIANT}
VOLUME ["/var/lib/cadenza/models"]
EXPOSE 8012
CMD ["python", "-m", "cadenza.separation"]

# Songs, their analysis and similarity search. The same image runs the seed and the
# migrations (`cadenza-catalog seed --limit 500`, `cadenza-catalog migrate`).
# NUMBA_CACHE_DIR: librosa's numba functions are compiled into it below, at build time, instead
# of in the first song a worker analyses (about 30 s). numba needs the folder to be writable
# when librosa is imported, even when every function is found there: it is owned by the
# runtime user, and with a read-only root filesystem it must be a writable volume holding a copy
# of this one (k8s/base/catalog.yaml: an init container copies it into an emptyDir).
# NUMBA_CPU_NAME=generic: code for any x86-64 (or arm64) processor, not the build machine's, so
# that the cache is valid on whatever node runs the image (numba keys it by processor).
FROM worker AS service-catalog
RUN install -d -o cadenza -g cadenza /opt/numba-cache
ENV HTTP_PORT=8013 \
    NUMBA_CACHE_DIR=/opt/numba-cache \
    NUMBA_CPU_NAME=generic
# As the runtime user, with the runtime's venv path and settings (the cache is keyed by them).
USER 10001:10001
RUN python -m cadenza.catalog.warmup
EXPOSE 8013
CMD ["python", "-m", "cadenza.catalog"]

# MIDI to audio with FluidSynth, stem mixing and mastering. pyfluidsynth is only bindings: it
# loads libfluidsynth.so.3 with ctypes. The runtime library only, no -dev, no fluidsynth CLI,
# no recommends; the default SoundFont (TimGM6mb) comes with pretty_midi. DEVICE=auto: true
# peak on the GPU when the CUDA image (TORCH_VARIANT=cuXXX: its `gpu` extra) finds one.
FROM worker AS service-render
ARG TORCH_VARIANT=cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libfluidsynth3 \
 && rm -rf /var/lib/apt/lists/*
ENV HTTP_PORT=8014 \
    DEVICE=auto \
    CADENZA_TORCH_VARIANT=${TORCH_VARIANT}
EXPOSE 8014
CMD ["python", "-m", "cadenza.render"]

# Blends of catalog songs' MIDI: its learned model (torch, the CPU build by default: a few
# million weights, shipped in the package) or its Markov engine.
FROM worker AS service-composition
ENV HTTP_PORT=8015
EXPOSE 8015
CMD ["python", "-m", "cadenza.composition"]

# ---- the image: the chosen service's stage, run as the unprivileged user ----
FROM service-${SERVICE}
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
