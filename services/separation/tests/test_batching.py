"""Segments of concurrent jobs share forward passes; each gets back exactly its own output."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from cadenza.devstack.demucs_models import build_model
from cadenza.separation.batching import SegmentBatcher


def test_concurrent_segments_are_batched_and_routed_back() -> None:
    _, _, model = build_model("demucs")
    model.eval()
    calls: list[int] = []
    original: Any = model.forward

    def counting_forward(x: torch.Tensor) -> Any:
        calls.append(x.shape[0])
        return original(x)

    model.forward = counting_forward
    length = model.valid_length(44100)
    segments = [torch.randn(2, length) for _ in range(12)]
    batcher = SegmentBatcher(torch.device("cpu"), batch_size=4, wait_s=0.2)
    results: dict[int, torch.Tensor] = {}

    def job(indices: range) -> None:
        futures = {i: batcher.submit(model, segments[i]) for i in indices}
        for i, future in futures.items():
            results[i] = future.result(timeout=60)

    threads = [threading.Thread(target=job, args=(range(k, k + 3),)) for k in (0, 3, 6, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    batcher.close()
    assert sum(calls) == 12
    assert max(calls) > 1, f"no batch formed: {calls}"
    with torch.inference_mode():
        for i, segment in enumerate(segments):
            torch.testing.assert_close(results[i], original(segment[None])[0], atol=1e-5, rtol=0)


def test_a_failing_forward_fails_only_its_batch() -> None:
    _, _, model = build_model("demucs")
    model.eval()
    batcher = SegmentBatcher(torch.device("cpu"))
    bad = batcher.submit(model, torch.randn(3, 1000))  # wrong channel count
    good = batcher.submit(model, torch.randn(2, model.valid_length(8000)))
    with pytest.raises(RuntimeError):
        bad.result(timeout=30)
    assert good.result(timeout=30).shape[:2] == (4, 2)
    batcher.close()


class _SlowLayer(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)
        return x


def test_a_pass_whose_jobs_were_all_stopped_ends_between_layers() -> None:
    from cadenza.separation.batching import SegmentCancelledError

    model = torch.nn.Sequential(*[_SlowLayer() for _ in range(60)])  # 3 s a pass
    batcher = SegmentBatcher(torch.device("cpu"))
    stop_at = time.monotonic() + 0.3
    try:
        started = time.monotonic()
        stopped = batcher.submit(model, torch.zeros(2, 8), lambda: time.monotonic() > stop_at)
        with pytest.raises(SegmentCancelledError):
            stopped.result(timeout=10)
        assert time.monotonic() - started < 0.6, "it stopped within a layer or two"
        # A pass nobody stopped runs to its end, and the thread serves on.
        whole = batcher.submit(torch.nn.Sequential(_SlowLayer()), torch.ones(2, 8), lambda: False)
        assert torch.equal(whole.result(timeout=10), torch.ones(2, 8))
        # Already stopped when its turn comes: not run at all.
        never = batcher.submit(model, torch.zeros(2, 8), lambda: True)
        with pytest.raises(SegmentCancelledError):
            never.result(timeout=1)
    finally:
        batcher.close()
