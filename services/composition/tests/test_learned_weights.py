"""Training is deterministic given its seed; weights load only when their checksum and
vocabulary match the manifest; the shipped weights are small and load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cadenza.composition.learned.dataset import SPLITS, Dataset, pieces_from_corpus
from cadenza.composition.learned.evaluate import model_likelihood
from cadenza.composition.learned.train import TrainConfig, describe_training, train
from cadenza.composition.learned.weights import (
    MANIFEST_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    WeightsError,
    load_composer,
    save_composer,
)

TINY = TrainConfig(
    steps=4, batch=2, context=64, width=32, layers=1, heads=2, evaluate_every=2, threads=1
)


@pytest.fixture(scope="module")
def small_data() -> Dataset:
    pieces = list(pieces_from_corpus(limit=14, workers=1))
    # Hold out at least one piece so the held-out figures exist.
    data = Dataset.of(pieces)
    if not len(data.indices("held_out")):
        data.splits[-1] = SPLITS.index("held_out")
    return data


def _trained(data: Dataset, folder: Path, seed: int) -> dict[str, object]:
    config = TrainConfig(**{**TINY.__dict__, "seed": seed})
    result = train(data, config)
    return save_composer(result.model, folder, describe_training(config, result, data))


def test_the_same_seed_trains_the_same_weights_and_another_seed_does_not(
    small_data: Dataset, tmp_path: Path
) -> None:
    first = _trained(small_data, tmp_path / "a", seed=3)
    again = _trained(small_data, tmp_path / "b", seed=3)
    other = _trained(small_data, tmp_path / "c", seed=4)
    assert first["sha256"] == again["sha256"]
    assert first["sha256"] != other["sha256"]
    assert (tmp_path / "a" / WEIGHTS_FILE).read_bytes() == (
        tmp_path / "b" / WEIGHTS_FILE
    ).read_bytes()
    curve = first["curve"]
    assert isinstance(curve, list) and [p["step"] for p in curve] == [2, 4]


def test_weights_that_do_not_match_their_manifest_are_refused(
    small_data: Dataset, tmp_path: Path
) -> None:
    manifest = _trained(small_data, tmp_path, seed=1)
    loaded = load_composer(tmp_path)
    assert loaded.sha256 == manifest["sha256"]
    assert model_likelihood(loaded.model, small_data, small_data.indices("held_out")).notes > 0

    weights = tmp_path / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"do not match their manifest: sha256 .* refused"):
        load_composer(tmp_path)


def test_weights_for_another_vocabulary_are_refused(small_data: Dataset, tmp_path: Path) -> None:
    _trained(small_data, tmp_path, seed=1)
    manifest_path = tmp_path / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["vocabulary_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(WeightsError, match="another token vocabulary"):
        load_composer(tmp_path)


def test_missing_weights_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="cadenza-composition train"):
        load_composer(tmp_path)


def test_the_shipped_weights_are_small_load_and_say_how_they_were_trained() -> None:
    manifest = json.loads((WEIGHTS_DIR / MANIFEST_FILE).read_text())
    assert (WEIGHTS_DIR / WEIGHTS_FILE).stat().st_size <= 25 * 1024 * 1024
    loaded = load_composer(WEIGHTS_DIR)
    assert loaded.sha256 == manifest["sha256"]
    assert manifest["held_out"]["nll_per_note"] > 0
    assert manifest["train_config"]["seed"] == 17
