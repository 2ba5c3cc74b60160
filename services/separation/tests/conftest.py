"""Small Demucs and RoFormer models with random weights, saved and loaded the way real ones
are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from cadenza.devstack.demucs_models import install_test_models
from cadenza.devstack.roformer_models import install_test_roformers
from cadenza.separation.batching import SegmentBatcher


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_test_roformers(install_test_models(tmp_path_factory.mktemp("models")))


@pytest.fixture
def batcher() -> Iterator[SegmentBatcher]:
    engine = SegmentBatcher(torch.device("cpu"))
    yield engine
    engine.close()
