"""The shipped weights: `composer.pt` (a torch state dict and the model's shape) beside
`composer.json` (its sha256, the vocabulary it was trained on, how it was trained).

Loading checks the file's sha256 against the manifest and the vocabulary against the code's
before torch reads a byte of it (and torch reads with `weights_only=True`, so a weights file
can never run code): a file that was changed, truncated or trained for another encoding is
refused with a sentence saying which.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cadenza.composition.learned.decode_step import DecodeStep
from cadenza.composition.learned.model import Composer, ModelConfig
from cadenza.composition.learned.tokens import vocabulary

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "composer.pt"
MANIFEST_FILE = "composer.json"


class WeightsError(RuntimeError):
    """Weights that cannot be used; the message says why."""


@dataclass(frozen=True)
class LoadedComposer:
    model: Composer
    manifest: dict[str, Any]
    sha256: str
    step: DecodeStep  # the model's numpy decoding step, built once with the model

    @property
    def style_space(self) -> np.ndarray:
        """The model's token embedding (its STYLE rows place the styles), as numpy."""
        return self.step.embed


def vocabulary_digest() -> str:
    return hashlib.sha256("\n".join(vocabulary()).encode()).hexdigest()


def save_composer(model: Composer, folder: Path, about: dict[str, Any]) -> dict[str, Any]:
    """Write the weights and their manifest; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    state = {name: t.detach().clone().contiguous() for name, t in model.state_dict().items()}
    torch.save({"config": model.config.as_dict(), "state_dict": state}, buffer)
    data = buffer.getvalue()
    manifest = {
        "file": WEIGHTS_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "vocabulary_sha256": vocabulary_digest(),
        "model": model.config.as_dict(),
        **about,
    }
    (folder / WEIGHTS_FILE).write_bytes(data)
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_composer(folder: Path = WEIGHTS_DIR) -> LoadedComposer:
    manifest_path, weights_path = folder / MANIFEST_FILE, folder / WEIGHTS_FILE
    try:
        manifest = json.loads(manifest_path.read_text())
        data = weights_path.read_bytes()
    except FileNotFoundError as e:
        raise WeightsError(
            f"the composer's weights are missing ({e.filename}): run `cadenza-composition train`"
        ) from e
    except ValueError as e:
        raise WeightsError(f"the composer's manifest {manifest_path} is not JSON: {e}") from e
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest.get("sha256"):
        raise WeightsError(
            f"the composer's weights {weights_path} do not match their manifest: sha256 "
            f"{digest[:12]}… where {str(manifest.get('sha256'))[:12]}… was recorded; refused"
        )
    if manifest.get("vocabulary_sha256") != vocabulary_digest():
        raise WeightsError(
            "the composer's weights were trained on another token vocabulary than this code's;"
            " retrain with `cadenza-composition train`"
        )
    saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    model = Composer(ModelConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"])
    model.eval()
    return LoadedComposer(model, manifest, digest, DecodeStep(model))


@cache
def shipped_composer() -> LoadedComposer:
    """The weights inside the package, loaded once per process."""
    return load_composer(WEIGHTS_DIR)
