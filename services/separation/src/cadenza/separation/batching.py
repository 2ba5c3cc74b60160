"""One thread owns the device and runs every forward pass of the process.

Jobs submit segments and get futures. The thread takes the oldest request, then, for up to
`wait_s`, gathers more requests for the same model and segment shape, from any job, up to
`batch_size`, and runs them as one batch. On a GPU that turns several jobs' segments into
one forward pass; on a CPU `batch_size` is 1 and it is simply the model's thread. Each job's
segments come back as soon as their batch finishes, so jobs complete in the order their
segments do.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from prometheus_client import Counter, Histogram
from torch.nn.modules.module import register_module_forward_pre_hook

log = logging.getLogger(__name__)

BATCHES = Histogram(
    "cadenza_separation_batch_segments",
    "Segments per forward pass",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
)
SEGMENTS = Counter("cadenza_separation_segments_total", "Segments separated")


# How often, at most, a forward pass asks whether its jobs were cancelled.
STOP_CHECK_S = 0.05


class SegmentCancelledError(Exception):
    """Every job a forward pass was for was cancelled: the pass stopped midway."""


@dataclass
class _Request:
    model: torch.nn.Module
    segment: torch.Tensor
    # Whether the job this segment is for no longer wants it (None: never asked).
    stopped: Callable[[], bool] | None = None
    future: Future[torch.Tensor] = field(default_factory=Future)

    @property
    def key(self) -> tuple[int, tuple[int, ...]]:
        return id(self.model), tuple(self.segment.shape)


@contextmanager
def _stoppable(batch: list[_Request]) -> Iterator[None]:
    """While the block runs, every layer's forward first checks (at most every STOP_CHECK_S)
    whether all of the batch's jobs are stopped, and ends the pass if so. The hook is the
    process's, for this thread's pass only: the batcher is the one thread that runs models."""
    checks = [r.stopped for r in batch]
    if any(check is None for check in checks):
        yield
        return
    if all(check() for check in checks if check is not None):
        raise SegmentCancelledError
    owner = threading.get_ident()
    last = time.monotonic()

    def before_layer(module: torch.nn.Module, args: object) -> None:
        nonlocal last
        if threading.get_ident() != owner or time.monotonic() - last < STOP_CHECK_S:
            return
        last = time.monotonic()
        if all(check() for check in checks if check is not None):
            raise SegmentCancelledError

    handle = register_module_forward_pre_hook(before_layer)
    try:
        yield
    finally:
        handle.remove()


class SegmentBatcher:
    def __init__(self, device: torch.device, *, batch_size: int = 1, wait_s: float = 0.005) -> None:
        self.device = device
        self.batch_size = max(1, batch_size)
        self.wait_s = wait_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._held: deque[_Request] = deque()
        self._thread = threading.Thread(target=self._run, name="segment-batcher", daemon=True)
        self._thread.start()

    def submit(
        self,
        model: torch.nn.Module,
        segment: torch.Tensor,
        stopped: Callable[[], bool] | None = None,
    ) -> Future[torch.Tensor]:
        """The segment's stems, later. With `stopped`, a forward pass whose every segment's
        job says it is stopped ends between two of the model's layers (a segment of HT Demucs
        on a CPU takes seconds: a cancelled job must not keep the CPU that long)."""
        request = _Request(model, segment, stopped)
        self._queue.put(request)
        return request.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _next(self, timeout: float | None) -> _Request | None:
        if self._held:
            return self._held.popleft()
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _gather(self, first: _Request) -> list[_Request]:
        batch = [first]
        kept: deque[_Request] = deque()
        while self._held and len(batch) < self.batch_size:
            held = self._held.popleft()
            (batch if held.key == first.key else kept).append(held)
        kept.extend(self._held)
        self._held = kept
        others: list[_Request] = []
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    request = self._queue.get(timeout=remaining)
                else:
                    request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                self._queue.put(None)  # stop after this batch
                break
            (batch if request.key == first.key else others).append(request)
        self._held.extend(others)
        return batch

    def _run(self) -> None:
        while True:
            first = self._next(timeout=None)
            if first is None:
                return
            batch = self._gather(first) if self.batch_size > 1 else [first]
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                with torch.inference_mode(), _stoppable(live):
                    inputs = torch.stack([r.segment for r in live]).to(self.device)
                    outputs = live[0].model(inputs).to("cpu")
            except BaseException as error:  # the jobs get the error, the thread lives on
                log.warning("forward pass of %d segments failed: %s", len(live), error)
                for request in live:
                    request.future.set_exception(error)
                continue
            BATCHES.observe(len(live))
            SEGMENTS.inc(len(live))
            for request, output in zip(live, outputs, strict=True):
                request.future.set_result(output)
