"""What the brokers log goes through the service's handlers, less FastStream's supervisor
reports of a pull loop restarted after an empty fetch (asyncio's TimeoutError from nats-py)."""

from __future__ import annotations

import logging

import pytest
from nats.errors import ConnectionClosedError

from cadenza.runtime.bus import broker_logger

RESTART = (
    "Task-21 raised an exception, retrying...\n"
    "If this behavior causes issues, you can disable it via setting the "
    "FASTSTREAM_SUPERVISOR_DISABLED env to 1."
)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as e:
        return e


def test_an_empty_fetchs_restart_is_left_out_and_every_other_record_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = broker_logger()
    assert broker_logger() is logger and len(logger.filters) == 1, "one filter, however asked"
    with caplog.at_level(logging.DEBUG):
        logger.error(RESTART, exc_info=raised(TimeoutError()))
        logger.info("callback for Task-21 is being executed...")
        logger.error(RESTART, exc_info=raised(ConnectionClosedError()))
        logger.error(RESTART, exc_info=raised(ValueError("a handler's bug")))
        logger.warning("Connection to NATS lost; reconnecting")
    kept = [
        (r.levelno, type(r.exc_info[1]).__name__ if r.exc_info else None) for r in caplog.records
    ]
    assert kept == [
        (logging.ERROR, "ConnectionClosedError"),
        (logging.ERROR, "ValueError"),
        (logging.WARNING, None),
    ]
    assert all(r.name == "cadenza.bus.faststream" for r in caplog.records)
