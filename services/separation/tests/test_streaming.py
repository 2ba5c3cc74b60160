"""The streamed separation equals demucs's own apply_model, sample for sample."""

from __future__ import annotations

import random
from concurrent.futures import Future
from typing import Any

import pytest
import torch
from demucs.apply import BagOfModels, apply_model

from cadenza.devstack.demucs_models import build_model
from cadenza.separation.separators import DemucsSegments
from cadenza.separation.streaming import StreamingSeparator, shift_leads, triangle_window


def direct_submit(members: list[Any]) -> Any:
    def submit(index: int, segment: torch.Tensor) -> Future[torch.Tensor]:
        future: Future[torch.Tensor] = Future()
        with torch.inference_mode():
            future.set_result(members[index](segment[None])[0])
        return future

    return submit


def stream(model: Any, mix: torch.Tensor, blocks: list[int], **options: Any) -> torch.Tensor:
    members = list(model.models) if isinstance(model, BagOfModels) else [model]
    weights = [list(w) for w in model.weights] if isinstance(model, BagOfModels) else None
    separator = StreamingSeparator(
        [DemucsSegments(m) for m in members], direct_submit(members), weights=weights, **options
    )
    pieces, position, turn = [], 0, 0
    while position < mix.shape[-1]:
        size = blocks[turn % len(blocks)]
        separator.push(mix[:, position : position + size])
        pieces.append(separator.drain())
        position, turn = position + size, turn + 1
    separator.end()
    while not separator.done:
        pieces.append(separator.drain(wait=True))
    return torch.cat(pieces, dim=-1)


@pytest.mark.parametrize("kind", ["htdemucs", "demucs"])
@pytest.mark.parametrize("seconds", [0.7, 5.3])
def test_streaming_equals_apply_model(kind: str, seconds: float) -> None:
    _, _, model = build_model(kind)  # type: ignore[arg-type]
    model.eval()
    torch.manual_seed(0)
    mix = torch.randn(2, int(44100 * seconds))
    reference = apply_model(model, mix[None], shifts=0, split=True, overlap=0.25)[0]
    streamed = stream(model, mix, [30_000, 70_001, 4_096])
    assert streamed.shape == reference.shape == (4, 2, mix.shape[-1])
    torch.testing.assert_close(streamed, reference, rtol=0, atol=1e-5)


def test_a_bag_with_per_source_weights_equals_apply_model() -> None:
    members = [build_model(seed=seed)[2] for seed in (1, 2, 3)]
    bag = BagOfModels(members, weights=[[1, 0, 1, 0.5], [0, 1, 1, 0.5], [1, 1, 0, 1]])
    bag.eval()
    mix = torch.randn(2, int(44100 * 4.1))
    reference = apply_model(bag, mix[None], shifts=0, split=True, overlap=0.25)[0]
    torch.testing.assert_close(stream(bag, mix, [65_536]), reference, rtol=0, atol=1e-5)


def test_other_overlaps_and_many_segments_in_flight() -> None:
    _, _, model = build_model("demucs")
    model.eval()
    mix = torch.randn(2, int(44100 * 6.0))
    reference = apply_model(model, mix[None], shifts=0, split=True, overlap=0.5)[0]
    streamed = stream(model, mix, [10_000], overlap=0.5, max_inflight=4)
    torch.testing.assert_close(streamed, reference, rtol=0, atol=1e-5)


def test_test_time_shifts_equal_apply_model_s_with_its_generator_seeded_alike() -> None:
    # The plain Demucs: its forward pass draws nothing from Python's generator, so demucs's
    # three leads are the three first draws after the seed, as ours are.
    _, _, model = build_model("demucs", seed=1)
    model.eval()
    mix = torch.randn(2, int(44100 * 3.3))
    random.seed(7)
    reference = apply_model(model, mix[None], shifts=3, split=True, overlap=0.25)[0]
    leads = shift_leads([44100], 3, 7)
    assert leads is not None and all(0 <= lead <= 22050 for lead in leads[0])
    streamed = stream(model, mix, [30_000, 70_001], leads=leads)
    torch.testing.assert_close(streamed, reference, rtol=0, atol=1e-5)
    assert (streamed - stream(model, mix, [30_000, 70_001])).abs().max() > 1e-3


def test_a_bag_s_shifts_average_each_member_s_passes_over_the_delayed_mix() -> None:
    # HTDemucs's transformer draws from Python's generator in every forward pass, so
    # demucs's own leads for a bag's second member depend on how many segments the first
    # ran; ours come from the job's seed alone. Checked against the definition instead:
    # each member run on the mix delayed by each lead, the lead dropped, the passes averaged,
    # then the members weighted per source.
    members = [build_model(seed=seed)[2] for seed in (1, 2)]
    weights = [[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5]]
    bag = BagOfModels(members, weights=weights)
    bag.eval()
    mix = torch.randn(2, int(44100 * 3.3))
    leads = [[0, 11_000], [22_050, 517]]
    streamed = stream(bag, mix, [30_000, 70_001], leads=leads)
    total = torch.zeros_like(streamed)
    for member, mine, member_weights in zip(members, leads, weights, strict=True):
        passes = [
            stream(member, torch.cat([torch.zeros(2, lead), mix], dim=-1), [65_536])[..., lead:]
            for lead in mine
        ]
        total += torch.stack(passes).mean(dim=0) * torch.tensor(member_weights)[:, None, None]
    expected = total / torch.tensor(weights).sum(dim=0)[:, None, None]
    torch.testing.assert_close(streamed, expected, rtol=0, atol=1e-5)


def test_a_model_s_shifts_share_its_segments_in_flight() -> None:
    _, _, model = build_model("demucs")
    model.eval()
    outstanding: list[int] = []

    class Watched(StreamingSeparator):
        def _collect(self, track: Any, wait: bool) -> None:
            outstanding.append(sum(len(t.pending) for t in self.tracks))
            super()._collect(track, wait)

    separator = Watched(
        [DemucsSegments(model)],
        direct_submit([model]),
        max_inflight=8,
        leads=[[0, 100, 2_000, 9_000]],
    )
    separator.push(torch.randn(2, 44100 * 30))
    separator.end()
    while not separator.done:
        separator.drain(wait=True)
    assert max(outstanding) == 8  # not 8 for each of the 4 shifts


def test_shifts_are_drawn_from_the_seed_alone() -> None:
    first = shift_leads([44100], 4, 3)
    assert first == shift_leads([44100], 4, 3)
    assert first != shift_leads([44100], 4, 4)
    assert shift_leads([44100], 0, 3) is None


def test_input_kept_in_memory_stays_bounded() -> None:
    _, _, model = build_model("demucs")
    model.eval()
    segment = DemucsSegments(model)
    separator = StreamingSeparator([segment], direct_submit([model]))
    held = []
    for _ in range(40):  # 40 × 1 s of audio
        separator.push(torch.randn(2, 44100))
        separator.drain()
        held.append(separator._mix.shape[-1])
    assert max(held) <= 3 * segment.segment_length
    assert separator.emitted > 35 * 44100


def test_the_window_is_demucs_triangle() -> None:
    window = triangle_window(8)
    assert window.tolist() == [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25]
