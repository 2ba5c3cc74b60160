"""What a job will cost, estimated from its input and parameters before it is accepted.

The estimate walks the job's first command and the steps of its routing slip, following the
shape of the audio from stage to stage (length, rate, channels, how many files), and adds
up for each stage the bytes it writes, the working memory it needs (effect chains: delay
lines, pitch-shift segments) and the CPU time it takes (effect chains, by the measured cost
per sample of each plugin). A job over a limit is refused (422) naming the parameter that
makes it so; its estimate is what the account's storage quota reserves while it runs.

What cannot be told here (the tracks of a MIDI file the gateway never parsed, the length of
a blend not yet written) is estimated on the safe side or left to the worker, which holds
every stage to the job's `JobLimits` when it knows more.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.composition import CompositionRequested, longest_duration_s
from cadenza.contracts.effect_chain import Effect
from cadenza.contracts.effect_costs import (
    block_frames_for,
    chain_cpu_seconds,
    chain_memory_bytes,
    memory_problem,
)
from cadenza.contracts.effects import EffectsRequested
from cadenza.contracts.envelope import Event
from cadenza.contracts.limits import describe_bytes
from cadenza.contracts.pipeline import (
    EffectsStep,
    MasterStep,
    MixStep,
    PipelineCommand,
    PipelineStep,
    RenderParams,
    RenderStep,
    SeparationStep,
)
from cadenza.contracts.render import MasterRequested, MixRequested, RenderRequested
from cadenza.contracts.separation import SeparationRequested

# A rendered MIDI file whose tracks are not known here: assume this many stems.
ASSUMED_TRACKS = 8
MIDI_AND_SCORE_BYTES = 4 << 20


@dataclass(frozen=True)
class Shape:
    """What flows out of a stage: `parts` files of audio (or MIDI) of this length."""

    seconds: float | None
    sample_rate: int | None
    channels: int | None
    parts: int = 1
    midi_tracks: int | None = None

    @property
    def frames(self) -> int | None:
        if self.seconds is None or self.sample_rate is None:
            return None
        return int(self.seconds * self.sample_rate)


@dataclass(frozen=True)
class Overrun:
    """A stage over a limit: the parameter that makes it so, and a sentence."""

    stage: int
    param: str
    message: str


@dataclass
class Estimate:
    output_bytes: int = 0
    peak_memory_bytes: int = 0
    cpu_seconds: float = 0.0


@dataclass(frozen=True)
class StageCost:
    """One stage: what it writes (and how that adds up, for a refusal's sentence), the
    working memory and CPU time it needs, its parameters over a limit, and its output."""

    after: Shape
    bytes: int = 0
    explain: str = ""
    memory: int = 0
    cpu: float = 0.0
    over: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Budget:
    max_output_bytes: int
    max_memory_bytes: int
    cpu_seconds_per_audio_second: float
    min_cpu_seconds: float


def _pcm_bytes(shape: Shape, output: OutputFormat) -> int:
    frames = shape.frames
    if frames is None:
        return 0
    width = shape.channels or 2
    return frames * width * output.bytes_per_sample * shape.parts


def _from_ref(ref: Any) -> Shape:
    return Shape(ref.duration_s, ref.sample_rate, ref.channels)


def estimate(
    commands: list[Event], budget: Budget, *, midi_tracks: int | None = None
) -> tuple[Estimate, list[Overrun]]:
    """The job's estimate and the stages over `budget` (empty when it fits)."""
    found = Estimate()
    overruns: list[Overrun] = []
    first = next((c for c in commands if isinstance(c, PipelineCommand)), None)
    if first is None:
        return found, overruns
    shape = _input_shape(first, midi_tracks)
    for index, stage in enumerate([first, *first.slip]):
        cost = _cost(stage, shape, budget)
        shape = cost.after
        _record(found, overruns, index, cost, budget)
    if found.output_bytes > budget.max_output_bytes and not overruns:
        overruns.append(
            Overrun(
                len(first.slip),
                "output",
                f"the job would write about {describe_bytes(found.output_bytes)} in all, over "
                f"the limit of {describe_bytes(budget.max_output_bytes)} per job",
            )
        )
    return found, overruns


def _input_shape(command: PipelineCommand, midi_tracks: int | None) -> Shape:
    if isinstance(command, EffectsRequested) and command.input is not None:
        return _from_ref(command.input)
    if isinstance(command, SeparationRequested | MasterRequested):
        return _from_ref(command.input)
    if isinstance(command, RenderRequested):
        return replace(_from_ref(command.input), midi_tracks=midi_tracks)
    if isinstance(command, MixRequested):
        refs = list(command.inputs.values())
        return replace(_from_ref(refs[0]), parts=len(refs))
    return Shape(None, None, None)


def _record(
    found: Estimate, overruns: list[Overrun], index: int, cost: StageCost, budget: Budget
) -> None:
    found.output_bytes += cost.bytes
    found.peak_memory_bytes = max(found.peak_memory_bytes, cost.memory)
    found.cpu_seconds += cost.cpu
    overruns.extend(Overrun(index, param, message) for param, message in cost.over)
    if cost.bytes > budget.max_output_bytes:
        overruns.append(
            Overrun(
                index,
                "output",
                f"it would write about {describe_bytes(cost.bytes)} ({cost.explain}), over the "
                f"limit of {describe_bytes(budget.max_output_bytes)} per job; choose a "
                "compressed format or a lower bit depth, fewer stems, or a shorter input",
            )
        )


def _cost(stage: PipelineCommand | PipelineStep, shape: Shape, budget: Budget) -> StageCost:
    """What `stage` costs on input of `shape`: the job's first command or a step of its slip
    (the same work, so the same estimate)."""
    match stage:
        case EffectsRequested():
            chains = [list(chain) for _, _, chain in stage.work_items() if chain is not None]
            return _effects(chains, stage.output, shape, budget)
        case EffectsStep():
            chains = [list(chain) for chain in stage.params.chains.values()]
            if stage.params.chain is not None:
                chains.append(list(stage.params.chain))
            return _effects(chains, stage.params.output, shape, budget)
        case SeparationRequested():
            return _separation(len(stage.stems), stage.output, shape)
        case SeparationStep():
            return _separation(len(stage.params.stems), stage.params.output, shape)
        case MasterRequested() | MixRequested() | MasterStep() | MixStep():
            return _stereo(stage.params.output, shape)
        case RenderRequested() | RenderStep():
            return _render(stage.params, shape)
        case CompositionRequested():
            return _blend(stage)
    return StageCost(after=shape)


def _effects(
    chains: list[list[Effect]], output: OutputFormat, shape: Shape, budget: Budget
) -> StageCost:
    over: list[tuple[str, str]] = []
    rate, channels, frames = shape.sample_rate, shape.channels, shape.frames
    memory = cpu = 0.0
    if rate and channels and frames is not None:
        block = block_frames_for(channels)
        for chain in chains:
            needs = chain_memory_bytes(chain, rate, channels, block)
            problem = memory_problem(chain, rate, channels, block, budget.max_memory_bytes)
            if problem is not None and not over:
                index, sentence = problem
                over.append((f"chain.{index}", f"{sentence} per job"))
            memory = max(memory, needs)
            cpu += chain_cpu_seconds(chain, frames, channels, rate, block)
        seconds = shape.seconds or 0.0
        allowed = max(budget.min_cpu_seconds, budget.cpu_seconds_per_audio_second * seconds)
        if cpu > allowed:
            over.append(
                (
                    "chain",
                    f"the chain would take about {cpu:,.0f} s of CPU time for {seconds:,.0f} s "
                    f"of audio at {rate} Hz in {channels} channels, over the limit of "
                    f"{allowed:,.0f} s ({budget.cpu_seconds_per_audio_second:g} s per second "
                    "of audio); use fewer or lighter effects (pitch_shift is the heaviest)",
                )
            )
    return StageCost(
        after=shape,
        bytes=_pcm_bytes(shape, output),
        explain=_explain(shape, output),
        memory=int(memory),
        cpu=cpu,
        over=over,
    )


def _explain(shape: Shape, output: OutputFormat) -> str:
    width = shape.channels or 2
    parts = f"{shape.parts} files × " if shape.parts > 1 else ""
    depth = output.bytes_per_sample
    return (
        f"{parts}{shape.seconds or 0:,.0f} s × {shape.sample_rate} Hz × {width} channels × "
        f"{depth} bytes as {output.format}"
    )


def _separation(stems: int, output: OutputFormat, shape: Shape) -> StageCost:
    return _writes(replace(shape, parts=stems), output)


def _stereo(output: OutputFormat, shape: Shape) -> StageCost:
    return _writes(replace(shape, parts=1, channels=2), output)


def _writes(after: Shape, output: OutputFormat) -> StageCost:
    return StageCost(after, _pcm_bytes(after, output), _explain(after, output))


def _render(params: RenderParams, shape: Shape) -> StageCost:
    tracks = shape.midi_tracks if shape.midi_tracks is not None else ASSUMED_TRACKS
    stems = params.stems
    files = 1 + (2 * tracks if stems else 0)  # the mix, the stems and stems.zip's copy
    seconds, preview = shape.seconds, params.preview_seconds
    if preview is not None:
        seconds = preview if seconds is None else min(seconds, preview)
    written = Shape(seconds, params.sample_rate, 2, parts=files)
    return replace(
        _writes(written, params.output), after=replace(written, parts=tracks if stems else 1)
    )


def _blend(command: CompositionRequested) -> StageCost:
    seconds = longest_duration_s(command.settings)
    return StageCost(after=Shape(seconds, None, None), bytes=MIDI_AND_SCORE_BYTES)
