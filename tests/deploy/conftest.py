"""Offline checks of the deployment files: the Dockerfiles, docker-compose.yml and k8s/.

Nothing here needs a network, a Docker engine or a cluster; the tests' own modules say what
they do need. Shared helpers are in deploy_helpers.py.
"""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must work offline: any connection attempt in this process is an error."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access during an offline test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
