"""The loopback cluster the fault tests kill nodes of is configured as the production one
(k8s/components/nats-cluster/nats.conf) in what the results depend on."""

from __future__ import annotations

import re
from pathlib import Path

from cadenza.devstack.nats_cluster import CLUSTER_NAME, NatsCluster

PRODUCTION = Path(__file__).parents[3] / "k8s" / "components" / "nats-cluster" / "nats.conf"


def _setting(config: str, name: str) -> str:
    found = re.search(rf"^\s*{name}:\s*(\S+)\s*$", config, re.MULTILINE)
    assert found, f"{name} not set"
    return found.group(1)


def _routes(config: str) -> list[str]:
    block = re.search(r"routes:\s*\[(.*?)\]", config, re.DOTALL)
    assert block
    return re.findall(r"nats-route://\S+", block.group(1))


def test_the_loopback_cluster_is_configured_as_production(tmp_path: Path) -> None:
    production = PRODUCTION.read_text()
    cluster = NatsCluster(tmp_path)
    configs = [node._config().read_text() for node in cluster.nodes]
    for index, config in enumerate(configs):
        # What an acknowledged publish means, and one cluster of three routed nodes.
        assert _setting(config, "sync_interval") == _setting(production, "sync_interval")
        assert _setting(config, "sync_interval") == "always"
        assert _setting(config, "name") == _setting(production, "name") == CLUSTER_NAME
        assert len(_routes(config)) == len(_routes(production)) == 3
        assert _setting(config, "server_name") == cluster.name_of(index)
        # Where it differs on purpose: accounts (CADENZA for the services, TAP to listen);
        # production's single global account is the Kubernetes part's to change.
        assert "CADENZA" in config and "accounts" not in production
    assert len({_setting(config, "listen") for config in configs}) == 3
    assert all(node.password == cluster.password for node in cluster.nodes)
    assert cluster.url.count(",") == 2 and cluster.url.count(cluster.password) == 3
