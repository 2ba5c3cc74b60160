"""Projects against the whole platform. The shared mix through to audio: a producer
separates a track in the project, two members set the mix over the project's socket (one
mutes the drums while the other turns the vocals down and pans the bass), and the mix job
renders exactly the sum of the stems the mix lets through, at their gains and pans. And a
private catalog song added into a project: its members read it, no one else does."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import websockets
from pycrdt import Doc, Map

from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

from .conftest import second_gateway, upload, wait_for_status

pytestmark = pytest.mark.platform

PASSWORD = "a long pass phrase for the project"


@pytest.fixture(scope="module")
def accounts_gateway(platform: Platform) -> Iterator[str]:
    # Several sign-ins a test from this address: more than the default sign-in rate allows.
    env = {"AUTH_MODE": "required", "AUTH_RATE_LIMIT_PER_MINUTE": "600"}
    with second_gateway(platform, "gateway-projects", env) as url:
        yield url


@pytest.fixture
def clients() -> Iterator[ExitStack]:
    """Closes every client a test opens, whatever happens in it."""
    with ExitStack() as stack:
        yield stack


def signed_in(clients: ExitStack, base: str, name: str) -> tuple[httpx.Client, str, str]:
    """A client of a new account, its id and its access token."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    client = clients.enter_context(httpx.Client(base_url=base, timeout=60))
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    pair = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
    client.headers["Authorization"] = f"Bearer {pair['access_token']}"
    return client, pair["user"]["id"], pair["access_token"]


async def edit_mix(base: str, project_id: str, token: str, client_id: int, edits: Any) -> None:
    """Connect to the project's room, apply `edits` to the shared mix, wait until accepted."""
    url = f"{base.replace('http', 'ws')}/api/v1/projects/{project_id}/ws?access_token={token}"
    async with websockets.connect(url) as socket:
        snapshot = json.loads(await socket.recv())
        doc: Doc[Any] = Doc(client_id=client_id)
        doc.apply_update(base64.b64decode(snapshot["data"]["mix"]["state"]))
        before = doc.get_state()
        edits(doc.get("tracks", type=Map))
        await socket.send(doc.get_update(before))
        while (message := json.loads(await socket.recv()))["type"] != "mix.accepted":
            assert message["type"] != "error", message


def test_the_shared_mix_renders_the_stems_it_lets_through(
    accounts_gateway: str, tmp_path: Path, clients: ExitStack
) -> None:
    owner, _, owner_token = signed_in(clients, accounts_gateway, "owner")
    producer, producer_id, producer_token = signed_in(clients, accounts_gateway, "producer")
    project = owner.post("/api/v1/projects", json={"name": "Remix night"}).json()["id"]
    invited = owner.post(
        f"/api/v1/projects/{project}/invitations",
        json={"account_id": producer_id, "role": "producer"},
    )
    producer.post(f"/api/v1/invitations/{invited.json()['id']}/accept").raise_for_status()

    track = write_noise(tmp_path / "track.wav", 4, seed=21)
    upload_id = upload(producer, track).json()["id"]
    separation = producer.post(
        "/api/v1/jobs",
        json={
            "kind": "separation",
            "input": {"upload_id": upload_id},
            "params": {"model": "classical"},
            "project_id": project,
        },
    )
    assert separation.status_code == 202, separation.text
    separated = wait_for_status(owner, separation.json()["id"], timeout_s=180)
    assert separated["status"] == "completed", separated
    names = sorted(a["name"] for a in separated["artifacts"] if a["name"].endswith(".wav"))
    assert {"drums.wav", "vocals.wav", "bass.wav"} <= set(names), names

    def mute_drums(tracks: Map[Any]) -> None:
        tracks["drums.wav"] = Map({"mute": True})

    def vocals_down_bass_left(tracks: Map[Any]) -> None:
        tracks["vocals.wav"] = Map({"gain": 0.5})
        tracks["bass.wav"] = Map({"pan": -0.5})

    async def both() -> None:
        await asyncio.gather(
            edit_mix(accounts_gateway, project, owner_token, 11, mute_drums),
            edit_mix(accounts_gateway, project, producer_token, 12, vocals_down_bass_left),
        )

    asyncio.run(both())
    mix = owner.get(f"/api/v1/projects/{project}/mix").json()
    assert mix["seq"] == 2
    assert mix["tracks"]["drums.wav"]["mute"] is True
    assert mix["tracks"]["vocals.wav"]["gain"] == 0.5
    assert mix["tracks"]["bass.wav"]["pan"] == -0.5

    started = producer.post(
        f"/api/v1/projects/{project}/mix/jobs", json={"job_id": separated["id"]}
    )
    assert started.status_code == 202, started.text
    mixed = wait_for_status(owner, started.json()["id"], timeout_s=120)
    assert mixed["status"] == "completed", mixed
    (artifact,) = mixed["artifacts"]

    def audio(job_id: str, name: str) -> np.ndarray:
        got = owner.get(f"/api/v1/jobs/{job_id}/artifacts/{name}", follow_redirects=True)
        assert got.status_code == 200, got.text
        data, _ = sf.read(io.BytesIO(got.content), dtype="float32", always_2d=True)
        return np.asarray(data, dtype=np.float32)

    expected = np.zeros_like(audio(separated["id"], names[0]))
    for name in names:
        if name == "drums.wav":
            continue
        stem = audio(separated["id"], name)
        gain = 0.5 if name == "vocals.wav" else 1.0
        pan = -0.5 if name == "bass.wav" else 0.0
        left, right = min(1.0, 1.0 - pan), min(1.0, 1.0 + pan)
        expected[:, 0] += stem[:, 0] * left * gain
        expected[:, 1] += stem[:, 1] * right * gain
    rendered = audio(mixed["id"], artifact["name"])
    assert rendered.shape == expected.shape
    difference = float(np.abs(rendered - np.clip(expected, -1, 1)).max())
    print(f"\nshared mix → mix job: max difference from the stems' sum {difference:.2e}")
    assert difference < 1e-3, difference  # 16-bit output


def test_a_song_added_into_a_project_is_its_members_and_no_one_elses(
    accounts_gateway: str, clients: ExitStack
) -> None:
    owner, _, _ = signed_in(clients, accounts_gateway, "owner")
    producer, producer_id, _ = signed_in(clients, accounts_gateway, "producer")
    reviewer, reviewer_id, _ = signed_in(clients, accounts_gateway, "reviewer")
    stranger, _, _ = signed_in(clients, accounts_gateway, "stranger")
    project = owner.post("/api/v1/projects", json={"name": "Songbook"}).json()["id"]
    for member, role in ((producer_id, "producer"), (reviewer_id, "reviewer")):
        invited = owner.post(
            f"/api/v1/projects/{project}/invitations", json={"account_id": member, "role": role}
        ).json()
        client = producer if member == producer_id else reviewer
        client.post(f"/api/v1/invitations/{invited['id']}/accept").raise_for_status()

    title = f"Band Rehearsal {uuid.uuid4().hex[:6]}"
    midi = song_midi(seed=5)
    files = {"midi": ("rehearsal.mid", midi, "audio/midi")}
    refused = reviewer.post(
        "/api/v1/songs", params={"project_id": project}, files=files, data={"title": title}
    )
    assert refused.status_code == 403, refused.text
    added = producer.post(
        "/api/v1/songs",
        params={"project_id": project, "wait": "60"},
        files=files,
        data={"title": title},
    )
    assert added.status_code == 201, added.text
    song = added.json()["song"]
    assert song["project_id"] == project and song["public"] is False
    for reader in (owner, reviewer):
        assert reader.get(f"/api/v1/songs/{song['id']}").status_code == 200
        found = reader.get("/api/v1/songs", params={"q": title}).json()["items"]
        assert song["id"] in [hit["song"]["id"] for hit in found]
    assert stranger.get(f"/api/v1/songs/{song['id']}").status_code == 404
    found = stranger.get("/api/v1/songs", params={"q": title}).json()["items"]
    assert song["id"] not in [hit["song"]["id"] for hit in found]
    # Removed from the project, a member no longer reads its songs.
    owner.delete(f"/api/v1/projects/{project}/members/{reviewer_id}").raise_for_status()
    assert reviewer.get(f"/api/v1/songs/{song['id']}").status_code == 404
