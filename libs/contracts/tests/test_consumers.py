"""The consumers every service subscribes as: one worker consumer per command, names that
cannot collide, and streams that hold what they filter."""

from __future__ import annotations

from collections import Counter

from cadenza.contracts.consumers import (
    COMMAND_CONSUMERS,
    LIVE_SUBJECTS,
    PROJECTION_CONSUMERS,
)
from cadenza.contracts.registry import EVENT_TYPES
from cadenza.contracts.streams import ALL_STREAMS, subject_matches


def test_every_command_has_exactly_one_worker_consumer() -> None:
    commands = [e for e in EVENT_TYPES if e.subject.endswith(".requested")]
    assert sorted(c.command.subject for c in COMMAND_CONSUMERS) == sorted(
        e.subject for e in commands
    )


def test_durable_names_and_titles_are_unique() -> None:
    durables = [c.durable for c in COMMAND_CONSUMERS] + [p.durable for p in PROJECTION_CONSUMERS]
    titles = [c.title for c in COMMAND_CONSUMERS] + [p.title for p in PROJECTION_CONSUMERS]
    assert [n for n, k in Counter(durables).items() if k > 1] == []
    assert [n for n, k in Counter(titles).items() if k > 1] == []


def test_a_worker_answers_on_its_commands_stream() -> None:
    for consumer in COMMAND_CONSUMERS:
        for fact in (consumer.completed, consumer.failed):
            assert any(subject_matches(p, fact.subject) for p in consumer.stream.subjects)


def test_the_gateway_projects_every_subject_of_every_stream() -> None:
    filters = {(p.stream.name, p.filter_subject) for p in PROJECTION_CONSUMERS}
    assert filters == {(s.name, pattern) for s in ALL_STREAMS for pattern in s.subjects}
    assert "gateway-projection-catalog-1" in {p.durable for p in PROJECTION_CONSUMERS}


def test_the_live_feed_hears_facts_only() -> None:
    heard = {
        e.subject for e in EVENT_TYPES if any(subject_matches(s, e.subject) for s in LIVE_SUBJECTS)
    }
    assert heard == {e.subject for e in EVENT_TYPES if not e.subject.endswith(".requested")}


def test_subject_matches_wildcards() -> None:
    assert subject_matches("job.>", "job.progress")
    assert not subject_matches("job.>", "job")
    assert subject_matches("render.*.requested", "render.mix.requested")
    assert not subject_matches("render.*.requested", "render.requested")
