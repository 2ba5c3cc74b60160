"""Models are found and loaded through demucs's own repositories, checksums included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from demucs.apply import BagOfModels
from demucs.repo import ModelLoadingError

from cadenza.devstack.demucs_models import save_checkpoint
from cadenza.separation.models import Catalog, LoadedModels, ModelBook, ModelUnavailableError


def test_named_models_are_available_when_all_their_checkpoints_are(model_dir: Path) -> None:
    catalog = Catalog((model_dir,))
    assert sorted(catalog.available()) == [
        "bs_roformer_4stem",
        "bs_roformer_vocals",
        "htdemucs",
        "htdemucs_6s",
        "htdemucs_ft",
        "mel_band_roformer_vocals",
    ]
    assert len(catalog.available()["htdemucs_ft"]) == 4


def test_a_bag_missing_a_checkpoint_is_not_available(model_dir: Path, tmp_path: Path) -> None:
    partial = tmp_path / "models"
    shutil.copytree(model_dir, partial)
    (partial / "d12395a8.th").unlink()
    assert "htdemucs_ft" not in Catalog((partial,)).available()
    with pytest.raises((ModelUnavailableError, ModelLoadingError)):
        Catalog((partial,)).load("htdemucs_ft")


def test_models_load_as_demucs_loads_them(model_dir: Path) -> None:
    catalog = Catalog((model_dir,))
    single = catalog.load("htdemucs")
    assert isinstance(single, BagOfModels) and len(single.models) == 1
    assert not single.training, "loaded in eval mode (no dropout)"
    bag = catalog.load("htdemucs_ft")
    assert isinstance(bag, BagOfModels) and len(bag.models) == 4
    assert bag.weights[1] == [0.0, 1.0, 0.0, 0.0]
    six = catalog.load("htdemucs_6s")
    assert six.sources == ["drums", "bass", "other", "vocals", "guitar", "piano"]


def test_a_checkpoint_with_a_wrong_checksum_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, "abcd1234")
    path.rename(tmp_path / "abcd1234-00000000.th")  # demucs checks the sha256 prefix
    with pytest.raises(ModelLoadingError, match="checksum"):
        Catalog((tmp_path,)).load("abcd1234")


def test_a_standalone_checkpoint_is_a_model_of_its_own(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "my_model")
    assert "my_model" in Catalog((tmp_path,)).available()


def test_the_book_describes_models_and_notices_changes(model_dir: Path, tmp_path: Path) -> None:
    directory = tmp_path / "models"
    shutil.copytree(model_dir, directory)
    book = ModelBook(Catalog((directory,)))
    models = book.refresh()
    assert set(models) == {
        "classical",
        "htdemucs",
        "htdemucs_6s",
        "htdemucs_ft",
        "bs_roformer_vocals",
        "mel_band_roformer_vocals",
        "bs_roformer_4stem",
    }
    assert models["htdemucs_6s"].stems == ("drums", "bass", "other", "vocals", "guitar", "piano")
    assert models["htdemucs"].sample_rate == 44100
    before = models["htdemucs"].fingerprint
    save_checkpoint(directory, "955717e8", seed=99)  # new weights under the same name
    assert book.refresh()["htdemucs"].fingerprint != before
    (directory / "5c90dfd2.th").unlink()
    assert "htdemucs_6s" not in book.refresh()


def test_loaded_models_are_kept_up_to_a_limit(model_dir: Path) -> None:
    loaded = LoadedModels(Catalog((model_dir,)), torch.device("cpu"), capacity=1)
    first = loaded.get("htdemucs")
    assert loaded.get("htdemucs") is first
    loaded.get("htdemucs_6s")
    assert loaded.get("htdemucs") is not first, "evicted, then loaded again"
