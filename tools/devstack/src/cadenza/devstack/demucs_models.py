"""Demucs checkpoints with random weights, in demucs's own format, for tests and benchmarks.

Pretrained weights cannot be downloaded on our machines. These files are built the way
demucs saves a model (`{"klass", "args", "kwargs", "state"}` through `torch.save`, named
`<signature>.th`, with a bag YAML next to them), so the service loads them through exactly
the code an operator's real checkpoints go through. The output is noise-like, of course.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

SOURCES_4 = ["drums", "bass", "other", "vocals"]
SOURCES_6 = ["drums", "bass", "other", "vocals", "guitar", "piano"]

# The published htdemucs configuration (about 42 M parameters): "full" has its cost.
HTDEMUCS_FULL: dict[str, Any] = {
    "channels": 48,
    "depth": 4,
    "nfft": 4096,
    "dconv_mode": 3,
    "bottom_channels": 512,
    "t_layers": 5,
    "t_dropout": 0.02,
    "segment": Fraction(39, 5),
}
# Small enough for unit tests (a fraction of a second per segment on a CPU).
HTDEMUCS_TINY: dict[str, Any] = {
    "channels": 8,
    "depth": 3,
    "nfft": 2048,
    "t_layers": 1,
    "t_heads": 2,
    "bottom_channels": 0,
    "segment": Fraction(2, 1),
}
DEMUCS_TINY: dict[str, Any] = {"channels": 8, "depth": 3, "lstm_layers": 0, "segment": 2}


def build_model(
    kind: Literal["htdemucs", "demucs"] = "htdemucs",
    size: Literal["tiny", "full"] = "tiny",
    sources: list[str] | None = None,
    seed: int = 0,
) -> tuple[type[torch.nn.Module], dict[str, Any], Any]:
    """(class, constructor kwargs, model): a demucs model class with random weights."""
    torch.manual_seed(seed)
    names = list(sources or SOURCES_4)
    if kind == "htdemucs":
        from demucs.htdemucs import HTDemucs

        kwargs = {"sources": names, **(HTDEMUCS_FULL if size == "full" else HTDEMUCS_TINY)}
        return HTDemucs, kwargs, HTDemucs(**kwargs)
    from demucs.demucs import Demucs

    kwargs = {"sources": names, **DEMUCS_TINY}
    return Demucs, kwargs, Demucs(**kwargs)


def save_checkpoint(directory: Path, signature: str, **options: Any) -> Path:
    """Write `<directory>/<signature>.th` as demucs would."""
    klass, kwargs, model = build_model(**options)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{signature}.th"
    torch.save({"klass": klass, "args": (), "kwargs": kwargs, "state": model.state_dict()}, path)
    return path


def save_bag(
    directory: Path,
    name: str,
    signatures: list[str],
    weights: list[list[float]] | None = None,
    segment: float | None = None,
) -> Path:
    """Write `<directory>/<name>.yaml`, a bag of the given checkpoints."""
    bag: dict[str, Any] = {"models": signatures}
    if weights is not None:
        bag["weights"] = weights
    if segment is not None:
        bag["segment"] = segment
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(bag))
    return path


def install_test_models(directory: Path, size: Literal["tiny", "full"] = "tiny") -> Path:
    """A model directory with `htdemucs` (1 model), `htdemucs_6s` and `htdemucs_ft` (a bag
    of 4 with per-source weights), all random."""
    save_checkpoint(directory, "955717e8", size=size, seed=1)
    save_bag(directory, "htdemucs", ["955717e8"])
    save_checkpoint(directory, "5c90dfd2", size=size, sources=SOURCES_6, seed=2)
    save_bag(directory, "htdemucs_6s", ["5c90dfd2"])
    signatures = ["f7e0c4bc", "d12395a8", "92cfc3b6", "04573f0d"]
    for seed, signature in enumerate(signatures, start=3):
        save_checkpoint(directory, signature, size=size, seed=seed)
    identity = [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)]
    save_bag(directory, "htdemucs_ft", signatures, weights=identity)
    return directory
