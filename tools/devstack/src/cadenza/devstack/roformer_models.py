"""RoFormer models with random weights in their published format, and the reference inference.

Published BS-RoFormer and Mel-Band RoFormer models are a state dict (`<name>.ckpt`, saved
with `torch.save`) and the YAML config they were trained with (`<name>.yaml`: `audio`,
`model`, `training`, `inference` sections, tuples written `!!python/tuple`). These are built
the same way, small, so the service loads them through the code real ones go through.

`reference_demix` is the reference's whole-track inference (ZFTurbo's Music-Source-
Separation-Training `demix`, "generic" mode, one chunk per batch), written here from its
definition for tests to compare the service's streamed output with: mirror the track by
`border = chunk - step` at both ends, run every chunk (a short last one padded: mirrored
past half a chunk, zeros below), weight by a linear fade over a tenth of the chunk (none
into the first chunk, none out of the last), sum, divide by the summed weights (0/0 = 0)
and cut the border off.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch spelling
import yaml
from bs_roformer import BSRoformer, MelBandRoformer

Family = Literal["bs_roformer", "mel_band_roformer"]

# Small networks on a 512-point STFT: a chunk of 0.2 s runs in a few milliseconds.
TINY_BS: dict[str, Any] = {
    "dim": 16,
    "depth": 1,
    "stereo": True,
    "time_transformer_depth": 1,
    "freq_transformer_depth": 1,
    "freqs_per_bands": (4,) * 16 + (16,) * 8 + (65,),
    "dim_head": 8,
    "heads": 2,
    "attn_dropout": 0.1,
    "ff_dropout": 0.1,
    "flash_attn": True,
    "dim_freqs_in": 257,
    "stft_n_fft": 512,
    "stft_hop_length": 441,
    "stft_win_length": 512,
    "stft_normalized": False,
    "mask_estimator_depth": 2,
    "multi_stft_resolution_loss_weight": 1.0,
    "multi_stft_resolutions_window_sizes": (4096, 2048, 1024, 512, 256),
    "multi_stft_hop_size": 147,
    "multi_stft_normalized": False,
}
TINY_MEL: dict[str, Any] = {
    **{k: v for k, v in TINY_BS.items() if k not in ("freqs_per_bands", "dim_freqs_in")},
    "num_bands": 12,
    "sample_rate": 44100,
    "dim_freqs_in": 257,
}


def model_section(family: Family, num_stems: int) -> dict[str, Any]:
    base = TINY_MEL if family == "mel_band_roformer" else TINY_BS
    return {**base, "num_stems": num_stems}


def save_roformer(
    directory: Path,
    name: str,
    family: Family = "bs_roformer",
    *,
    instruments: tuple[str, ...] = ("vocals", "other"),
    target: str | None = "vocals",
    chunk_size: int = 8820,
    num_overlap: int = 2,
    seed: int = 0,
    sample_rate: int = 44100,
    extra_model: dict[str, Any] | None = None,
) -> Path:
    """`<name>.ckpt` and `<name>.yaml` in `directory`; returns the checkpoint's path. A
    `target` makes a one-target model (the published vocals models); without one the model
    has an output per instrument."""
    directory.mkdir(parents=True, exist_ok=True)
    num_stems = 1 if target else len(instruments)
    model = {**model_section(family, num_stems), **(extra_model or {})}
    network_type = MelBandRoformer if family == "mel_band_roformer" else BSRoformer
    torch.manual_seed(seed)
    accepted = {k: v for k, v in model.items() if k not in ("zero_dc", "linear_transformer_depth")}
    with warnings.catch_warnings():  # its constructor's probe STFT has no window
        warnings.simplefilter("ignore")
        network = network_type(**accepted)
    config = {
        "audio": {
            "chunk_size": chunk_size,
            "dim_f": 1024,
            "dim_t": 801,
            "hop_length": model["stft_hop_length"],
            "n_fft": model["stft_n_fft"],
            "num_channels": 2 if model["stereo"] else 1,
            "sample_rate": sample_rate,
            "min_mean_abs": 0.0,
        },
        "model": model,
        "training": {
            "batch_size": 2,
            "instruments": list(instruments),
            "target_instrument": target,
            "use_amp": True,
        },
        "inference": {"batch_size": 1, "dim_t": 801, "num_overlap": num_overlap},
    }
    # The default dumper writes tuples as `!!python/tuple`, as the published configs have them.
    (directory / f"{name}.yaml").write_text(yaml.dump(config, sort_keys=False))
    checkpoint = directory / f"{name}.ckpt"
    torch.save(network.state_dict(), checkpoint)
    return checkpoint


def fade_window(chunk: int, fade: int) -> torch.Tensor:
    window = torch.ones(chunk)
    window[-fade:] = torch.linspace(1, 0, fade)
    window[:fade] = torch.linspace(0, 1, fade)
    return window


def reference_demix(
    model: Callable[[torch.Tensor], torch.Tensor], mix: torch.Tensor, chunk: int, step: int
) -> torch.Tensor:
    """`model` maps [1, channels, chunk] to [1, stems, channels, chunk]; `mix` is
    [channels, frames]; returns [stems, channels, frames]."""
    fade = chunk // 10
    border = chunk - step
    length = mix.shape[-1]
    mirrored = length > 2 * border and border > 0
    if mirrored:
        mix = F.pad(mix[None], (border, border), mode="reflect")[0]
    total = mix.shape[-1]
    result: torch.Tensor | None = None
    counter = torch.zeros(total)
    start = 0
    while start < total:
        part = mix[:, start : start + chunk]
        size = part.shape[-1]
        mode = "reflect" if size > chunk // 2 else "constant"
        part = F.pad(part, (0, chunk - size), mode=mode)
        with torch.inference_mode():
            out = model(part[None])[0]
        if result is None:
            result = torch.zeros(out.shape[0], mix.shape[0], total)
        window = fade_window(chunk, fade)
        if start == 0:
            window[:fade] = 1
        elif start + step >= total:
            window[-fade:] = 1
        result[..., start : start + size] += out[..., :size] * window[:size]
        counter[start : start + size] += window[:size]
        start += step
    assert result is not None
    estimate = torch.nan_to_num(result / counter, nan=0.0)
    return estimate[..., border:-border] if mirrored else estimate


def install_test_roformers(directory: Path) -> Path:
    """`bs_roformer_vocals` and `mel_band_roformer_vocals` (one target: vocals, and the
    complement, instrumental), and `bs_roformer_4stem` (drums, bass, other, vocals, at 32 kHz:
    a model of another rate than the others), random."""
    save_roformer(directory, "bs_roformer_vocals", "bs_roformer", seed=11)
    save_roformer(directory, "mel_band_roformer_vocals", "mel_band_roformer", seed=12)
    save_roformer(
        directory,
        "bs_roformer_4stem",
        "bs_roformer",
        instruments=("drums", "bass", "other", "vocals"),
        target=None,
        num_overlap=4,
        seed=13,
        sample_rate=32000,
    )
    return directory
