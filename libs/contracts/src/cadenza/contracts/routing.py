"""The next command of a routing slip, built from the outputs of the step that finished."""

from __future__ import annotations

from typing import Any

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.composition import CompositionRequested
from cadenza.contracts.effects import EffectsRequested
from cadenza.contracts.jobs import StageCompleted
from cadenza.contracts.pipeline import (
    EffectsStep,
    MasterStep,
    MixStep,
    PipelineCommand,
    RenderStep,
    SeparationStep,
)
from cadenza.contracts.render import MasterRequested, MixRequested, RenderRequested
from cadenza.contracts.separation import SeparationRequested

MIDI_TYPES = frozenset({"audio/midi", "audio/x-midi"})
# The one file that stands for a step's audio result, best first.
PRIMARY_NAMES = ("mastered", "mix", "processed")
# The command of each kind of step: what `next_command` builds for a step of that kind
# ("blend" only ever starts a pipeline).
KIND_COMMANDS: dict[str, type[PipelineCommand]] = {
    "blend": CompositionRequested,
    "render": RenderRequested,
    "separation": SeparationRequested,
    "effects": EffectsRequested,
    "mix": MixRequested,
    "master": MasterRequested,
}


class PipelineError(ValueError):
    """The finished step gave nothing the next step can take."""


def _bare(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).rsplit(".", 1)[0]


def _audio(outputs: dict[str, ArtifactRef], prefix: str) -> dict[str, ArtifactRef]:
    return {
        _bare(name, prefix): ref
        for name, ref in outputs.items()
        if ref.media_type.startswith("audio/") and ref.media_type not in MIDI_TYPES
    }


def primary_audio(outputs: dict[str, ArtifactRef], prefix: str = "") -> ArtifactRef:
    audio = _audio(outputs, prefix)
    for name in PRIMARY_NAMES:
        if name in audio:
            return audio[name]
    if len(audio) == 1:
        return next(iter(audio.values()))
    raise PipelineError(f"expected one audio result, got {len(audio)}: {sorted(audio)}")


def stems(outputs: dict[str, ArtifactRef], prefix: str = "") -> dict[str, ArtifactRef]:
    found = {n: r for n, r in _audio(outputs, prefix).items() if n not in PRIMARY_NAMES}
    if not found:
        raise PipelineError("expected stems, got none")
    return found


def midi(outputs: dict[str, ArtifactRef]) -> ArtifactRef:
    found = [ref for ref in outputs.values() if ref.media_type in MIDI_TYPES]
    if len(found) != 1:
        raise PipelineError(f"expected one MIDI file, got {len(found)}")
    return found[0]


def next_command(command: PipelineCommand, fact: StageCompleted) -> PipelineCommand | None:
    """The command for the first step of `command.slip` (None when the slip is empty).

    Its id derives from the fact's, so a redelivered step re-derives the same command and
    JetStream's duplicate window drops the copy.
    """
    if not command.slip:
        return None
    step, rest = command.slip[0], command.slip[1:]
    outputs, prefix = fact.outputs, command.output_prefix
    common: dict[str, Any] = {
        "step": step.stage,
        "stage": step.stage,
        "slip": rest,
        # Intermediate results get the stage's prefix; the last step's names stay plain.
        "output_prefix": f"{step.stage}-" if rest else "",
        "limits": command.limits,
    }
    match step:
        case RenderStep():
            return RenderRequested.caused_by(
                fact, input=midi(outputs), params=step.params, **common
            )
        case SeparationStep():
            return SeparationRequested.caused_by(
                fact,
                input=primary_audio(outputs, prefix),
                model=step.params.model,
                stems=step.params.stems,
                output=step.params.output,
                **step.params.options(),
                **common,
            )
        case EffectsStep():
            audio = _audio(outputs, prefix)
            single = len(audio) == 1 or any(n in audio for n in ("mastered", "processed"))
            if single and "mix" not in audio:
                return EffectsRequested.caused_by(
                    fact,
                    input=primary_audio(outputs, prefix),
                    chain=step.params.chain,
                    output=step.params.output,
                    **common,
                )
            return EffectsRequested.caused_by(
                fact,
                inputs=stems(outputs, prefix),
                chain=step.params.chain,
                chains=step.params.chains,
                output=step.params.output,
                **common,
            )
        case MixStep():
            return MixRequested.caused_by(
                fact, inputs=stems(outputs, prefix), params=step.params, **common
            )
        case MasterStep():
            return MasterRequested.caused_by(
                fact, input=primary_audio(outputs, prefix), params=step.params, **common
            )
    raise PipelineError(f"unknown step {step!r}")  # pragma: no cover - the union is closed
