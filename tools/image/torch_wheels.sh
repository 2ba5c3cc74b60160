#!/usr/bin/env bash
# An image holding a local folder's torch wheels in /wheels, for the Dockerfile's TORCH_WHEELS:
# a build on a machine that has the wheel (here /opt/wheels, uv.lock's find-links folder) but
# no route to PyTorch's index installs torch from it, offline, instead of from TORCH_INDEX.
#   tools/image/torch_wheels.sh [FOLDER] [TAG]
#   docker build --build-arg TORCH_WHEELS=cadenza-torch-wheels:local ...
# Docker 20.10 has no named build contexts (no buildx here): the folder is this small image's
# own build context, and the Dockerfile mounts the image's /wheels while installing torch.
set -euo pipefail

FOLDER=${1:-/opt/wheels}
TAG=${2:-cadenza-torch-wheels:local}
DOCKER=${DOCKER:-/usr/bin/docker}

if ! compgen -G "$FOLDER/torch-*.whl" >/dev/null; then
    echo "no torch-*.whl in $FOLDER" >&2
    exit 1
fi
printf 'FROM scratch\nCOPY torch-*.whl /wheels/\n' |
    DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network host -t "$TAG" -f - "$FOLDER" >/dev/null
echo "$TAG: $(cd "$FOLDER" && ls torch-*.whl | tr '\n' ' ')"
