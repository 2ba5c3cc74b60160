"""Band-split RoFormer models (BS-RoFormer, Mel-Band RoFormer) in the format they are shared in.

A model is two files side by side in the model directory: `<name>.ckpt`, the state dict
(`torch.save`), and `<name>.yaml`, the config published with it (ZFTurbo's
Music-Source-Separation-Training format, which UVR and python-audio-separator read too):
`model:` holds the constructor's arguments, `audio:` the sample rate, channels and chunk
size, `training:` the instruments (and `target_instrument` for a one-target model) and
`inference:` `num_overlap` (and `normalize`). The network is the `bs-roformer` package's
(lucidrains's implementation; 0.3.10, whose modules match the published checkpoints).

Two things the reference inference does that the package's forward pass does not:
- `zero_dc` (the reference's default, true unless the config says otherwise): the DC bin of
  the masked spectrogram is zeroed before the inverse STFT. Zeroing the mask at that bin is
  the same product, so a forward hook on each mask estimator does it (equal bit for bit).
- a one-target model (vocals) also yields the complement, `instrumental` = mix − target, as
  the reference's `--extract_instrumental` does.

Configs are data from outside: read with a safe YAML loader (plus the `!!python/tuple` tag
the published files use), bounded in size, and every architecture switch this package
cannot honour is refused with a sentence rather than loaded wrongly.
"""

from __future__ import annotations

import functools
import inspect
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import yaml
from bs_roformer import BSRoformer, MelBandRoformer

from cadenza.contracts.stems import STEM_NAMES

# bs-roformer 0.3.10 picks attention kernels with torch's older context manager, which
# warns on every forward pass.
warnings.filterwarnings(
    "ignore", message=r"`torch.backends.cuda.sdp_kernel\(\)` is deprecated", category=FutureWarning
)

RoformerFamily = Literal["bs_roformer", "mel_band_roformer"]
COMPLEMENT = "instrumental"
MAX_CONFIG_BYTES = 1 << 20
# Beyond this the reference's fade (a tenth of a chunk) and the STFT make no sense.
MIN_CHUNK = 4096
MAX_CHUNK = 44100 * 60
MAX_OVERLAPS = 16

# Constructor arguments of the reference's modules that this package lacks: the value the
# package behaves as (anything else would change the network, so it is refused).
_FIXED = {
    "linear_transformer_depth": 0,
    "mlp_expansion_factor": 4,
    "skip_connection": False,
    "use_pope": False,
}
# Settings of training or of the attention kernel (no effect on the output at inference),
# and zero_dc, which `RoformerRunner` applies.
_IGNORED = {"use_torch_checkpoint", "sage_attention", "zero_dc"}


class RoformerConfigError(ValueError):
    """The config cannot be used; the message says why."""


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML plus the `!!python/tuple` tag of the published configs (as a list)."""


def _tuple(loader: yaml.SafeLoader, node: yaml.Node) -> tuple[Any, ...]:
    assert isinstance(node, yaml.SequenceNode)
    return tuple(loader.construct_sequence(node, deep=True))


_ConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple", _tuple)


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise RoformerConfigError(f"{path.name} is over {MAX_CONFIG_BYTES >> 10} KiB")
    try:
        data = yaml.load(path.read_text(), Loader=_ConfigLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        raise RoformerConfigError(f"{path.name} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise RoformerConfigError(f"{path.name} is not a mapping")
    return data


def is_roformer_config(path: Path) -> bool:
    """Whether a YAML file in the model directory is a RoFormer config (a Demucs bag file
    lists `models:` instead). The catalog asks for every YAML file each time it scans; the
    answer is kept while the file is unchanged."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return _is_roformer_config(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _is_roformer_config(path: Path, _mtime_ns: int, _size: int) -> bool:
    try:
        data = _read_yaml(path)
    except (RoformerConfigError, OSError):
        return False
    return isinstance(data.get("model"), dict) and isinstance(data.get("audio"), dict)


@dataclass(frozen=True)
class RoformerConfig:
    family: RoformerFamily
    model_kwargs: dict[str, Any]
    sample_rate: int
    audio_channels: int
    chunk_size: int
    num_overlap: int
    # What the network outputs, in order; `stems` adds the complement of a one-target model.
    targets: tuple[str, ...]
    stems: tuple[str, ...]
    zero_dc: bool
    normalise: bool

    @property
    def default_overlap(self) -> float:
        """The config's overlap as a share of the chunk (num_overlap 4 → 0.75)."""
        return 1.0 - (self.chunk_size // self.num_overlap) / self.chunk_size


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    section = data.get(name) or {}
    if not isinstance(section, dict):
        raise RoformerConfigError(f"the config's {name!r} section is not a mapping")
    return section


def _int(section: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RoformerConfigError(f"{key} must be a whole number from {lo} to {hi}, not {value!r}")
    return value


def _stem(name: object) -> str:
    stem = str(name).lower()
    if stem not in STEM_NAMES:
        raise RoformerConfigError(
            f"the model's instrument {name!r} is not a stem Cadenza knows ({', '.join(STEM_NAMES)})"
        )
    return stem


def read_config(path: Path, family: RoformerFamily | None = None) -> RoformerConfig:
    """The config beside a checkpoint. `family` is guessed from the model section when not
    given (`num_bands` is Mel-Band's, `freqs_per_bands` BS's)."""
    data = _read_yaml(path)
    model, audio = _section(data, "model"), _section(data, "audio")
    training, inference = _section(data, "training"), _section(data, "inference")
    if family is None:
        family = "mel_band_roformer" if "num_bands" in model else "bs_roformer"
    network = MelBandRoformer if family == "mel_band_roformer" else BSRoformer
    accepted = inspect.signature(network.__init__).parameters
    kwargs: dict[str, Any] = {}
    for key, value in model.items():
        if key in accepted:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
        elif key in _FIXED:
            if value != _FIXED[key]:
                raise RoformerConfigError(
                    f"{key}: {value!r} is a variant of the network this service does not run "
                    f"(only {_FIXED[key]!r})"
                )
        elif key not in _IGNORED:
            raise RoformerConfigError(f"unknown model setting {key!r} for {family}")
    stereo = bool(kwargs.get("stereo", False))
    channels = _int(audio, "num_channels", 2 if stereo else 1, 1, 2)
    if channels != (2 if stereo else 1):
        raise RoformerConfigError("audio.num_channels does not match model.stereo")
    sample_rate = _int(audio, "sample_rate", 44100, 8000, 192000)
    sizes = {"chunk_size": inference.get("chunk_size", audio.get("chunk_size"))}
    chunk = _int(sizes, "chunk_size", None, MIN_CHUNK, MAX_CHUNK)
    hop = _int(model, "stft_hop_length", 512, 1, chunk)
    if chunk % hop:
        raise RoformerConfigError(
            f"chunk_size {chunk} is not a multiple of stft_hop_length {hop} (the network's "
            "output would be shorter than its input)"
        )
    num_overlap = _int(inference, "num_overlap", 4, 1, MAX_OVERLAPS)
    instruments = training.get("instruments") or []
    if not isinstance(instruments, list | tuple) or not instruments:
        raise RoformerConfigError("training.instruments must list the model's stems")
    target = training.get("target_instrument")
    num_stems = _int(model, "num_stems", 1, 1, 16)
    targets = tuple(_stem(t) for t in ([target] if target else instruments))
    if len(targets) != num_stems:
        raise RoformerConfigError(
            f"the model has {num_stems} outputs but the config names {len(targets)}: "
            f"{', '.join(targets)}"
        )
    stems = targets + ((COMPLEMENT,) if num_stems == 1 and COMPLEMENT not in targets else ())
    if len(set(stems)) != len(stems):
        raise RoformerConfigError(f"the config names a stem twice: {', '.join(stems)}")
    return RoformerConfig(
        family=family,
        model_kwargs=kwargs,
        sample_rate=sample_rate,
        audio_channels=channels,
        chunk_size=chunk,
        num_overlap=num_overlap,
        targets=targets,
        stems=stems,
        zero_dc=bool(model.get("zero_dc", True)),
        normalise=bool(inference.get("normalize", False)),
    )


def _dc_columns(network: torch.nn.Module) -> torch.Tensor:
    """Where the mask estimators' output holds the DC bin: their last axis is (freq ×
    channel × real/imaginary), in the order of the network's `freq_indices` (Mel-Band, whose
    bands overlap) or of the spectrum itself (BS)."""
    channels = int(network.audio_channels)  # type: ignore[arg-type]
    indices = getattr(network, "freq_indices", None)
    if indices is None:
        band_split: Any = network.band_split
        indices = torch.arange(sum(band_split.dim_inputs) // 2)
    at_dc = (torch.as_tensor(indices) < channels).nonzero().flatten()
    return torch.cat([2 * at_dc, 2 * at_dc + 1])


# Floating-point operations of one pass of htdemucs per second of audio (counted with torch's
# FlopCounterMode on the htdemucs architecture over its 7.8 s segment): the unit of
# `ModelInfo.cost`.
HTDEMUCS_FLOPS_PER_SECOND = 28.8e9


def _linear_weights(module: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def compute_cost(network: torch.nn.Module, config: RoformerConfig) -> float:
    """The network's compute per second of audio, in passes of htdemucs. Every weight of a
    linear layer costs two operations per token it applies to: the transformers' to every
    (band, frame) token, the band split's and mask estimators' to every frame; attention
    adds 4 × width × sequence length per token (time: frames, frequency: bands). Equal to
    torch's FlopCounterMode for viperx's BS-RoFormer (1087 GFLOP per second of audio, 38
    passes of htdemucs), within 12 % for tiny networks (tested)."""
    net: Any = network
    frames = config.chunk_size // int(config.model_kwargs.get("stft_hop_length", 512)) + 1
    bands = len(net.band_split.to_features)
    tokens = bands * frames
    flops = 2 * tokens * _linear_weights(net.layers)
    for time_transformer, freq_transformer in net.layers:
        for transformer, length in ((time_transformer, frames), (freq_transformer, bands)):
            for attention, _ in transformer.layers:
                flops += 4 * attention.to_qkv.out_features // 3 * length * tokens
    flops += 2 * frames * (_linear_weights(net.band_split) + _linear_weights(net.mask_estimators))
    seconds = config.chunk_size / config.sample_rate
    return flops / seconds / HTDEMUCS_FLOPS_PER_SECOND


def model_cost(config: RoformerConfig) -> float:
    """`compute_cost` without the weights (the network built on the meta device)."""
    network_type = MelBandRoformer if config.family == "mel_band_roformer" else BSRoformer
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        network = network_type(**config.model_kwargs)
    return compute_cost(network, config)


class RoformerRunner(torch.nn.Module):
    """The network as the stream uses it: [batch, channels, chunk] → [batch, stems,
    channels, chunk], the complement of a one-target model last."""

    def __init__(self, network: torch.nn.Module, config: RoformerConfig) -> None:
        super().__init__()
        self.network = network
        self.config = config
        self.sources = list(config.stems)
        self.samplerate = config.sample_rate
        self.audio_channels = config.audio_channels
        if config.zero_dc:
            columns = _dc_columns(network)

            def zero_dc(_: torch.nn.Module, __: object, mask: torch.Tensor) -> torch.Tensor:
                mask[..., columns.to(mask.device)] = 0
                return mask

            mask_estimators: Any = network.mask_estimators
            for estimator in mask_estimators:
                estimator.register_forward_hook(zero_dc)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.network(mix)
        stems = len(self.config.targets)
        out = out.reshape(mix.shape[0], stems, mix.shape[1], -1)
        if len(self.sources) > stems:  # the complement: what the target leaves of the mix
            out = torch.cat([out, (mix - out[:, 0])[:, None]], dim=1)
        return out


def _state_dict(checkpoint: object) -> dict[str, torch.Tensor]:
    """The weights, whichever way the checkpoint wraps them (a bare state dict, or under
    `state`/`state_dict`/`model_state_dict`, keys maybe prefixed `module.`)."""
    for key in ("state", "state_dict", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise RoformerConfigError("the checkpoint holds no state dict")
    return {str(k).removeprefix("module."): v for k, v in checkpoint.items()}


def load_roformer(checkpoint: Path, config: RoformerConfig) -> RoformerRunner:
    """Build the network from the config and load the checkpoint into it, strictly (every
    weight present, none left over). `weights_only`: a checkpoint cannot run code."""
    network_type = MelBandRoformer if config.family == "mel_band_roformer" else BSRoformer
    try:
        with warnings.catch_warnings():  # its constructor's probe STFT has no window
            warnings.simplefilter("ignore")
            network = network_type(**config.model_kwargs)
    except (TypeError, ValueError, AssertionError) as e:
        raise RoformerConfigError(f"the config does not describe a {config.family}: {e}") from e
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RoformerConfigError(f"the checkpoint is not a file of weights: {first}") from e
    weights = _state_dict(loaded)
    try:
        network.load_state_dict(weights)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise RoformerConfigError(f"the checkpoint does not fit its config: {first}") from e
    runner = RoformerRunner(network, config)
    runner.eval()
    return runner
