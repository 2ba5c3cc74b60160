"""What the running services' /metrics say, parsed as Prometheus parses them: each service
exports its own families and no `_created` series, names follow the naming guide, and one
effects job is one `cadenza_jobs_total` count."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

from .conftest import upload, wait_for_status

pytestmark = pytest.mark.platform

WORKER_FAMILIES = {
    "cadenza_jobs",
    "cadenza_job_retries",
    "cadenza_job_duration_seconds",
    "cadenza_job_failures",
    "cadenza_job_turn_wait_seconds",
    "cadenza_audio_processed_seconds",
}
GATEWAY_FAMILIES = {
    "cadenza_http_requests",
    "cadenza_http_request_duration_seconds",
    "cadenza_jobs_submitted",
    "cadenza_jobs_finished",
    "cadenza_job_end_to_end_seconds",
    "cadenza_projection_events",
    "cadenza_outbox_pending_events",
    "cadenza_consumer_pending_messages",
}
# Units the naming guide wants as the last word (before `_total` for counters).
UNITS = ("seconds", "bytes", "messages", "events", "connections", "subscriptions", "sessions")


def scrape(url: str) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    """family name → (type, samples) of what `url` answers."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        family.name: (family.type, [(s.name, s.labels, s.value) for s in family.samples])
        for family in text_string_to_metric_families(response.text)
    }


def ours(families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]) -> set[str]:
    return {name for name in families if name.startswith("cadenza_")}


def check_names(families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]) -> None:
    for name, (kind, samples) in families.items():
        assert not any(s[0].endswith("_created") for s in samples), f"{name} has _created"
        if not name.startswith("cadenza_"):
            continue
        assert re.fullmatch(r"cadenza(_[a-z0-9]+)+", name), name
        if kind == "counter":
            assert all(s[0] == f"{name}_total" for s in samples), name
        elif kind == "histogram":
            assert name.endswith((*UNITS, "segments")), f"histogram {name} names no unit"
        elif kind == "gauge":
            assert name.endswith(UNITS), f"gauge {name} names no unit"


def completed(families: dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]) -> float:
    _, samples = families.get("cadenza_jobs", ("counter", []))
    return sum(
        v for n, labels, v in samples if labels == {"stage": "effects", "outcome": "completed"}
    )


def test_each_service_exports_its_own_families_by_the_naming_guide(
    platform: Platform, api: httpx.Client, tmp_path: Path
) -> None:
    worker_url = f"http://127.0.0.1:{platform.services['effects'].port}/metrics"
    before = completed(scrape(worker_url))
    upload_id = upload(api, write_tone(tmp_path / "t.wav", 1.0)).json()["id"]
    job = api.post(
        "/api/v1/jobs",
        json={
            "kind": "effects",
            "input": {"upload_id": upload_id},
            "params": {"chain": [{"type": "gain", "gain_db": -3}]},
        },
    ).json()
    assert wait_for_status(api, job["id"])["status"] == "completed"

    gateway = scrape(f"{platform.url}/metrics")
    check_names(gateway)
    assert ours(gateway) >= GATEWAY_FAMILIES, GATEWAY_FAMILIES - ours(gateway)
    assert not ours(gateway) & WORKER_FAMILIES, "the gateway exports worker families"

    worker = scrape(worker_url)
    check_names(worker)
    assert ours(worker) >= WORKER_FAMILIES, WORKER_FAMILIES - ours(worker)
    assert not ours(worker) & GATEWAY_FAMILIES, "a worker exports gateway families"
    # One job, one count (other tests may run jobs too, but not while this one waits).
    assert completed(worker) - before == 1
    for name in ("catalog", "separation", "render", "composition"):
        other = scrape(f"http://127.0.0.1:{platform.services[name].port}/metrics")
        check_names(other)
        assert ours(other) >= WORKER_FAMILIES, name
        assert not ours(other) & GATEWAY_FAMILIES, name
