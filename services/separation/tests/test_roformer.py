"""RoFormer models in their published format: the config, the checkpoint, the network with
the reference's zero-DC, and the chunked stream against the reference's whole-track
inference."""

from __future__ import annotations

import math
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from cadenza.devstack.roformer_models import Family, reference_demix, save_roformer
from cadenza.separation.chunked import ChunkStream
from cadenza.separation.models import Catalog
from cadenza.separation.roformer import (
    HTDEMUCS_FLOPS_PER_SECOND,
    RoformerConfigError,
    RoformerRunner,
    load_roformer,
    model_cost,
    read_config,
)


def runner_for(directory: Path, name: str, **kwargs: object) -> RoformerRunner:
    checkpoint = save_roformer(directory, name, **kwargs)  # type: ignore[arg-type]
    return load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))


def immediately(runner: torch.nn.Module) -> object:
    def submit(part: torch.Tensor) -> Future[torch.Tensor]:
        future: Future[torch.Tensor] = Future()
        with torch.inference_mode():
            future.set_result(runner(part[None])[0])
        return future

    return submit


def streamed(stream: ChunkStream, mix: torch.Tensor, block: int) -> torch.Tensor:
    out = []
    for start in range(0, mix.shape[-1], block):
        stream.push(mix[:, start : start + block])
        out.append(stream.drain())
    stream.end()
    while not stream.done:
        out.append(stream.drain(wait=True))
    return torch.cat(out, dim=-1)


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RoformerRunner]:
    directory = tmp_path_factory.mktemp("roformers")
    return {
        family: runner_for(directory, family, family=family, seed=5)
        for family in ("bs_roformer", "mel_band_roformer")
    }


def test_a_published_config_is_read_with_its_tuples_and_stems(tmp_path: Path) -> None:
    save_roformer(tmp_path, "vocals", "mel_band_roformer", chunk_size=8820, num_overlap=4)
    text = (tmp_path / "vocals.yaml").read_text()
    assert "!!python/tuple" in text  # as the published files write them
    config = read_config(tmp_path / "vocals.yaml")
    assert config.family == "mel_band_roformer"
    assert config.stems == ("vocals", "instrumental")
    assert (config.chunk_size, config.num_overlap, config.sample_rate) == (8820, 4, 44100)
    assert config.zero_dc and not config.normalise
    assert config.default_overlap == 0.75


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"model": {"linear_transformer_depth": 1}}, "linear_transformer_depth: 1 is a variant"),
        ({"model": {"hyper_connections": 4}}, "unknown model setting 'hyper_connections'"),
        ({"audio": {"chunk_size": 8821}}, "not a multiple of stft_hop_length 441"),
        ({"audio": {"chunk_size": 10}}, "chunk_size must be a whole number from 4096"),
        ({"training": {"target_instrument": "kazoo"}}, "instrument 'kazoo' is not a stem"),
        ({"inference": {"num_overlap": 0}}, "num_overlap must be a whole number from 1 to 16"),
        ({"audio": {"num_channels": 1}}, "audio.num_channels does not match model.stereo"),
    ],
)
def test_configs_the_service_cannot_honour_are_refused_with_a_reason(
    tmp_path: Path, change: dict[str, dict[str, object]], reason: str
) -> None:
    save_roformer(tmp_path, "m")
    path = tmp_path / "m.yaml"
    config = yaml.load(path.read_text(), Loader=yaml.UnsafeLoader)
    for section, values in change.items():
        config[section].update(values)
    path.write_text(yaml.dump(config))
    with pytest.raises(RoformerConfigError, match=reason):
        read_config(path)


def test_an_oversized_or_malformed_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("model: {}\naudio: {}\n# " + "x" * (1 << 20))
    with pytest.raises(RoformerConfigError, match="over 1024 KiB"):
        read_config(path)
    path.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(RoformerConfigError, match="not valid YAML"):
        read_config(path)


def test_a_checkpoint_that_does_not_fit_its_config_is_refused(tmp_path: Path) -> None:
    checkpoint = save_roformer(tmp_path, "m", extra_model={"dim": 24})
    other = save_roformer(tmp_path, "other")
    with pytest.raises(RoformerConfigError, match="does not fit its config"):
        load_roformer(other, read_config(checkpoint.with_suffix(".yaml")))


def test_a_checkpoint_cannot_run_code_when_loaded(tmp_path: Path) -> None:
    checkpoint = save_roformer(tmp_path, "m")
    torch.save({"state_dict": torch.nn.Linear(2, 2)}, checkpoint)  # a pickled module
    with pytest.raises(RoformerConfigError, match="not a file of weights: Weights only load"):
        load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))


def test_wrapped_and_prefixed_state_dicts_load(tmp_path: Path) -> None:
    checkpoint = save_roformer(tmp_path, "m", seed=3)
    plain = load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))
    state = torch.load(checkpoint, weights_only=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, checkpoint)
    wrapped = load_roformer(checkpoint, read_config(checkpoint.with_suffix(".yaml")))
    mix = torch.randn(1, 2, 8820)
    with torch.inference_mode():
        assert torch.equal(plain(mix), wrapped(mix))


@pytest.mark.parametrize("family", ["bs_roformer", "mel_band_roformer"])
def test_zero_dc_equals_zeroing_the_dc_bin_before_the_inverse_stft(
    runners: dict[str, RoformerRunner], family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference zeroes the DC bin of the masked spectrogram (`index_fill` on bin 0);
    the runner zeroes the mask there. Checked against the reference's way, done here by
    wrapping torch.istft, on a network without the hook."""
    runner = runners[family]
    mix = torch.randn(2, 2, 8820) * 0.3
    with torch.inference_mode():
        hooked = runner(mix)
    bare = RoformerRunner(runner.network, runner.config.__class__(
        **{**runner.config.__dict__, "zero_dc": False}
    ))  # fmt: skip
    estimators: Any = runner.network.mask_estimators
    saved = {}
    for module in estimators:
        saved[module] = dict(module._forward_hooks)
        module._forward_hooks.clear()
    istft = torch.istft

    def istft_without_dc(spec: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return istft(spec.index_fill(1, torch.tensor(0), 0.0), *args, **kwargs)  # type: ignore[arg-type]

    try:
        with torch.inference_mode():
            unzeroed = bare(mix)
            monkeypatch.setattr(torch, "istft", istft_without_dc)
            reference = bare(mix)
    finally:
        monkeypatch.undo()
        for module in estimators:
            module._forward_hooks.update(saved[module])
    assert (hooked - reference).abs().max() < 1e-6
    assert (hooked - unzeroed).abs().max() > 1e-4  # the DC bin mattered


def test_a_one_target_model_adds_the_complement(runners: dict[str, RoformerRunner]) -> None:
    runner = runners["bs_roformer"]
    mix = torch.randn(1, 2, 8820)
    with torch.inference_mode():
        out = runner(mix)
    assert runner.sources == ["vocals", "instrumental"]
    assert torch.allclose(out[:, 0] + out[:, 1], mix, atol=1e-6)


@pytest.mark.parametrize("family", ["bs_roformer", "mel_band_roformer"])
@pytest.mark.parametrize("num_overlap", [1, 2, 4])
@pytest.mark.parametrize(
    "length",
    [
        3000,  # shorter than half a chunk: zero padded
        6000,  # a short chunk, mirrored
        8820,  # one chunk exactly
        2 * 4410 + 1,  # just over two borders (num_overlap 2): mirrored ends
        30001,
    ],
)
def test_the_stream_equals_the_reference_inference_on_the_whole_track(
    runners: dict[str, RoformerRunner], family: str, num_overlap: int, length: int
) -> None:
    runner = runners[family]
    chunk = runner.config.chunk_size
    step = chunk // num_overlap
    mix = torch.randn(2, length, generator=torch.Generator().manual_seed(length)) * 0.3
    reference = reference_demix(runner, mix, chunk, step)
    for block, inflight in ((4096, 1), (1000, 3)):
        stream = ChunkStream(2, 2, chunk, step, immediately(runner), max_inflight=inflight)  # type: ignore[arg-type]
        out = streamed(stream, mix, block)
        assert out.shape == reference.shape
        assert (out - reference).abs().max() < 1e-6


def test_the_stream_holds_a_few_chunks_whatever_the_length() -> None:
    """Memory stays flat: the input and the sums kept are bounded by the chunking, not by
    the track (a model that returns its input, so it runs fast)."""

    def echo(part: torch.Tensor) -> Future[torch.Tensor]:
        future: Future[torch.Tensor] = Future()
        future.set_result(part[None].repeat(2, 1, 1))
        return future

    chunk, step, block = 44100, 11025, 4096
    held = []
    for seconds in (10, 60):
        stream = ChunkStream(2, 2, chunk, step, echo, max_inflight=2)
        most = 0
        mix = torch.randn(2, 44100 * seconds) * 0.1
        for start in range(0, mix.shape[-1], block):
            stream.push(mix[:, start : start + block])
            out = stream.drain()
            assert torch.allclose(out, mix[:, stream.emitted - out.shape[-1] : stream.emitted])
            most = max(most, stream._mix.shape[-1], stream._acc.shape[-1])
        held.append(most)
    assert held[0] == held[1]
    assert held[1] <= 2 * chunk + block + step * 2


def test_the_catalog_finds_roformer_models_beside_bags(tmp_path: Path, model_dir: Path) -> None:
    catalog = Catalog((model_dir,))
    available = catalog.available()
    assert available["bs_roformer_vocals"] == [
        model_dir / "bs_roformer_vocals.ckpt",
        model_dir / "bs_roformer_vocals.yaml",
    ]
    assert "htdemucs" in available  # the bag files are still bags
    info = catalog.info("mel_band_roformer_vocals", available["mel_band_roformer_vocals"])
    assert info.family == "mel_band_roformer"
    assert info.stems == ("vocals", "instrumental")
    assert info.sample_rate == 44100 and math.isclose(info.overlap, 0.5)
    four = catalog.info("bs_roformer_4stem", available["bs_roformer_4stem"])
    assert four.stems == ("drums", "bass", "other", "vocals") and four.overlap == 0.75
    assert isinstance(catalog.load("bs_roformer_4stem"), RoformerRunner)


@pytest.mark.parametrize("family", ["bs_roformer", "mel_band_roformer"])
def test_the_cost_estimate_counts_what_the_network_computes(tmp_path: Path, family: Family) -> None:
    """The CPU allowance scales by `cost`: the architecture's operations per second of
    audio, estimated from the weights' shapes, against torch's own count of a pass."""
    checkpoint = save_roformer(tmp_path, family, family, extra_model={"dim": 32, "depth": 2})
    config = read_config(checkpoint.with_suffix(".yaml"))
    runner = load_roformer(checkpoint, config)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        runner(torch.randn(1, 2, config.chunk_size))
    counted = counter.get_total_flops() / (config.chunk_size / 44100) / HTDEMUCS_FLOPS_PER_SECOND
    assert model_cost(config) == pytest.approx(counted, rel=0.15)


def test_model_costs_are_advertised(model_dir: Path) -> None:
    catalog = Catalog((model_dir,))
    available = catalog.available()
    assert catalog.info("htdemucs_ft", available["htdemucs_ft"]).cost == 4.0
    assert catalog.info("htdemucs", available["htdemucs"]).cost == 1.0
    assert 0 < catalog.info("bs_roformer_vocals", available["bs_roformer_vocals"]).cost < 0.1
