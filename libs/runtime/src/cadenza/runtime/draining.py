"""A worker's way out on SIGTERM (a scale-in, a rollout): nothing it holds waits on AckWait.

Without this, a stopping worker kept the commands it had fetched but not started (up to
FAIR_WINDOW of them) heartbeated for the whole graceful timeout, then dropped them without a
nak, so they came back only after AckWait: a minute or more before another replica could
start them. Now, in order:

1. it stops fetching: each command consumer closes its inbox subscription
   (`PullConsumer.stop_fetching`), so nats-server delivers nothing more to this process (a
   pending pull request whose reply subject has no interest is not served;
   libs/runtime/tests/test_draining.py checks it), and a message already on its way goes
   straight back;
2. what it holds but has not started goes back at once (nak without delay): another
   replica takes it on its next fetch;
3. the command at work gets `work_grace_s` to finish; then it stops at its next checkpoint
   and goes back the same way, so the process ends well within Kubernetes'
   terminationGracePeriodSeconds.

A hand-back uses one delivery (JetStream counts redeliveries against max_deliver); on its
last delivery a command is not handed back but kept, and finishes if it can.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# After the work's grace, how long a handler has to hand its command back and return.
HAND_BACK_S = 5.0


class HandedBackError(Exception):
    """The worker is stopping: this command goes back to JetStream for another replica."""


class Draining:
    """Whether this worker is stopping (`started`), and whether the work in hand must stop
    too (`abandoned`). Read from the event loop and from work threads (plain flags)."""

    def __init__(self) -> None:
        self.started = False
        self.abandoned = False

    def begin(self) -> None:
        self.started = True

    def abandon(self) -> None:
        if not self.abandoned:
            log.warning("the work in hand did not finish within its grace: handing it back")
        self.abandoned = True

    def check_not_started(self) -> None:
        """For a command not yet at work: raise once the worker is stopping."""
        if self.started:
            raise HandedBackError("the worker is stopping before this command's turn")

    def check_not_abandoned(self) -> None:
        """For the work in hand: raise once its grace is over."""
        if self.abandoned:
            raise HandedBackError("the worker is stopping and the work's grace is over")
