"""The KEDA ScaledObjects: valid against KEDA's CRD schema (KEDA's own types, compiled by
the @kubernetes-models/keda npm package that `make install` puts under .tools/node), and
their triggers name streams and consumers the services really use."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cadenza.contracts.consumers import COMMAND_CONSUMERS
from cadenza.contracts.streams import ALL_STREAMS

from .deploy_helpers import ROOT
from .test_kubernetes import KEDA_API, LAG_SCALED, OVERLAYS, render

NODE_MODULES = ROOT / ".tools" / "node" / "node_modules"
VALIDATOR = Path(__file__).with_name("keda_validate.mjs")
# What a ScaledObject's spec may hold (KEDA 2.x), and a nats-jetstream trigger's metadata.
SPEC_FIELDS = {
    "scaleTargetRef",
    "pollingInterval",
    "initialCooldownPeriod",
    "cooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
NATS_METADATA = {
    "natsServerMonitoringEndpoint",
    "account",
    "stream",
    "consumer",
    "lagThreshold",
    "activationLagThreshold",
    "useHttps",
}
# The durable consumers the workers create, from the declarations they subscribe with.
CONSUMERS = {
    service: {c.durable for c in COMMAND_CONSUMERS if c.service == service}
    for service in ("separation", "render")
}


def validate(objects: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert (NODE_MODULES / "@kubernetes-models" / "keda").is_dir(), (
        "KEDA's schema is missing: run `make install` (it installs @kubernetes-models/keda)"
    )
    file = tmp_path / "objects.json"
    file.write_text(json.dumps(objects))
    return subprocess.run(
        ["node", str(VALIDATOR), str(NODE_MODULES), str(file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def scaled_objects(overlay: str) -> list[dict[str, Any]]:
    return [o for o in render(f"overlays/{overlay}") if o["apiVersion"] == KEDA_API]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_scaled_objects_match_kedas_schema(overlay: str, tmp_path: Path) -> None:
    objects = scaled_objects(overlay)
    assert sorted(o["metadata"]["name"] for o in objects) == sorted(LAG_SCALED)
    done = validate(objects, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for o in objects:
        assert set(o["spec"]) <= SPEC_FIELDS, set(o["spec"]) - SPEC_FIELDS


def test_the_schema_check_catches_mistakes(tmp_path: Path) -> None:
    broken = copy.deepcopy(scaled_objects("prod")[0])
    broken["spec"]["minReplicaCount"] = "zero"
    done = validate([broken], tmp_path)
    assert done.returncode == 1
    assert "minReplicaCount must be integer" in done.stdout


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_triggers_watch_the_services_real_consumers(overlay: str) -> None:
    streams = {s.name for s in ALL_STREAMS}
    namespace = {"dev": "cadenza-dev", "prod": "cadenza"}[overlay]
    for o in scaled_objects(overlay):
        name = o["metadata"]["name"]
        triggers = o["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"nats-jetstream"}
        assert {t["metadata"]["consumer"] for t in triggers} == CONSUMERS[name]
        for t in triggers:
            meta = t["metadata"]
            assert set(meta) <= NATS_METADATA, set(meta) - NATS_METADATA
            assert meta["stream"] in streams
            # KEDA's operator runs in its own namespace: the endpoint is fully qualified.
            assert (
                meta["natsServerMonitoringEndpoint"] == f"nats.{namespace}.svc.cluster.local:8222"
            )
            assert int(meta["lagThreshold"]) >= 1
