"""Hostile and broken input through the public API: every bad file of the corpus and every
malformed request gets a 4xx (or a failed job) with a sentence; nothing is written outside
the storage root, nothing is left half-written, and the platform keeps serving others."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from cadenza.devstack.hostile import BadFile, corpus
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

from .conftest import MAX_UPLOAD_BYTES, upload, wait_for_status

pytestmark = pytest.mark.platform

CACHE = Path(os.environ.get("CADENZA_TEST_CACHE", Path.home() / ".cache" / "cadenza-tests"))
FILES = corpus(CACHE / "hostile")


@pytest.mark.parametrize("bad", FILES, ids=[f.case for f in FILES])
def test_every_bad_file_is_refused_with_a_reason(api: httpx.Client, bad: BadFile) -> None:
    data = bad.make(CACHE / "hostile")
    if bad.field == "upload":
        response = api.post("/api/v1/uploads", files={"file": (bad.filename, data)})
    else:
        response = api.post(
            "/api/v1/songs",
            params={"wait": "60"},
            files={"midi": (bad.filename, data, "audio/midi")},
            data={"title": f"hostile {bad.case}"},
        )
    assert response.status_code == bad.status, (bad.case, response.status_code, response.text)
    detail = response.json()["detail"]
    assert bad.says in detail, (bad.case, detail)
    assert "Traceback" not in detail and "/tmp" not in detail, "no internals in the sentence"


def test_a_bad_song_without_waiting_is_a_failed_job_with_the_reason(api: httpx.Client) -> None:
    slow = next(f for f in FILES if f.case == "slowest tempo and a note years in")
    accepted = api.post(
        "/api/v1/songs",
        files={"midi": ("years.mid", slow.make(CACHE), "audio/midi")},
        data={"title": "years"},
    )
    assert accepted.status_code == 202, accepted.text
    job = wait_for_status(api, accepted.json()["job"]["id"])
    assert job["status"] == "failed"
    assert "hours; the limit is" in job["error"]["reason"]


def _json(body: Any) -> dict[str, Any]:
    return {"content": json.dumps(body).encode(), "headers": {"Content-Type": "application/json"}}


def _raw(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": content_type}}


def _effects(chain: Any, upload_id: str = "00000000-0000-0000-0000-000000000000") -> dict[str, Any]:
    return _json({"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": chain}})


# (case, method, url, request arguments, expected status, a phrase of the answer)
BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "json over the body limit",
        "POST",
        "/api/v1/jobs",
        _raw(b"[" + b"1," * 700_000 + b"1]"),
        413,
        "limit",
    ),
    (
        "json nested 100,000 deep",
        "POST",
        "/api/v1/jobs",
        _raw(b"[" * 100_000 + b"]" * 100_000),
        400,
        "parsing",
    ),
    (
        "invalid utf-8 json",
        "POST",
        "/api/v1/jobs",
        _raw(b'{"kind": "\xff\xfe"}'),
        400,
        "UTF-8 JSON",
    ),
    ("json cut off", "POST", "/api/v1/jobs", _raw(b'{"kind": "effects", "input": {'), 422, "JSON"),
    ("json null", "POST", "/api/v1/jobs", _raw(b"null"), 422, ""),
    ("json array instead of object", "POST", "/api/v1/jobs", _json([1, 2, 3]), 422, ""),
    ("unknown job kind", "POST", "/api/v1/jobs", _json({"kind": "mine-bitcoin"}), 422, "kind"),
    (
        "NaN gain",
        "POST",
        "/api/v1/jobs",
        _raw(
            b'{"kind":"effects","input":{"upload_id":"00000000-0000-0000-0000-000000000000"},"params":{"chain":[{"type":"gain","gain_db":NaN}]}}'
        ),
        422,
        "gain_db",
    ),
    (
        "infinite gain",
        "POST",
        "/api/v1/jobs",
        _raw(
            b'{"kind":"effects","input":{"upload_id":"00000000-0000-0000-0000-000000000000"},"params":{"chain":[{"type":"gain","gain_db":1e999}]}}'
        ),
        422,
        "gain_db",
    ),
    (
        "a 400-digit number",
        "POST",
        "/api/v1/jobs",
        _raw(
            b'{"kind":"effects","input":{"upload_id":"00000000-0000-0000-0000-000000000000"},"params":{"chain":[{"type":"gain","gain_db":'
            + b"9" * 400
            + b"}]}}"
        ),
        422,
        "",
    ),
    (
        "10,000 plugins in a chain",
        "POST",
        "/api/v1/jobs",
        _effects([{"type": "gain"}] * 10_000),
        422,
        "chain",
    ),
    ("unknown plugin", "POST", "/api/v1/jobs", _effects([{"type": "flux-capacitor"}]), 422, "type"),
    (
        "plugin parameter out of range",
        "POST",
        "/api/v1/jobs",
        _effects([{"type": "delay", "delay_seconds": 1e9}]),
        422,
        "delay_seconds",
    ),
    (
        "unknown field",
        "POST",
        "/api/v1/jobs",
        _json(
            {
                "kind": "effects",
                "input": {"upload_id": str(uuid.uuid4())},
                "params": {"chain": []},
                "sudo": True,
            }
        ),
        422,
        "sudo",
    ),
    (
        "input that is not an id",
        "POST",
        "/api/v1/jobs",
        _effects([], upload_id="../../etc/passwd"),
        422,
        "upload_id",
    ),
    (
        "an idempotency key of 1,000 characters",
        "POST",
        "/api/v1/jobs",
        {
            **_effects([]),
            "headers": {"Content-Type": "application/json", "Idempotency-Key": "k" * 1000},
        },
        422,
        "idempotency",
    ),
    (
        "job id that is a path",
        "GET",
        "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd",
        {},
        404,
        "no such endpoint",
    ),
    (
        "artifact name that climbs out",
        "GET",
        f"/api/v1/jobs/{uuid.uuid4()}/artifacts/..%2F..%2F..%2Fetc%2Fpasswd",
        {},
        404,
        "no such endpoint",
    ),
    (
        "asset name with a NUL",
        "GET",
        f"/api/v1/songs/{uuid.uuid4()}/assets/midi%00.txt",
        {},
        422,
        "name: contains a NUL character",
    ),
    ("paging limit of 10^30", "GET", "/api/v1/jobs?limit=" + "1" + "0" * 30, {}, 422, "limit"),
    (
        "a cursor this API never issued",
        "GET",
        "/api/v1/jobs?cursor=" + "z" * 150,
        {},
        422,
        "cursor",
    ),
    (
        "tempo range upside down",
        "GET",
        "/api/v1/songs?tempo_min=200&tempo_max=60",
        {},
        422,
        "tempo",
    ),
    (
        "upload that is not multipart",
        "POST",
        "/api/v1/uploads",
        _raw(b"RIFF....", "audio/wav"),
        415,
        "multipart",
    ),
    (
        "multipart without a boundary",
        "POST",
        "/api/v1/uploads",
        _raw(b"--x\r\n", "multipart/form-data"),
        415,
        "multipart",
    ),
    (
        "multipart that never ends",
        "POST",
        "/api/v1/uploads",
        _raw(
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF',
            "multipart/form-data; boundary=B",
        ),
        415,
        "refused",
    ),
    (
        "multipart with no file part",
        "POST",
        "/api/v1/uploads",
        _raw(
            b'--B\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--B--\r\n',
            "multipart/form-data; boundary=B",
        ),
        422,
        "file",
    ),
    (
        "upload over the size limit",
        "POST",
        "/api/v1/uploads",
        {"files": {"file": ("big.wav", b"\0" * (MAX_UPLOAD_BYTES + 1))}},
        413,
        "limit",
    ),
    (
        "song with a 1,000-character title",
        "POST",
        "/api/v1/songs",
        {"files": {"midi": ("a.mid", b"MThd")}, "data": {"title": "t" * 1000}},
        422,
        "title",
    ),
    (
        "blend of one song",
        "POST",
        "/api/v1/generate",
        _json({"songs": [str(uuid.uuid4())]}),
        422,
        "songs",
    ),
    (
        "blend of six songs",
        "POST",
        "/api/v1/generate",
        _json({"songs": [str(uuid.uuid4()) for _ in range(6)]}),
        422,
        "songs",
    ),
    (
        "loudness target of +50 LUFS",
        "POST",
        "/api/v1/generate",
        _json({"songs": ["a", "b"], "master": {"target_lufs": 50}}),
        422,
        "target_lufs",
    ),
]


@pytest.mark.parametrize(
    ("case", "method", "url", "kwargs", "status", "says"),
    BAD_REQUESTS,
    ids=[r[0] for r in BAD_REQUESTS],
)
def test_every_bad_request_is_a_4xx_with_a_sentence(
    api: httpx.Client,
    case: str,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    status: int,
    says: str,
) -> None:
    response = api.request(method, url, **kwargs)
    assert response.status_code == status, (case, response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail, case
    assert says.lower() in detail.lower(), (case, detail)


def test_hostile_filenames_are_display_names_never_paths(
    api: httpx.Client, platform: Platform, tmp_path: Path
) -> None:
    tone = write_tone(tmp_path / "t.wav", 0.5)
    names: dict[str, Callable[[str], bool]] = {
        "../../../../etc/cadenza-escape.wav": lambda n: n == "cadenza-escape.wav",
        "..\\..\\windows\\evil.wav": lambda n: n == "evil.wav",
        "nul\x00byte.wav": lambda n: "\x00" not in n,
        "x" * 600 + ".wav": lambda n: len(n) <= 255,
        "\u202etxt.exe.wav": lambda n: "\u202e" not in n,
    }
    for name, ok in names.items():
        response = upload(api, tone, name=name)
        assert response.status_code == 201, (name[:40], response.text)
        assert ok(response.json()["filename"]), response.json()["filename"]
    invalid = api.post(
        "/api/v1/uploads",
        content=(
            b'--B\r\nContent-Disposition: form-data; name="file"; filename="\xff\xfe.wav"\r\n\r\n'
            + tone.read_bytes()
            + b"\r\n--B--\r\n"
        ),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert invalid.status_code == 201, invalid.text
    assert not (Path("/etc") / "cadenza-escape.wav").exists()


async def test_bad_websocket_frames_get_answers_and_the_socket_stays_usable(
    ws_url: str, api: httpx.Client
) -> None:
    async with websockets.connect(ws_url, max_size=None) as ws:
        for frame in (
            "not json",
            "[1,2]",
            '{"action": "rm -rf"}',
            '{"action": "subscribe"}',
            "{" * 5000,
        ):
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            assert reply["type"] == "error" and reply["message"], frame
        await ws.send(b"\x00\x01binary")
        reply = json.loads(await ws.recv())
        assert reply["type"] == "error"
        await ws.send(json.dumps({"action": "subscribe", "job_id": str(uuid.uuid4())}))
        assert "not found" in json.loads(await ws.recv())["message"]
    async with websockets.connect(ws_url, max_size=None) as ws:
        await ws.send("x" * 200_000)  # over the frame limit: the server closes the socket
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_after_the_corpus_storage_holds_nothing_stray_and_others_are_served(
    api: httpx.Client, platform: Platform, tmp_path: Path
) -> None:
    """Runs after the corpus (file order): nothing outside {owner}/..., no partial files,
    and a normal job by another user still completes."""
    root = platform.storage_dir
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        assert not path.name.startswith(".") or path.is_dir(), f"partial file left: {relative}"
        assert ".." not in relative.parts
    stray = list(platform.data_dir.rglob("*cadenza-escape*"))
    assert stray == []
    for service in platform.services.values():
        assert service.process is not None and service.process.poll() is None, service.name
    pair = _account(api)
    tone = write_tone(tmp_path / "fine.wav", 1.0)
    with tone.open("rb") as f:
        made = api.post("/api/v1/uploads", files={"file": ("fine.wav", f)}, headers=pair)
    assert made.status_code == 201
    job = api.post(
        "/api/v1/jobs",
        json={
            "kind": "effects",
            "input": {"upload_id": made.json()["id"]},
            "params": {"chain": [{"type": "gain", "gain_db": -6}]},
        },
        headers=pair,
    ).json()
    with httpx.Client(base_url=str(api.base_url), timeout=60, headers=pair) as as_them:
        assert wait_for_status(as_them, job["id"])["status"] == "completed"


def _account(api: httpx.Client) -> dict[str, str]:
    email = f"after-{uuid.uuid4().hex[:8]}@example.com"
    password = "a perfectly fine password"
    api.post("/api/v1/auth/register", json={"email": email, "password": password})
    token = api.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}
