"""Fetching a known model's files into the model directory: resumable, bounded, verified.

Each file arrives as `<name>.part` beside its final place. A `.part` left by a broken
transfer is continued with an HTTP Range request (a server that ignores Range sends the
whole file again, and the `.part` starts over). A response longer than the registry's size
is refused as it arrives; a file whose sha256 differs from the registry's is deleted. Only a
complete, verified file is renamed into place (one `rename`, so the workers that scan the
directory see either nothing or the whole file). One pull of a file at a time: each file
is locked (`flock` on a hidden `.<name>.lock`, released when the process ends, however it
ends) while it is fetched; a second pull waits, then finds the file in place.

Plain synchronous code without NATS: the CLI and the worker (in a thread) both call `pull`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from cadenza.contracts.model_catalog import KnownModel, ModelFile

CHUNK = 1 << 20
CONNECT_TIMEOUT_S = 15.0
# Seconds without a byte before a transfer counts as broken (and can be resumed).
READ_TIMEOUT_S = 60.0
MAX_REDIRECTS = 5
LOCK_POLL_S = 0.2
LOCK_TIMEOUT_S = 6 * 3600.0
# demucs names checkpoints `<signature>-<first 8 hex digits of their sha256>.th`.
DEMUCS_NAME = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{8})\.th$")

# (bytes of the model in place or received so far, bytes of the whole model)
Progress = Callable[[int, int], None]


class PullError(Exception):
    """The pull cannot succeed as things stand; the message says what to do."""


class ChecksumMismatchError(PullError):
    pass


class PullInterruptedError(PullError):
    """The transfer broke off. What arrived is kept in the `.part` file; pulling again
    resumes from it."""


@dataclass(frozen=True)
class FetchedFile:
    name: str
    sha256: str
    bytes: int
    # Bytes that came over the network this time, and those kept from an earlier attempt.
    fetched: int
    resumed_from: int
    # Checked against the registry's full sha256 (False: the registry has none for it).
    verified: bool
    already_present: bool


def check_url(url: str) -> str:
    """`url` if it is http(s) with a host (and no credentials), else PullError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise PullError(f"{url[:200]!r} is not an http(s) URL with a host; nothing fetched")
    return url


def file_url(file: ModelFile, mirror: str | None) -> str:
    """Where `file` is fetched from: the mirror's base URL + its name, or where it is
    published."""
    if mirror:
        return check_url(f"{check_url(mirror).rstrip('/')}/{file.name}")
    return check_url(file.url)


def new_client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        # The bytes as published: a compressed transfer would be neither the size nor the
        # sha256 the registry knows.
        headers={"Accept-Encoding": "identity", "User-Agent": "cadenza-separation"},
    )


def pull(
    model: KnownModel,
    model_dir: Path,
    *,
    mirror: str | None = None,
    progress: Progress | None = None,
    waiting: Callable[[str], None] | None = None,
    client: httpx.Client | None = None,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> list[FetchedFile]:
    """Fetch every file of `model` that `model_dir` lacks; verified files already there are
    left alone. `progress` is called as bytes arrive, `waiting(file name)` while another
    pull holds a file. Raises PullError (PullInterruptedError: pull again to resume)."""
    _writable(model_dir)
    urls = {file.name: file_url(file, mirror) for file in model.files}
    owned = client is None
    http = client or new_client()
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, model.bytes)

    try:
        results = []
        for file in model.files:
            with _locked(model_dir, file.name, waiting, lock_timeout_s):
                results.append(_pull_file(http, urls[file.name], file, model_dir, advance))
        return results
    finally:
        if owned:
            http.close()


def present(model: KnownModel, model_dir: Path) -> bool:
    """Whether every file of `model` is in `model_dir` at its registry size (cheap: no
    hashing; `pull` verifies)."""
    return all(
        (path := model_dir / f.name).is_file() and path.stat().st_size == f.bytes
        for f in model.files
    )


def _writable(model_dir: Path) -> None:
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PullError(f"cannot make the model directory {model_dir}: {e.strerror}") from e
    if not os.access(model_dir, os.W_OK | os.X_OK):
        raise PullError(
            f"the model directory {model_dir} is not writable here (mounted read-only?); "
            "nothing fetched"
        )


@contextlib.contextmanager
def _locked(
    model_dir: Path, name: str, waiting: Callable[[str], None] | None, timeout_s: float
) -> Iterator[None]:
    lock = model_dir / f".{name}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PullError(
                        f"another pull has held {name} for over {timeout_s:,.0f} s; try later"
                    ) from None
                if waiting is not None:
                    waiting(name)
                time.sleep(LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # releases the lock


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _pull_file(
    http: httpx.Client, url: str, file: ModelFile, model_dir: Path, advance: Callable[[int], None]
) -> FetchedFile:
    target = model_dir / file.name
    if target.exists():
        digest = _verified(target, file, already=True)
        advance(file.bytes)
        return FetchedFile(file.name, digest, file.bytes, 0, 0, bool(file.sha256), True)
    part = model_dir / f"{file.name}.part"
    resumed_from, fetched = _download(http, url, part, file, advance)
    digest = _verified(part, file, already=False)
    with part.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(part, target)
    _sync_dir(model_dir)
    verified = bool(file.sha256)
    return FetchedFile(file.name, digest, file.bytes, fetched, resumed_from, verified, False)


def _verified(path: Path, file: ModelFile, *, already: bool) -> str:
    """The file's sha256 once it is the registry's file. A finished download that is not
    is deleted; a file the operator put there is left, and the error says so."""
    size = path.stat().st_size
    digest = _sha256_of(path) if size == file.bytes else ""
    expected = file.sha256
    demucs = DEMUCS_NAME.match(file.name)
    if size != file.bytes:
        why = f"{size} bytes, the registry says {file.bytes}"
    elif expected and digest != expected:
        why = f"sha256 {digest}, the registry says {expected}"
    elif demucs and not digest.startswith(demucs.group(1)):
        why = f"sha256 {digest} does not begin with the {demucs.group(1)} in its name"
    else:
        return digest
    if already:
        raise PullError(
            f"{path} is already there but is not the registry's {file.name} ({why}); "
            "move it away and pull again"
        )
    path.unlink(missing_ok=True)
    raise ChecksumMismatchError(
        f"{file.name} arrived but is not the registry's file ({why}); it was deleted and "
        "nothing was installed"
    )


def _download(
    http: httpx.Client, url: str, part: Path, file: ModelFile, advance: Callable[[int], None]
) -> tuple[int, int]:
    """Complete `part` from `url`; (bytes kept from before, bytes fetched now)."""
    host = urlsplit(url).hostname
    offset = part.stat().st_size if part.exists() else 0
    if offset > file.bytes:  # not this file's beginning: start over
        part.unlink()
        offset = 0
    resumed_from, fetched = offset, 0
    advance(offset)
    if offset == file.bytes:
        return resumed_from, 0
    free = shutil.disk_usage(part.parent).free
    if free < file.bytes - offset:
        raise PullError(
            f"{file.name} needs {file.bytes - offset:,} more bytes; {part.parent} has {free:,} free"
        )
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with http.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 206 and offset:
                if (start := _range_start(response)) != offset:
                    raise PullError(
                        f"{host} sent {file.name} from byte {start}, not from {offset:,} as asked"
                    )
                mode = "ab"
            elif status == 200:  # the whole file (Range ignored, or not sent)
                advance(-offset)
                resumed_from = offset = 0
                mode = "wb"
            elif status == 416 and offset:  # a .part this server disowns
                part.unlink()
                raise PullInterruptedError(
                    f"{host} refused to continue {file.name} from byte {offset:,}; the "
                    "partial file was deleted, pull again to start over"
                )
            elif status == 429 or status >= 500:  # busy or broken for now
                raise PullInterruptedError(f"{host} answered {status} for {file.name}; try again")
            else:
                raise PullError(f"{host} answered {status} for {file.name} ({url})")
            length = response.headers.get("content-length")
            if length and length.isdigit() and offset + int(length) > file.bytes:
                part.unlink(missing_ok=True)
                raise PullError(
                    f"{host} offers {offset + int(length):,} bytes for {file.name}, more than "
                    f"the registry's {file.bytes:,}; refused, nothing kept"
                )
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, mode) as out:
                if mode == "wb":
                    out.truncate()
                for chunk in response.iter_bytes():  # as it arrives: a break loses nothing
                    if offset + len(chunk) > file.bytes:
                        out.close()
                        part.unlink()
                        raise PullError(
                            f"{host} sent more than the registry's {file.bytes:,} bytes for "
                            f"{file.name}; refused, nothing kept"
                        )
                    out.write(chunk)
                    offset += len(chunk)
                    fetched += len(chunk)
                    advance(len(chunk))
    except httpx.UnsupportedProtocol as e:
        raise PullError(f"{url} led to an address that is not http(s): {e}") from e
    except httpx.TooManyRedirects as e:
        raise PullError(f"{url} redirects more than {MAX_REDIRECTS} times") from e
    except httpx.TransportError as e:  # timeouts, refused or dropped connections
        raise PullInterruptedError(
            f"the download of {file.name} from {host} broke off at {offset:,} of "
            f"{file.bytes:,} bytes ({type(e).__name__}); pull again to resume"
        ) from e
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise PullError(f"{part.parent} is full; {file.name} needs more room") from e
        raise
    if offset < file.bytes:
        raise PullInterruptedError(
            f"{host} ended {file.name} at {offset:,} of {file.bytes:,} bytes; pull again to resume"
        )
    return resumed_from, fetched


def _range_start(response: httpx.Response) -> int | None:
    """Where a 206's `Content-Range: bytes START-END/TOTAL` starts."""
    found = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("content-range", ""))
    return int(found.group(1)) if found else None


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
