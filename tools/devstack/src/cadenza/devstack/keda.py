"""KEDA's `nats-jetstream` scaler and the HorizontalPodAutoscaler it drives, as plain code.

The rule is read from the manifests (the ScaledObjects that `kubectl kustomize` renders from
k8s/), never copied: thresholds, replica bounds, polling interval, cooldown period, and the
target Deployment's terminationGracePeriodSeconds. What it does, and where each part comes
from (docs/autoscaling.md says the same for readers):

- Metric, per trigger (KEDA pkg/scalers/nats_jetstream_scaler.go, getMaxMsgLag): the
  consumer's `num_pending + num_ack_pending` from the monitoring endpoint's
  `/jsz?acc=<account>&consumers=true&config=true`; while the consumer does not exist yet,
  the stream's `last_seq`. Active when the lag is above `activationLagThreshold`.
- KEDA's loop, every `pollingInterval`: any trigger active at 0 replicas → scale to
  max(minReplicaCount, 1); no trigger active for `cooldownPeriod` since the last active
  poll → scale to minReplicaCount (0 here).
- Between 1 and maxReplicaCount the HPA decides (KEDA creates it with minReplicas
  max(minReplicaCount, 1) and one External metric per trigger, target type AverageValue =
  lagThreshold). Every 15 s (kube-controller-manager's default sync period), per metric:
  ratio = lag / (lagThreshold × replicas); inside the 0.1 tolerance keep the count, else
  ceil(lag / lagThreshold); the largest proposal wins. Scaling up is immediate, at most
  max(2 × replicas, replicas + 4) per sync (HPA's default scaleUp policies); scaling down
  takes the highest recommendation of the last 300 s (default scaleDown stabilization).

`time_scale` divides every period (polling, cooldown, HPA sync, stabilization) to replay
the same decisions faster; the thresholds and replica bounds never change.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

# KEDA's defaults where a ScaledObject leaves a field out (keda.sh ScaledObject spec) and the
# scaler's where a trigger does (defaultJetStreamLagThreshold).
KEDA_DEFAULT_POLLING_S = 30
KEDA_DEFAULT_COOLDOWN_S = 300
KEDA_DEFAULT_MAX_REPLICAS = 100
SCALER_DEFAULT_LAG_THRESHOLD = 10
# The HPA's defaults (kube-controller-manager flags and autoscaling/v2 behavior defaults).
HPA_SYNC_S = 15.0
HPA_TOLERANCE = 0.1
HPA_SCALE_DOWN_STABILIZATION_S = 300.0
# A Pod's default when its spec sets no terminationGracePeriodSeconds.
K8S_DEFAULT_GRACE_S = 30


@dataclass(frozen=True)
class Trigger:
    """One `nats-jetstream` trigger of a ScaledObject."""

    account: str
    stream: str
    consumer: str
    lag_threshold: int
    activation_lag_threshold: int


@dataclass(frozen=True)
class ScaledObject:
    name: str
    deployment: str
    min_replicas: int
    max_replicas: int
    polling_interval_s: float
    cooldown_period_s: float
    triggers: tuple[Trigger, ...]
    # The target Deployment's pod spec: how long a pod has between SIGTERM and SIGKILL.
    termination_grace_s: float

    def with_account(self, account: str) -> ScaledObject:
        """The same rule for a NATS server whose services use another account."""
        triggers = tuple(
            Trigger(account, t.stream, t.consumer, t.lag_threshold, t.activation_lag_threshold)
            for t in self.triggers
        )
        return ScaledObject(
            self.name,
            self.deployment,
            self.min_replicas,
            self.max_replicas,
            self.polling_interval_s,
            self.cooldown_period_s,
            triggers,
            self.termination_grace_s,
        )


def kubectl_binary() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("kubectl not found: make install puts it in .venv/bin")
    return found


def render(kustomization: Path) -> list[dict[str, Any]]:
    """The manifests `kubectl kustomize` renders from a directory (k8s/base, an overlay)."""
    result = subprocess.run(
        [kubectl_binary(), "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def scaled_objects(manifests: list[dict[str, Any]]) -> dict[str, ScaledObject]:
    """Every ScaledObject whose triggers are all `nats-jetstream`, by name."""
    grace = {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"].get(
            "terminationGracePeriodSeconds", K8S_DEFAULT_GRACE_S
        )
        for doc in manifests
        if doc.get("kind") == "Deployment"
    }
    found: dict[str, ScaledObject] = {}
    for doc in manifests:
        if doc.get("kind") != "ScaledObject":
            continue
        spec = doc["spec"]
        if any(t["type"] != "nats-jetstream" for t in spec["triggers"]):
            continue
        deployment = spec["scaleTargetRef"]["name"]
        triggers = tuple(
            Trigger(
                account=str(meta.get("account", "$G")),
                stream=str(meta["stream"]),
                consumer=str(meta["consumer"]),
                lag_threshold=int(meta.get("lagThreshold", SCALER_DEFAULT_LAG_THRESHOLD)),
                activation_lag_threshold=int(meta.get("activationLagThreshold", 0)),
            )
            for meta in (t["metadata"] for t in spec["triggers"])
        )
        found[doc["metadata"]["name"]] = ScaledObject(
            name=doc["metadata"]["name"],
            deployment=deployment,
            min_replicas=int(spec.get("minReplicaCount", 0)),
            max_replicas=int(spec.get("maxReplicaCount", KEDA_DEFAULT_MAX_REPLICAS)),
            polling_interval_s=float(spec.get("pollingInterval", KEDA_DEFAULT_POLLING_S)),
            cooldown_period_s=float(spec.get("cooldownPeriod", KEDA_DEFAULT_COOLDOWN_S)),
            triggers=triggers,
            termination_grace_s=float(grace.get(deployment, K8S_DEFAULT_GRACE_S)),
        )
    return found


def jsz(monitoring_url: str, account: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """What the scaler reads: one account's streams and consumers."""
    response = httpx.get(
        f"{monitoring_url}/jsz",
        params={"acc": account, "consumers": "true", "config": "true"},
        timeout=timeout_s,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def consumer_lag(report: dict[str, Any], trigger: Trigger) -> int | None:
    """The scaler's metric: num_pending + num_ack_pending of the consumer, the stream's
    last sequence while the consumer does not exist, None when the stream does not (KEDA
    then reports an error and does not scale on this trigger)."""
    for account in report.get("account_details") or []:
        if account.get("name") != trigger.account:
            continue
        for stream in account.get("stream_detail") or []:
            if stream.get("name") != trigger.stream:
                continue
            for consumer in stream.get("consumer_detail") or []:
                if consumer.get("name") == trigger.consumer:
                    return int(consumer.get("num_pending", 0)) + int(
                        consumer.get("num_ack_pending", 0)
                    )
            return int(stream.get("state", {}).get("last_seq", 0))
    return None


@dataclass
class Autoscaler:
    """KEDA and the HPA for one ScaledObject. Feed it lags with `tick(now, lags)`; it says
    how many replicas there should be. `now` is in seconds on any monotonic clock."""

    rule: ScaledObject
    time_scale: float = 1.0
    replicas: int = 0
    last_active: float | None = None
    _next_poll: float | None = field(default=None, init=False)
    _next_sync: float | None = field(default=None, init=False)
    _recommendations: deque[tuple[float, int]] = field(default_factory=deque, init=False)
    # What happened, for the record: (now, from, to, why).
    decisions: list[tuple[float, int, int, str]] = field(default_factory=list, init=False)

    def _period(self, seconds: float) -> float:
        return seconds / self.time_scale

    @property
    def hpa_min(self) -> int:
        return max(self.rule.min_replicas, 1)

    def _set(self, now: float, replicas: int, why: str) -> None:
        if replicas != self.replicas:
            self.decisions.append((now, self.replicas, replicas, why))
            self.replicas = replicas

    def tick(self, now: float, lags: dict[str, int | None]) -> int:
        """`lags`: consumer name → lag (None: not readable). Runs KEDA's poll and the HPA's
        sync when they are due; returns the replica count."""
        if self._next_poll is None or now >= self._next_poll:
            self._next_poll = now + self._period(self.rule.polling_interval_s)
            self._keda_poll(now, lags)
        if self._next_sync is None:
            # The HPA's clock is its own: its first sync comes half a period after KEDA's
            # first poll (any phase would do; this one shows the activation step).
            self._next_sync = now + self._period(HPA_SYNC_S) / 2
        if now >= self._next_sync:
            self._next_sync = now + self._period(HPA_SYNC_S)
            self._hpa_sync(now, lags)
        return self.replicas

    def _keda_poll(self, now: float, lags: dict[str, int | None]) -> None:
        active = any(
            (lag := lags.get(t.consumer)) is not None and lag > t.activation_lag_threshold
            for t in self.rule.triggers
        )
        if active:
            self.last_active = now
            if self.replicas == 0:
                self._set(now, max(self.rule.min_replicas, 1), "activated: lag above activation")
            return
        cooled = self.last_active is None or now - self.last_active >= self._period(
            self.rule.cooldown_period_s
        )
        if self.replicas > self.rule.min_replicas and self.rule.min_replicas == 0 and cooled:
            self._set(now, 0, "cooldown period over with no activity")

    def _proposal(self, trigger: Trigger, lag: int) -> int:
        ratio = lag / (trigger.lag_threshold * self.replicas)
        if abs(1.0 - ratio) <= HPA_TOLERANCE:
            return self.replicas
        return math.ceil(lag / trigger.lag_threshold)

    def _hpa_sync(self, now: float, lags: dict[str, int | None]) -> None:
        if self.replicas == 0:
            return  # the HPA does not act on a target scaled to zero: KEDA does
        proposals = [
            self._proposal(t, lag)
            for t in self.rule.triggers
            if (lag := lags.get(t.consumer)) is not None
        ]
        if not proposals:
            return
        desired = min(max(max(proposals), self.hpa_min), self.rule.max_replicas)
        window = self._period(HPA_SCALE_DOWN_STABILIZATION_S)
        self._recommendations.append((now, desired))
        while self._recommendations and self._recommendations[0][0] < now - window:
            self._recommendations.popleft()
        if desired > self.replicas:
            limit = max(2 * self.replicas, self.replicas + 4)
            self._set(now, min(desired, limit), "HPA: lag per replica above lagThreshold")
        elif desired < self.replicas:
            stabilized = max(rec for _, rec in self._recommendations)
            if stabilized < self.replicas:
                self._set(now, stabilized, "HPA: lower for the whole stabilization window")
