"""Class 1: memory before authentication. Large bodies from nobody (or to the wrong route)
are refused before they are read: the gateway grows by at most 64 MB whatever they are,
and another account is served meanwhile."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from cadenza.devstack.abuse import (
    Account,
    MemoryWatch,
    busy_account,
    effects_job,
    finished_job,
    multipart_of,
    upload_file,
    zeros,
)
from cadenza.devstack.platform import Platform

MB = 1 << 20


def _send(url: str, path: str, body: object, headers: dict[str, str], codes: list[int]) -> None:
    """One attack request; the status it got, or 0 when the server closed the connection
    before the client finished sending (it refused without reading)."""
    try:
        response = httpx.post(url + path, content=body, headers=headers, timeout=60)  # type: ignore[arg-type]
        codes.append(response.status_code)
    except httpx.HTTPError:
        codes.append(0)


def test_large_unauthenticated_bodies_are_refused_unread(
    platform: Platform, api: httpx.Client, victim: Account, tone_file: Path
) -> None:
    tone = tone_file.read_bytes()
    gateway = MemoryWatch(platform.services["gateway"].pid)
    others = busy_account(platform.url, victim, tone)
    codes: list[int] = []
    attacks = []
    for _ in range(3):
        upload, upload_type = multipart_of(200 * MB)
        form, form_type = multipart_of(200 * MB)
        attacks += [
            # To the upload route, without credentials: 401 before a byte of the body.
            ("/api/v1/uploads", upload, {"Content-Type": upload_type}),
            # Multipart to a JSON route: refused unread whatever the credentials.
            ("/api/v1/jobs", form, {"Content-Type": form_type}),
            # JSON, chunked (no length to refuse on): cut off at the JSON limit.
            ("/api/v1/jobs", zeros(200 * MB), {"Content-Type": "application/json"}),
            # JSON announcing its size: refused from the header.
            (
                "/api/v1/auth/login",
                zeros(200 * MB),
                {"Content-Type": "application/json", "Content-Length": str(200 * MB)},
            ),
        ]
    with gateway.watching(), others.serving():
        threads = [
            threading.Thread(target=_send, args=(platform.url, path, body, headers, codes))
            for path, body, headers in attacks
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Every attack refused (or cut off mid-send), none accepted.
    assert all(code in (0, 401, 413, 415) for code in codes), codes
    assert len(codes) == 12
    assert gateway.growth < 64 * MB, f"the gateway grew by {gateway.growth / MB:.0f} MB"
    assert not others.failures, others.failures
    assert others.percentile(99) < 1.0, f"p99 {others.percentile(99):.2f} s"
    # The platform still works: a job of the victim runs to its end.
    uploaded = upload_file(api, victim, tone_file).json()
    job = effects_job(api, victim, uploaded["id"], [{"type": "gain", "gain_db": -3}]).json()
    assert finished_job(api, victim, job["id"])["status"] == "completed"
