"""MIDI to audio with FluidSynth, offline and in one pass: the mix and one stem per part.

Why stems cost no extra synthesis: one synth is built with `synth.audio-groups` equal
to the number of parts (MIDI channels that play notes), and each part's channel is
mapped onto synth channel 0..n-1, so FluidSynth mixes every part's voices into an
audio group of its own and `fluid_synth_process` hands back one dry stereo pair per
part. Reverb and chorus stay one shared unit, as in FluidSynth's own player; their
return lands in one more stereo buffer. So the mix is the sum of the dry stems plus the
effects return, which is written too (`effects.<ext>`), and a stems download can be
remixed into exactly the mix. With `stem_effects=True` every part gets its own reverb
and chorus unit (`synth.effects-groups`) mixed into its stem: wet stems that sum to the
mix, for about 40 % more time with 8 parts (reverb and chorus run once per part; see
bench/render_speed.py).

Events are sent to the synth between `fluid_synth_process` calls cut at their sample
frame; FluidSynth applies them at its next internal 64-frame block (1.45 ms at 44.1 kHz),
as its own MIDI player does. Blocks are written as they are rendered, by a writer thread
that overlaps synthesis (sink.py), so memory stays flat whatever the piece's length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cadenza.audio import AudioWriter
from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.limits import describe_bytes
from cadenza.render.engine.score import RenderBudgetError, RenderError, Score, read_score
from cadenza.render.engine.sink import Sink
from cadenza.render.engine.soundfonts import DEFAULT_SOUNDFONT
from cadenza.render.engine.synth import BLOCK_FRAMES, Synth

TAIL_CHUNK_FRAMES = 1024
MAX_TAIL_SECONDS = 3.0
TAIL_FLOOR = 10 ** (-90 / 20)  # −90 dBFS: where the tail counts as over
MAX_RENDER_SECONDS = 3600.0
DEFAULT_GAIN = 0.2  # FluidSynth's own default, so a render sounds like `fluidsynth -F`
MIN_RATE, MAX_RATE = 8000, 96000  # what FluidSynth accepts


@dataclass(frozen=True)
class RenderResult:
    mix: Path
    stems: dict[str, Path]  # stem name (file-safe, unique) → file; empty if not asked for
    duration_s: float
    sample_rate: int
    tracks: list[dict[str, object]]  # one per part: name, stem, channel, program, ...
    effects: Path | None = None  # the shared reverb/chorus return, with dry stems
    peak_db: float = -math.inf  # sample peak of the mix, dBFS
    channels: int = 2


def render_midi(
    midi_path: Path,
    out_dir: Path,
    *,
    soundfont: Path = DEFAULT_SOUNDFONT,
    sample_rate: int = 44100,
    output: OutputFormat = OutputFormat(),  # noqa: B008 — frozen, so sharing it is safe
    stems: bool = True,
    stem_effects: bool = False,
    gain: float = DEFAULT_GAIN,
    max_seconds: float = MAX_RENDER_SECONDS,
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], None] | None = None,
    max_output_bytes: int | None = None,
    until_seconds: float | None = None,
) -> RenderResult:
    """Render `midi_path` into `out_dir`: `mix.<ext>`, and with `stems`, `stems/<name>.<ext>`
    per part plus `effects.<ext>` (unless `stem_effects`). `should_stop` is called between
    blocks and cancels the render by raising; files already begun are removed.
    `until_seconds` renders only the beginning (a preview): notes are released there and
    their release and reverb ring out as after the piece's own end."""
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise RenderError(f"sample_rate must be {MIN_RATE}..{MAX_RATE} Hz, not {sample_rate}")
    if problem := output.sample_rate_problem(sample_rate):
        raise RenderError(problem)
    if not soundfont.is_file():
        raise RenderError(f"the SoundFont {soundfont.name} does not exist")
    score = read_score(midi_path, max_seconds=max_seconds)
    if until_seconds is not None:
        score = score.until(until_seconds)
    if max_output_bytes is not None:
        # The mix, a stem per part and the effects return, and their copies in stems.zip.
        files = 1 + (2 * (len(score.parts) + 1) if stems else 0)
        size = int(score.end_seconds * sample_rate) * 2 * files
        size *= output.bytes_per_sample
        if size > max_output_bytes:
            raise RenderBudgetError(
                f"rendering would write about {describe_bytes(size)} ({len(score.parts)} parts"
                f" of {score.end_seconds:,.0f} s at {sample_rate} Hz as {output.format}, "
                f"{'with' if stems else 'without'} stems), over the limit of "
                f"{describe_bytes(max_output_bytes)} for this job; render without stems or "
                "in a compressed format"
            )

    out_dir.mkdir(parents=True, exist_ok=True)
    ext = output.extension
    mix_path = out_dir / f"mix.{ext}"
    stem_paths: dict[str, Path] = {}
    effects_path: Path | None = None
    if stems:
        (out_dir / "stems").mkdir(exist_ok=True)
        stem_paths = {p.stem: out_dir / "stems" / f"{p.stem}.{ext}" for p in score.parts}
        effects_path = None if stem_effects else out_dir / f"effects.{ext}"
    written = [mix_path, *stem_paths.values(), *([effects_path] if effects_path else [])]

    synth = Synth(soundfont, sample_rate, gain, score.parts, stems, stem_effects)
    try:
        with ExitStack() as stack:

            def writer(path: Path) -> AudioWriter:
                return stack.enter_context(AudioWriter(path, output, sample_rate, 2))

            sink = Sink(
                writer(mix_path),
                [writer(path) for path in stem_paths.values()],
                writer(effects_path) if effects_path else None,
            )
            stack.callback(sink.abort)  # runs before the writers close, on any way out
            _play(synth, score, sink, sample_rate, on_progress, should_stop)
            sink.finish()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    finally:
        synth.delete()
    if on_progress:
        on_progress(1.0)
    return RenderResult(
        mix=mix_path,
        stems=stem_paths,
        duration_s=sink.frames / sample_rate,
        sample_rate=sample_rate,
        tracks=[part.describe() for part in score.parts],
        effects=effects_path,
        peak_db=20 * math.log10(sink.peak) if sink.peak > 0 else -math.inf,
    )


def _play(
    synth: Synth,
    score: Score,
    sink: Sink,
    sample_rate: int,
    on_progress: Callable[[float], None] | None,
    should_stop: Callable[[], None] | None,
) -> None:
    """Run the events through the synth, then the tail, into the sink."""
    end_frame = round(score.end_seconds * sample_rate)
    progress_scale = 1 / max(end_frame, 1)
    reported = 0.0
    frame = 0

    def advance_to(target: int) -> None:
        nonlocal frame, reported
        while frame < target:
            frames = min(target - frame, BLOCK_FRAMES - synth.pos)
            synth.render(frames)
            frame += frames
            if synth.pos == BLOCK_FRAMES:
                sink.write(*synth.take())
                synth.clear()
                if should_stop:
                    should_stop()
                if on_progress and frame * progress_scale - reported >= 0.01:
                    reported = frame * progress_scale
                    on_progress(min(reported, 0.99))

    channel_of = synth.channel_of
    for event in score.events:
        at = round(event.seconds * sample_rate)
        if at > frame:
            advance_to(at)
        synth.send(event.kind, channel_of[event.channel], event.a, event.b)
    advance_to(end_frame)
    if synth.pos:
        sink.write(*synth.take())
        synth.clear()
    _tail(synth, sink, round(MAX_TAIL_SECONDS * sample_rate))


def _tail(synth: Synth, sink: Sink, max_frames: int) -> None:
    """Release and reverb after the last event, until a whole chunk stays below −90 dBFS
    or `max_frames` have passed; cut right after the last sample above the floor."""
    held: tuple[np.ndarray, np.ndarray | None] | None = None  # quiet frames, maybe final
    rendered = 0
    while rendered < max_frames:
        frames = min(TAIL_CHUNK_FRAMES, max_frames - rendered)
        synth.render(frames)
        rendered += frames
        loud = np.flatnonzero(np.abs(synth.buffer[:, :frames]).max(axis=0) > TAIL_FLOOR)
        if loud.size == 0:
            break
        if held is not None:
            sink.write(*held)
        dry, effects = synth.take()
        last = int(loud[-1]) + 1
        sink.write(dry, effects, last)
        held = (dry[..., last:].copy(), None if effects is None else effects[:, last:].copy())
        synth.clear()
