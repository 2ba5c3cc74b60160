#!/usr/bin/env bash
# The "two commands on a fresh machine" check: a bare Debian bookworm root (debootstrap) with
# only python3, python3-venv, gcc, make and git (and sudo), this working tree copied in, and,
# as a non-root user with passwordless sudo: `make test`, then a `make run` smoke test.
#
# Usage: tools/devstack/fresh-machine/check.sh [options]   (root: debootstrap, chroot, mounts)
# or `make fresh-check FRESH_ARGS="options"`. (It lives in the devstack member's folder: a
# folder of its own under tools/ would be a uv workspace member without a pyproject.toml.)
#
#   --clean             build the base root again from nothing (else it is kept between runs)
#   --keep              keep this run's root (build/fresh-root, ~7 GB) when it passes; a failed
#                       run's root is always kept, for --reuse
#   --reuse             run in the previous run's root as it was left (a quick second try:
#                       installed packages, .venv and caches kept; not a fresh machine)
#   --pytest-args ARGS  run `make test PYTEST_ARGS="ARGS"` (part of the suite) instead of it all
#   --install-only      stop after `make install`
#   --skip-test         no `make test`
#   --skip-run          no `make run` smoke test
#   --timeout S         limit for `make test` in seconds (default 7200)
#   --no-host-ca        do not carry the host's own CA certificates in (see below)
#   --source DIR        copy this folder's files instead of the working tree (e.g. a
#                       `git archive` of some commit, unpacked; .venv, .tools, build, var
#                       and .git left out)
#
# Folders (ignored by git): build/fresh-base (the root right after the packages above are
# installed, kept), build/fresh-root (this run's copy of it), build/fresh-check.log.
# The chroot shares the host's network (loopback included); /opt/wheels (where the CPU torch
# wheel lives, a find-links source in pyproject.toml) is mounted read-only when it exists.
# Whatever happens, every process left in the chroot is killed and everything unmounted.
#
# Behind a TLS-intercepting proxy (a host whose /usr/local/share/ca-certificates holds the
# proxy's CA), a fresh machine could not reach PyPI or npm at all: the run's root then gets
# those certificates too, and the user's environment names the system bundle for pip, uv
# and npm (PIP_CERT, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS), as that host's own does. The log
# says so; on a host without such certificates nothing is added.
set -euo pipefail

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
USER_NAME=cadenza
PACKAGES=(python3 python3-venv gcc make git sudo)
USER_PATH=/usr/local/bin:/usr/bin:/bin:/usr/games # a Debian user's: no /sbin, no /usr/sbin

clean=0 keep=0 reuse=0 install_only=0 skip_test=0 skip_run=0 pytest_args="" test_timeout=7200
host_ca=1 source=""
while [ $# -gt 0 ]; do
    case $1 in
    --clean) clean=1 ;;
    --keep) keep=1 ;;
    --reuse) reuse=1 ;;
    --pytest-args)
        pytest_args=${2:?--pytest-args needs a value}
        shift
        ;;
    --install-only) install_only=1 ;;
    --skip-test) skip_test=1 ;;
    --skip-run) skip_run=1 ;;
    --no-host-ca) host_ca=0 ;;
    --source)
        source=$(cd "${2:?--source needs a folder}" && pwd -P)
        shift
        ;;
    --timeout)
        test_timeout=${2:?--timeout needs a value}
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "unknown option $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done

if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo --preserve-env=MIRROR "$0" "$@"
    fi
    echo "fresh-check needs root (debootstrap, chroot and mounts)" >&2
    exit 1
fi

REPO=$(cd "$(dirname "$0")/../../.." && pwd -P)
BUILD=$REPO/build
BASE=$BUILD/fresh-base
ROOT=$BUILD/fresh-root
LOG=$BUILD/fresh-check.log
HOME_IN=/home/$USER_NAME
mkdir -p "$BUILD"
: >"$LOG"

started=$SECONDS
say() { printf '\n=== [%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG"; }
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# --- mounts and processes, undone on any exit -------------------------------------------
MOUNTED=()
mount_in() { # mount_in ROOTDIR ARGS... TARGET (the target is last)
    local target=${*: -1}
    mkdir -p "$target"
    mount "${@:2}"
    MOUNTED+=("$target")
}

chroot_pids() { # every process whose root directory is $1
    local root=$1 pid
    for pid in /proc/[0-9]*; do
        [ "$(readlink "$pid/root" 2>/dev/null)" = "$root" ] && echo "${pid#/proc/}"
    done
    return 0
}

kill_chroot_processes() {
    local root=$1 pids
    pids=$(chroot_pids "$root")
    [ -z "$pids" ] && return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 20); do
        sleep 0.5
        pids=$(chroot_pids "$root")
        [ -z "$pids" ] && return 0
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 1
}

unmount_all() {
    local i
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
    done
    MOUNTED=()
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local code=$?
    for root in "$ROOT" "$BASE.new"; do
        [ -d "$root" ] && kill_chroot_processes "$(cd "$root" && pwd -P)"
    done
    unmount_all
    # Never through a mount that is still there (/dev, /proc, /opt/wheels are bound in).
    if [ "${cleanup_root:-0}" = 1 ] && ! grep -q " $(cd "$ROOT" && pwd -P)/" /proc/mounts; then
        rm -rf "$ROOT"
    fi
    exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_system() { # mount_system ROOTDIR
    local root=$1
    mount_in "$root" -t proc proc "$root/proc"
    mount_in "$root" --bind /sys "$root/sys"
    mount_in "$root" --bind /dev "$root/dev"
    mount_in "$root" --bind /dev/pts "$root/dev/pts"
    if mountpoint -q /dev/shm; then # Chromium's shared memory
        mount_in "$root" --bind /dev/shm "$root/dev/shm"
    fi
    if [ -d /opt/wheels ]; then
        mount_in "$root" --bind /opt/wheels "$root/opt/wheels"
        mount -o remount,bind,ro "$root/opt/wheels"
    fi
    # The network is the host's; its name server and a hosts file that knows localhost.
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n' \
        "$(hostname)" >"$root/etc/hosts"
}

as_root_in() { # as_root_in ROOTDIR COMMAND...
    local root=$1
    shift
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@"
}

CA_ENV=() # set when the host's CA certificates are carried in
as_user() { # as_user COMMAND-STRING: in the repository copy, with a user's environment
    chroot --userspec="$USER_NAME:$USER_NAME" "$ROOT" /usr/bin/env -i \
        HOME="$HOME_IN" USER="$USER_NAME" LOGNAME="$USER_NAME" SHELL=/bin/bash \
        PATH="$USER_PATH" LANG=C.UTF-8 TERM=dumb CI=1 "${CA_ENV[@]}" \
        /bin/bash -c "cd ~/cadenza && $1"
}

logged() { # logged COMMAND...: output to the terminal and the log; the command's status
    set +e
    "$@" 2>&1 | tee -a "$LOG"
    local code=${PIPESTATUS[0]}
    set -e
    return "$code"
}

# --- the base: bookworm and the five packages (plus sudo and a user), kept ----------------
if [ $clean = 1 ]; then
    say "--clean: removing $BASE and $ROOT"
    rm -rf "$BASE" "$ROOT" "$BASE.new"
fi

if [ ! -f "$BASE/.fresh-base-done" ]; then
    say "building the base root in $BASE ($SUITE from $MIRROR)"
    t0=$SECONDS
    if ! command -v debootstrap >/dev/null; then
        logged apt-get update -qq
        logged env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
    fi
    rm -rf "$BASE.new"
    logged debootstrap --variant=minbase "$SUITE" "$BASE.new" "$MIRROR"
    # What an installed Debian's sources are: the release, its updates and security.
    cat >"$BASE.new/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
    mount_system "$BASE.new"
    logged as_root_in "$BASE.new" apt-get update -qq
    # As a person would: `apt-get install` with its recommends.
    logged as_root_in "$BASE.new" apt-get install -y -qq "${PACKAGES[@]}"
    as_root_in "$BASE.new" useradd --create-home --shell /bin/bash --groups sudo "$USER_NAME"
    echo "$USER_NAME ALL=(ALL) NOPASSWD: ALL" >"$BASE.new/etc/sudoers.d/$USER_NAME"
    chmod 440 "$BASE.new/etc/sudoers.d/$USER_NAME"
    as_root_in "$BASE.new" apt-get clean
    kill_chroot_processes "$(cd "$BASE.new" && pwd -P)"
    unmount_all
    touch "$BASE.new/.fresh-base-done"
    mv "$BASE.new" "$BASE"
    say "base root ready in $(elapsed $((SECONDS - t0)))"
fi

# --- this run's root: a copy of the base, and the working tree ----------------------------
if [ $reuse = 1 ] && [ -d "$ROOT/home/$USER_NAME/cadenza" ]; then
    say "--reuse: the previous run's root as it was left ($ROOT)"
else
    say "copying the base root to $ROOT"
    rm -rf "$ROOT"
    cp -a "$BASE" "$ROOT"
fi

if [ -n "$source" ]; then
    say "copying $source"
else
    say "copying the working tree (tracked and untracked files git does not ignore)"
fi
uid=$(chroot "$ROOT" id -u "$USER_NAME")
gid=$(chroot "$ROOT" id -g "$USER_NAME")
dest=$ROOT$HOME_IN/cadenza
mkdir -p "$dest"
# (--reuse: the previous copy goes, except what make installed: .tools and .venv.)
find "$dest" -mindepth 1 -maxdepth 1 ! -name .tools ! -name .venv -exec rm -rf {} +
if [ -n "$source" ]; then
    (cd "$source" && tar --exclude=./.venv --exclude=./.tools --exclude=./build \
        --exclude=./var --exclude=./.git -cf - .) | tar -xf - -C "$dest"
    origin="$source"
else
    # Tracked files deleted in the working tree are left out; nothing in git is changed.
    (cd "$REPO" && git ls-files --cached --others --exclude-standard -z |
        while IFS= read -r -d '' path; do
            if [ -e "$path" ] || [ -L "$path" ]; then printf '%s\0' "$path"; fi
        done | tar --null --no-recursion -T - -cf -) | tar -xf - -C "$dest"
    origin="$REPO at $(git -C "$REPO" rev-parse --short HEAD) with"
    origin+=" $(git -C "$REPO" status --porcelain | wc -l) uncommitted changes"
fi
chown -R "$uid:$gid" "$dest"
echo "from $origin" | tee -a "$LOG"

mount_system "$ROOT"
ROOT_REAL=$(cd "$ROOT" && pwd -P)
if [ $host_ca = 1 ] && compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    say "carrying the host's CA certificates in (a TLS-intercepting proxy; --no-host-ca: not)"
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    logged as_root_in "$ROOT" update-ca-certificates
    bundle=/etc/ssl/certs/ca-certificates.crt
    CA_ENV=("SSL_CERT_FILE=$bundle" "PIP_CERT=$bundle" "NODE_EXTRA_CA_CERTS=$bundle"
        "REQUESTS_CA_BUNDLE=$bundle")
fi
# A clone of that state: one commit, so tools that ask git find a repository.
as_user "rm -rf .git && git init -q && git add -A &&
    git -c user.name=fresh-check -c user.email=fresh-check@localhost \
        commit -qm 'fresh-check: $origin'"

results=()
failed=0
record() { # record NAME STATUS SECONDS
    local line
    line=$(printf '%-34s %-6s %s' "$1" "$2" "$(elapsed "$3")")
    results+=("$line")
    [ "$2" = ok ] || failed=1
}

leftovers() { # leftovers STAGE: fails (and kills them) if processes are left in the chroot
    local pids
    pids=$(chroot_pids "$ROOT_REAL")
    [ -z "$pids" ] && return 0
    echo "processes left running after $1:" | tee -a "$LOG"
    # shellcheck disable=SC2086
    ps -o pid,user,etime,args -p "$(echo $pids | tr ' ' ',')" | tee -a "$LOG" || true
    kill_chroot_processes "$ROOT_REAL"
    return 1
}

# --- make install --------------------------------------------------------------------------
say "make install (as $USER_NAME, PATH=$USER_PATH)"
t0=$SECONDS
if logged as_user "make install"; then
    record "make install" ok $((SECONDS - t0))
    say "make install again: must not run apt-get or sudo"
    t0=$SECONDS
    if logged as_user "make install >/tmp/second-install.log 2>&1; code=\$?;
            cat /tmp/second-install.log; exit \$code" &&
        ! grep -Eq 'apt-get|sudo|command not found' "$ROOT/tmp/second-install.log"; then
        record "make install (again: no apt)" ok $((SECONDS - t0))
    else
        record "make install (again: no apt)" FAILED $((SECONDS - t0))
    fi
else
    record "make install" FAILED $((SECONDS - t0))
    install_only=1
fi

# --- make test -----------------------------------------------------------------------------
if [ $install_only = 0 ] && [ $skip_test = 0 ]; then
    if [ -n "$pytest_args" ]; then
        say "make test PYTEST_ARGS=\"$pytest_args\""
        command="make test PYTEST_ARGS=$(printf '%q' "$pytest_args")"
    else
        say "make test (the whole suite)"
        command="make test"
    fi
    t0=$SECONDS
    if logged as_user "timeout -s INT $test_timeout $command"; then
        record "make test${pytest_args:+ (part)}" ok $((SECONDS - t0))
    else
        record "make test${pytest_args:+ (part)}" FAILED $((SECONDS - t0))
    fi
    t0=$SECONDS
    if leftovers "make test"; then
        record "nothing left running after tests" ok 0
    else
        record "nothing left running after tests" FAILED 0
    fi
fi

# --- make run: up, ready, the README's first steps, Ctrl-C, nothing left -----------------
if [ $install_only = 0 ] && [ $skip_run = 0 ]; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "make run smoke test on port $port"
    t0=$SECONDS
    smoke=$(
        cat <<EOF
set -u
rm -rf /tmp/smoke && mkdir -p /tmp/smoke
# As from a terminal: make run leads its own process group, which Ctrl-C signals as a whole.
# (A background job of a script starts with SIGINT ignored: restore it before make starts.)
python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' \
    make run PORT=$port SEED=3 DATA_DIR=/tmp/smoke/var >/tmp/smoke/run.log 2>&1 &
group=\$!
python3 - <<'PY' || { echo "not ready; make run printed:"; tail -40 /tmp/smoke/run.log; kill -INT -- -\$group; sleep 20; exit 1; }
import time, urllib.request
deadline = time.monotonic() + 900
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen("http://127.0.0.1:$port/health/ready", timeout=5) as r:
            if r.status == 200:
                print("ready:", r.read().decode()[:200])
                break
    except OSError:
        pass
    time.sleep(2)
else:
    raise SystemExit("not ready within 900 s")
PY
# The README's "Try it", with the cadenza command instead of curl (none on a fresh machine).
cd /tmp/smoke
~/cadenza/.venv/bin/python -c "import numpy as n, soundfile as s; t = n.arange(441000) / 44100; s.write('song.wav', 0.3 * n.sin(2 * n.pi * 220 * t), 44100)"
tried=0
timeout 300 ~/cadenza/.venv/bin/cadenza --url http://127.0.0.1:$port fx song.wav \
    --effect compressor:threshold_db=-18,ratio=3 --effect reverb:room_size=0.7 \
    --format flac --out out && ls -l out || tried=1
kill -INT -- -\$group
for _ in \$(seq 180); do kill -0 \$group 2>/dev/null || break; sleep 1; done
if kill -0 \$group 2>/dev/null; then echo "make run still running 180 s after Ctrl-C"; exit 1; fi
echo "--- make run printed (last lines):"; tail -15 /tmp/smoke/run.log
grep -qx 'stopped' /tmp/smoke/run.log || { echo "cadenza-dev did not print 'stopped'"; exit 1; }
grep -q Traceback /tmp/smoke/run.log && echo "(a traceback was printed; see /tmp/smoke/run.log)"
exit \$tried
EOF
    )
    if logged as_user "$smoke"; then
        record "make run: ready, fx job, Ctrl-C" ok $((SECONDS - t0))
    else
        record "make run: ready, fx job, Ctrl-C" FAILED $((SECONDS - t0))
    fi
    cp "$ROOT/tmp/smoke/run.log" "$BUILD/fresh-run.log" 2>/dev/null || true
    if leftovers "make run"; then
        record "nothing left running after run" ok 0
    else
        record "nothing left running after run" FAILED 0
    fi
fi

say "results (log: $LOG)"
for line in "${results[@]}"; do echo "  $line" | tee -a "$LOG"; done
echo "  total $(elapsed $((SECONDS - started)))" | tee -a "$LOG"
if [ $failed = 0 ]; then
    echo "fresh-check: PASSED" | tee -a "$LOG"
    if [ $keep = 0 ]; then
        # Its venv and caches are the size of the project's whole install, torch included:
        # not something to leave in the working tree. (Unmounted first: the EXIT trap.)
        cleanup_root=1
    fi
else
    echo "fresh-check: FAILED" | tee -a "$LOG"
fi
exit $failed
