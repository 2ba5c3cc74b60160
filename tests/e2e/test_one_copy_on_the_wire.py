"""Each event goes out on the wire once. While an effects job and a pipeline job (separation →
effects per stem) run:

- a plain nats-py subscriber on `>` at the address `make run` prints (no credentials: the
  read-only TAP account) hears every event of both jobs exactly once;
- a `>` subscriber inside the services' own account sees every event id published exactly
  once and, besides the publish, JetStream handing each stored event to each durable consumer
  that takes it, on that consumer's own inbox (which `>` matches there): a fact once, to the
  gateway's projection; a command twice, to its worker and to the projection (a job's history
  shows its commands). Nothing else: no second publish, no redelivery, no other consumer;
- a subscriber of the gateway's live-feed subjects receives each fact once."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from nats.aio.msg import Msg

from cadenza.contracts.consumers import COMMAND_CONSUMERS, LIVE_SUBJECTS, PROJECTION_CONSUMERS
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise

from .conftest import follow, upload

pytestmark = pytest.mark.platform

PIPELINE_ENDINGS = ("project.completed", "project.failed", "error")
# Longer than the outbox relay's grace plus its period: a relayed copy would have come.
SETTLE_S = 9.0
WORKER_DURABLES = {c.command.subject: c.durable for c in COMMAND_CONSUMERS}
PROJECTION_DURABLES = {c.durable for c in PROJECTION_CONSUMERS}


@dataclass
class Copy:
    subject: str
    event_id: str
    job_id: str
    # A JetStream delivery's reply subject is $JS.ACK.<stream>.<consumer>.<delivered>.…;
    # a publish's is the publisher's inbox for the PubAck.
    consumer: str | None
    delivered: int | None


@dataclass
class Listener:
    copies: list[Copy] = field(default_factory=list)

    async def record(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
        except ValueError:
            return  # not an event (a PubAck, a pull request, …)
        if not (isinstance(body, dict) and "event_id" in body and "job_id" in body):
            return
        consumer = delivered = None
        if msg.reply.startswith("$JS.ACK."):
            tokens = msg.reply.split(".")
            consumer, delivered = tokens[3], int(tokens[4])
        self.copies.append(Copy(msg.subject, body["event_id"], body["job_id"], consumer, delivered))

    def of(self, job_ids: set[str]) -> list[Copy]:
        return [c for c in self.copies if c.job_id in job_ids]


async def test_each_event_is_published_once_and_delivered_once_per_consumer(
    platform: Platform, api: httpx.Client, ws_url: str, tmp_path: Path
) -> None:
    everything, live, plain = Listener(), Listener(), Listener()
    wire = await nats.connect(platform.nats.url, name="wire-listener")
    tap = await nats.connect(platform.nats.tap_url, name="plain-listener")
    try:
        await tap.subscribe(">", cb=plain.record)
        await tap.flush()
        await wire.subscribe(">", cb=everything.record)
        for subject in LIVE_SUBJECTS:  # what each gateway replica's live feed subscribes
            await wire.subscribe(subject, cb=live.record)
        await wire.flush()

        # Long enough for the workers to report progress.
        upload_id = upload(api, write_noise(tmp_path / "music.wav", 30.0)).json()["id"]
        chain = [{"type": "gain", "gain_db": -3}]
        effects = api.post(
            "/api/v1/jobs",
            json={"kind": "effects", "input": {"upload_id": upload_id}, "params": {"chain": chain}},
        )
        assert effects.status_code == 202, effects.text
        pipeline = api.post(
            "/api/v1/jobs",
            json={
                "kind": "pipeline",
                "input": {"upload_id": upload_id},
                "steps": [
                    {"kind": "separation", "params": {"model": "classical"}},
                    {"kind": "effects", "params": {"chains": {"vocals": chain}}},
                ],
            },
        )
        assert pipeline.status_code == 202, pipeline.text
        ended = await follow(ws_url, effects.json()["id"], 180)
        assert ended[-1]["type"] == "job.completed", ended[-1]
        ended = await follow(ws_url, pipeline.json()["id"], 300, PIPELINE_ENDINGS)
        assert ended[-1]["type"] == "project.completed", ended[-1]
        await asyncio.sleep(SETTLE_S)
        await wire.flush()
        await tap.flush()
    finally:
        await wire.close()
        await tap.close()

    job_ids = {effects.json()["id"], pipeline.json()["id"]}
    seen = everything.of(job_ids)
    subject_of = {c.event_id: c.subject for c in seen}
    published = Counter(c.event_id for c in seen if c.consumer is None)
    twice = {f"{subject_of[i]} {i}": n for i, n in published.items() if n != 1}
    assert not twice, f"events published more than once: {twice}"
    assert set(published) == set(subject_of), "every event delivered was published"

    consumers: defaultdict[str, list[str]] = defaultdict(list)
    for c in seen:
        if c.consumer is not None:
            assert c.delivered == 1, f"{c.subject} {c.event_id} redelivered to {c.consumer}"
            consumers[c.event_id].append(c.consumer)
    for event_id, subject in subject_of.items():
        taken = consumers[event_id]
        assert len(taken) == len(set(taken)), f"{subject} {event_id} twice to one consumer"
        # The gateway reads each event once (its projection, which also queues webhook
        # deliveries); a command also goes to its own worker and no other.
        worker = WORKER_DURABLES.get(subject)
        gateway = [d for d in taken if d in PROJECTION_DURABLES]
        assert len(gateway) == 1, (subject, taken)
        assert set(taken) == {gateway[0], *([worker] if worker else [])}, (subject, taken)

    heard = Counter(c.event_id for c in plain.of(job_ids))
    assert heard == dict.fromkeys(subject_of, 1), "a plain `>` subscriber hears each event once"
    assert all(c.consumer is None for c in plain.copies), "no JetStream delivery reaches it"

    live_copies = Counter(c.event_id for c in live.of(job_ids))
    facts = {i for i, s in subject_of.items() if not s.endswith(".requested")}
    assert live_copies == dict.fromkeys(facts, 1), "the live feed hears each fact once"

    kinds = Counter(subject_of.values())
    # Both jobs were accepted, requested, worked and finished, each step once.
    assert kinds["job.submitted"] == 2
    assert kinds["effects.requested"] == 2 and kinds["effects.completed"] == 2
    assert kinds["separation.requested"] == 1 and kinds["separation.completed"] == 1
    assert kinds["job.progress"] >= 1
    print(  # the figures for the record: publishes, deliveries, live copies
        f"{len(subject_of)} events: {sum(heard.values())} heard by a plain `>` subscriber,"
        f" {sum(published.values())} publishes,"
        f" {sum(len(t) for t in consumers.values())} consumer deliveries,"
        f" {sum(live_copies.values())} live-feed copies; by subject {dict(kinds)}"
    )
