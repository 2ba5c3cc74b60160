#!/usr/bin/env bash
# A local stand-in for the Dockerfile's base image (PYTHON_IMAGE), for machines that cannot pull
# from a registry: a Debian bookworm root made by debootstrap, with Debian's python3 (3.11),
# imported as the image cadenza-local-base:bookworm. The image tests build every service on it:
#   docker build --network host --build-arg PYTHON_IMAGE=cadenza-local-base:bookworm ...
#
# Usage: tools/image/local_base.sh [--rebuild]   (root: debootstrap and chroot)
#   --rebuild   make the root again from nothing (else it is kept and only re-imported when
#               this script changed or the image is missing)
#
# What it gives, as the public python slim image does, and as the Dockerfile expects of a base:
#   /usr/local/bin/python3 and python (links to Debian's /usr/bin/python3.11), pip and pip3 on
#   PATH able to install into the system interpreter (Debian's EXTERNALLY-MANAGED marker is
#   removed: in the slim image the interpreter belongs to the image, not to apt), groupadd and
#   useradd, apt-get with bookworm's sources (render installs libfluidsynth3), CA certificates.
# Behind a TLS-intercepting proxy (a host whose /usr/local/share/ca-certificates holds its CA)
# those certificates are added too, and SSL_CERT_FILE names the system bundle (uv reads it), or
# no build here could reach PyPI. That is a property of this machine's network, not of the
# images: a build on the public base needs none of it.
#
# The root is kept in build/local-base/root (ignored by git); it is stamped with this script's
# hash, which the image also carries (CADENZA_LOCAL_BASE_RECIPE), so running the script again
# does nothing when nothing changed.
set -euo pipefail

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
TAG=cadenza-local-base:bookworm
PACKAGES=(python3 python3-pip ca-certificates)
DOCKER=${DOCKER:-/usr/bin/docker}

rebuild=0
case ${1:-} in
--rebuild) rebuild=1 ;;
"") ;;
-h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "unknown option $1 (see --help)" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "local_base.sh needs root (debootstrap and chroot)" >&2
    exit 1
fi

REPO=$(cd "$(dirname "$0")/../.." && pwd -P)
DIR=$REPO/build/local-base
ROOT=$DIR/root
recipe=$(cat "$0" /usr/local/share/ca-certificates/*.crt 2>/dev/null | sha256sum | cut -c1-16)

say() { printf '=== [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

current=$("$DOCKER" image inspect "$TAG" \
    --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null |
    sed -n 's/^CADENZA_LOCAL_BASE_RECIPE=//p' || true)
if [ $rebuild = 0 ] && [ "$current" = "$recipe" ]; then
    say "$TAG is up to date (recipe $recipe)"
    exit 0
fi

MOUNTED=()
unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}
trap unmount_all EXIT

in_root() { # in_root COMMAND...: as root in the new root, a clean environment
    chroot "$ROOT.new" /usr/bin/env -i PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

if [ $rebuild = 1 ] || [ "$(cat "$ROOT/.recipe" 2>/dev/null)" != "$recipe" ]; then
    say "debootstrap $SUITE into $ROOT.new ($MIRROR)"
    rm -rf "$ROOT.new"
    mkdir -p "$DIR"
    debootstrap --variant=minbase "$SUITE" "$ROOT.new" "$MIRROR"
    cat >"$ROOT.new/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
    cp -L /etc/resolv.conf "$ROOT.new/etc/resolv.conf"
    mount -t proc proc "$ROOT.new/proc" && MOUNTED+=("$ROOT.new/proc")
    in_root apt-get update -qq
    in_root apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}"
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        say "adding the host's CA certificates (a TLS-intercepting proxy)"
        cp /usr/local/share/ca-certificates/*.crt "$ROOT.new/usr/local/share/ca-certificates/"
        in_root update-ca-certificates
    fi
    # apt as Debian's official images set it up (debuerreotype's docker-* files): no package
    # caches left in a layer (pkgcache.bin and srcpkgcache.bin are ~80 MB after an update),
    # no translations. Without them, a Dockerfile's `apt-get update && apt-get install ... &&
    # rm -rf /var/lib/apt/lists/*` would leave 80 MB here that it leaves nowhere else.
    clean='rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb'
    clean="$clean /var/cache/apt/*.bin || true"
    cat >"$ROOT.new/etc/apt/apt.conf.d/docker-clean" <<CLEAN
DPkg::Post-Invoke { "$clean"; };
APT::Update::Post-Invoke { "$clean"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CLEAN
    echo 'Acquire::Languages "none";' >"$ROOT.new/etc/apt/apt.conf.d/docker-no-languages"
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        >"$ROOT.new/etc/apt/apt.conf.d/docker-gzip-indexes"
    # The slim image's layout: the interpreter under /usr/local/bin, pip free to install.
    ln -sf /usr/bin/python3 "$ROOT.new/usr/local/bin/python3"
    ln -sf /usr/bin/python3 "$ROOT.new/usr/local/bin/python"
    rm -f "$ROOT.new"/usr/lib/python3.*/EXTERNALLY-MANAGED
    in_root /usr/local/bin/python3 -m pip --version
    # What an image does not need: package lists, caches, documentation, the chroot's name server.
    in_root apt-get clean
    unmount_all
    rm -rf "$ROOT.new"/var/lib/apt/lists/* "$ROOT.new"/var/cache/apt/*.bin \
        "$ROOT.new"/usr/share/doc/* "$ROOT.new"/usr/share/man/* "$ROOT.new"/usr/share/info/* \
        "$ROOT.new"/var/log/*.log "$ROOT.new"/var/log/apt/* "$ROOT.new"/tmp/*
    : >"$ROOT.new/etc/resolv.conf"
    echo "$recipe" >"$ROOT.new/.recipe"
    rm -rf "$ROOT"
    mv "$ROOT.new" "$ROOT"
fi

say "importing $ROOT as $TAG"
bundle=/etc/ssl/certs/ca-certificates.crt
tar --numeric-owner --exclude=./.recipe -C "$ROOT" -cf - . |
    "$DOCKER" import \
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change "ENV LANG=C.UTF-8" \
        --change "ENV SSL_CERT_FILE=$bundle" \
        --change "ENV CADENZA_LOCAL_BASE_RECIPE=$recipe" \
        --change 'CMD ["python3"]' \
        --message "Debian $SUITE (debootstrap) with Debian's python3: a stand-in for python:slim" \
        - "$TAG" >/dev/null
"$DOCKER" run --rm --network host "$TAG" sh -c \
    'python3 --version && pip --version && command -v useradd groupadd apt-get >/dev/null'
say "$TAG: $("$DOCKER" image inspect "$TAG" --format '{{.Size}}' | awk '{printf "%d MB", $1/1e6}')"
