"""Cadenza's RoFormer separation against the reference implementation itself, run beside it.

The reference is ZFTurbo's Music-Source-Separation-Training (the code the published
BS-RoFormer and Mel-Band RoFormer checkpoints were trained with, and whose `demix` UVR and
python-audio-separator follow). Nothing of it is in Cadenza: this bench imports it from a
checkout you point it at. For each family it takes the published config (viperx's BS-RoFormer
ep 317, KimberleyJensen's Mel-Band RoFormer), keeps its inference settings (8 s chunks, a
2048-point STFT, hop 441, the config's num_overlap) and shrinks the network (depth 1, dim 64)
so the run is quick; saves random weights in the published format (a state dict `.ckpt`
beside the `.yaml`); separates a track of noise with the service's code path (the model
catalog, the loader, the chunked stream, the file pipeline, float WAV out); and separates the
same samples with the reference's model class and `demix` (then `instrumental = mix -
vocals`, as its `--extract_instrumental` does). Reported: the largest difference per stem,
with the reference run one chunk per batch (what its algorithm means) and with the batch of 4
its configs set (its loop then fades a whole batch as its last chunk).

    git clone https://github.com/ZFTurbo/Music-Source-Separation-Training /tmp/mss
    pip install --target /tmp/mss-deps ml_collections   # the reference's config class
    PYTHONPATH=/tmp/mss-deps .venv/bin/python -m bench.roformer_vs_reference \\
        --reference-repo /tmp/mss [--seconds 30]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
import yaml

from bench.common import save
from cadenza.contracts.audio_format import OutputFormat
from cadenza.separation.batching import SegmentBatcher
from cadenza.separation.models import Catalog
from cadenza.separation.pipeline import separate_file
from cadenza.separation.roformer import RoformerRunner
from cadenza.separation.separators import roformer_plan

CONFIGS = {
    "bs_roformer": "configs/viperx/model_bs_roformer_ep_317_sdr_12.9755.yaml",
    "mel_band_roformer": "configs/KimberleyJensen/config_vocals_mel_band_roformer_kj.yaml",
}


class _Attributes(dict[str, Any]):
    """The reference reads its config by attribute (ml_collections' ConfigDict)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e


def _attributes(value: Any) -> Any:
    if isinstance(value, dict):
        return _Attributes({k: _attributes(v) for k, v in value.items()})
    return value


def reference_classes(repo: Path) -> dict[str, Any]:
    sys.path.insert(0, str(repo))
    from models.bs_roformer.bs_roformer import BSRoformer  # type: ignore[import-not-found]
    from models.bs_roformer.mel_band_roformer import (  # type: ignore[import-not-found]
        MelBandRoformer,
    )
    from utils.model_utils import demix  # type: ignore[import-not-found]

    return {"bs_roformer": BSRoformer, "mel_band_roformer": MelBandRoformer, "demix": demix}


def build(repo: Path, family: str, directory: Path, classes: dict[str, Any]) -> dict[str, Any]:
    """The published config with a small network; random weights made by the reference's
    own class and saved as the published checkpoints are."""
    config: dict[str, Any] = yaml.load((repo / CONFIGS[family]).read_text(), Loader=yaml.FullLoader)
    config["model"].update(dim=64, depth=1)
    torch.manual_seed(7)
    network = classes[family](**config["model"])
    torch.save(network.state_dict(), directory / f"{family}.ckpt")
    (directory / f"{family}.yaml").write_text(yaml.dump(config, sort_keys=False))
    return config


def ours(directory: Path, family: str, source: Path, out: Path) -> dict[str, np.ndarray]:
    catalog = Catalog((directory,))
    runner = catalog.load(family)
    assert isinstance(runner, RoformerRunner)
    batcher = SegmentBatcher(torch.device("cpu"))
    try:
        plan = roformer_plan(runner, batcher)
        outputs = {stem: out / f"{family}-{stem}.wav" for stem in plan.sources}
        separate_file(source, outputs, plan, OutputFormat(format="wav", bit_depth=32))
    finally:
        batcher.close()
    return {stem: sf.read(str(path), dtype="float32")[0].T for stem, path in outputs.items()}


def reference(
    config: dict[str, Any], directory: Path, family: str, mix: np.ndarray, batch: int, classes: Any
) -> dict[str, np.ndarray]:
    network = classes[family](**config["model"])
    network.load_state_dict(torch.load(directory / f"{family}.ckpt", weights_only=True))
    network.eval()
    settings = _attributes({**config, "inference": {**config["inference"], "batch_size": batch}})
    result = classes["demix"](settings, network, mix, torch.device("cpu"), model_type=family)
    target = config["training"]["target_instrument"]
    return {target: result[target], "instrumental": mix - result[target]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-repo", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    classes = reference_classes(args.reference_repo.resolve())
    results: dict[str, Any] = {"seconds": args.seconds, "families": {}}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        rate = 44100
        mix = np.random.default_rng(3).uniform(-0.4, 0.4, (2, int(rate * args.seconds)))
        mix = mix.astype(np.float32)
        source = directory / "mix.wav"
        sf.write(str(source), mix.T, rate, subtype="FLOAT")
        for family in CONFIGS:
            config = build(args.reference_repo, family, directory, classes)
            mine = ours(directory, family, source, directory)
            row: dict[str, Any] = {}
            for batch in (1, 4):
                theirs = reference(config, directory, family, mix, batch, classes)
                row[f"batch_{batch}"] = {
                    stem: float(np.abs(mine[stem] - theirs[stem]).max()) for stem in theirs
                }
                row["scale"] = float(np.abs(theirs[next(iter(theirs))]).max())
            results["families"][family] = row
            print(family, row)
    save("roformer_vs_reference", results)


if __name__ == "__main__":
    main()
