"""Tools for attacking a running platform and measuring what it cost: accounts, bodies that
stream without being held, watches on a process's memory and CPU, and a victim account
whose requests are timed while an attack runs. The abuse suite (tests/abuse) and its
benchmark (bench/abuse.py) share them."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

PASSWORD = "a long enough pass phrase"  # noqa: S105 (test accounts' own)


@dataclass(frozen=True)
class Account:
    email: str
    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_account(api: httpx.Client, name: str = "user") -> Account:
    """A fresh account, signed in (its sign-in counts against the address's limit)."""
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    created = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    created.raise_for_status()
    pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    pair.raise_for_status()
    body: dict[str, Any] = pair.json()
    return Account(email, body["user"]["id"], body["access_token"])


def zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`total` bytes of a request body, produced as they are sent (never held)."""
    block = bytes(chunk)
    left = total
    while left > 0:
        yield block[: min(chunk, left)]
        left -= chunk


def multipart_of(total: int, boundary: str = "cadenza-abuse") -> tuple[Iterator[bytes], str]:
    """A multipart/form-data body whose `file` field holds `total` zero bytes, streamed."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from zeros(total)
        yield tail

    return body(), f"multipart/form-data; boundary={boundary}"


def tree_rss(pid: int) -> int:
    """Resident memory of a process and its children (a container holds both)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return total


@dataclass
class MemoryWatch:
    """Peak RSS of a process (with or without its children) while the block runs, sampled
    every `every_s`."""

    pid: int
    children: bool = False
    every_s: float = 0.02
    baseline: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _rss(self) -> int:
        if self.children:
            return tree_rss(self.pid)
        try:
            return int(psutil.Process(self.pid).memory_info().rss)
        except psutil.NoSuchProcess:
            return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.every_s)

    @contextlib.contextmanager
    def watching(self) -> Iterator[MemoryWatch]:
        self.baseline = self.peak = self._rss()
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        try:
            yield self
        finally:
            self._stop.set()
            sampler.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its children."""
    total = 0.0
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
    return total


@dataclass
class Victim:
    """Another account going about its business: its requests, in a thread of their own,
    timed while an attack runs."""

    url: str
    account: Account
    requests: list[Callable[[httpx.Client], httpx.Response]]
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.account.headers, timeout=60) as api:
            index = 0
            while not self._stop.is_set():
                make = self.requests[index % len(self.requests)]
                index += 1
                started = time.perf_counter()
                try:
                    response = make(api)
                    if response.status_code >= 400:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                except httpx.HTTPError as e:
                    self.failures.append(str(e))
                self.latencies.append(time.perf_counter() - started)
                time.sleep(0.05)

    @contextlib.contextmanager
    def serving(self) -> Iterator[Victim]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


def busy_account(url: str, account: Account, tone: bytes) -> Victim:
    """Another account at its everyday work: listing its jobs, uploading a short file,
    asking where it stands."""
    return Victim(
        url,
        account,
        [
            lambda c: c.get("/api/v1/jobs"),
            lambda c: c.post("/api/v1/uploads", files={"file": ("tone.wav", tone)}),
            lambda c: c.get("/api/v1/auth/me"),
        ],
    )


def storage_bytes(root: Path, owner: str) -> int:
    """Bytes an account has in the local storage backend."""
    folder = root / owner
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def finished_job(
    api: httpx.Client, account: Account, job_id: str, timeout_s: float = 120
) -> dict[str, Any]:
    """The job once it has ended (completed, failed or cancelled)."""
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}", headers=account.headers).json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def effects_job(
    api: httpx.Client, account: Account, upload_id: str, chain: list[dict[str, Any]], **params: Any
) -> httpx.Response:
    return api.post(
        "/api/v1/jobs",
        json={
            "kind": "effects",
            "input": {"upload_id": upload_id},
            "params": {"chain": chain, **params},
        },
        headers=account.headers,
    )


def upload_file(api: httpx.Client, account: Account, path: Path) -> httpx.Response:
    return api.post(
        "/api/v1/uploads", files={"file": (path.name, path.read_bytes())}, headers=account.headers
    )
