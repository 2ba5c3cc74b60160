"""Routing slips: which step may follow which, and the command each finished step hands on."""

from __future__ import annotations

import uuid
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.composition import BlendSource, CompositionCompleted, CompositionRequested
from cadenza.contracts.effects import EffectsCompleted, EffectsRequested
from cadenza.contracts.pipeline import (
    STEP_INPUT,
    EffectsStep,
    EffectsStepParams,
    MasterParams,
    MasterStep,
    MixStep,
    PipelineStep,
    RenderStep,
    SeparationStep,
    SeparationStepParams,
    chain_problems,
    kinds_after,
)
from cadenza.contracts.render import (
    MasterRequested,
    MixCompleted,
    MixRequested,
    RenderCompleted,
    RenderRequested,
)
from cadenza.contracts.routing import KIND_COMMANDS, PipelineError, next_command
from cadenza.contracts.separation import SeparationCompleted, SeparationRequested


def ref(name: str, media_type: str = "audio/wav") -> ArtifactRef:
    return ArtifactRef(uri=f"file:///x/{name}", media_type=media_type, bytes=1, sha256="b" * 64)


MIDI = ref("blend.mid", "audio/midi")


def blend_command(*slip: object) -> CompositionRequested:
    return CompositionRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        sources=[BlendSource(song_id=uuid.uuid4(), title=t, midi=MIDI) for t in "AB"],
        slip=slip,
        output_prefix="blend-",
    )


def test_full_song_hands_the_midi_to_render_and_the_mix_to_master() -> None:
    blend = blend_command(RenderStep(stage="render"), MasterStep(stage="master"))
    blended = CompositionCompleted.caused_by(
        blend,
        stage="blend",
        outputs={
            "blend-blend.mid": MIDI,
            "blend-blend.musicxml": ref("x", "application/vnd.recordare.musicxml+xml"),
        },
    )
    render = next_command(blend, blended)
    assert isinstance(render, RenderRequested)
    assert render.input == MIDI and render.stage == "render"
    assert render.output_prefix == "render-" and [s.stage for s in render.slip] == ["master"]
    assert render.job_id == blend.job_id and render.causation_id == blended.event_id
    # A redelivered step derives the same command (same id: JetStream drops the copy).
    again = next_command(blend, blended)
    assert again is not None and again.event_id == render.event_id

    rendered = RenderCompleted.caused_by(
        render,
        stage="render",
        outputs={
            "render-mix.wav": ref("mix"),
            "render-piano.wav": ref("piano"),
            "render-stems.zip": ref("z", "application/zip"),
        },
    )
    master = next_command(render, rendered)
    assert isinstance(master, MasterRequested)
    assert master.input.uri.endswith("/mix") and master.slip == () and master.output_prefix == ""
    assert next_command(master, rendered) is None


def test_remix_goes_stems_to_effects_to_mix_to_master() -> None:
    separate = SeparationRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=ref("song"),
        model="classical",
        stems=("drums", "vocals"),
        output_prefix="separation-",
        slip=(
            EffectsStep(
                stage="effects", params=EffectsStepParams(chains={"vocals": [{"type": "reverb"}]})
            ),
            MixStep(stage="mix"),
            MasterStep(stage="master", params=MasterParams(preset="apple")),
        ),
    )
    separated = SeparationCompleted.caused_by(
        separate,
        stage="separation",
        outputs={"separation-drums.wav": ref("d"), "separation-vocals.wav": ref("v")},
    )
    effects = next_command(separate, separated)
    assert isinstance(effects, EffectsRequested)
    assert sorted(effects.inputs) == ["drums", "vocals"] and effects.input is None
    items = effects.work_items()
    assert [(name, chain is None) for name, _, chain in items] == [
        ("effects-drums.wav", True),  # no chain: passes through
        ("effects-vocals.wav", False),
    ]
    processed = EffectsCompleted.caused_by(
        effects,
        stage="effects",
        outputs={"effects-drums.wav": ref("d2"), "effects-vocals.wav": ref("v2")},
    )
    mix = next_command(effects, processed)
    assert isinstance(mix, MixRequested)
    assert {n: r.uri[-2:] for n, r in mix.inputs.items()} == {"drums": "d2", "vocals": "v2"}
    mixed = MixCompleted.caused_by(mix, stage="mix", outputs={"mix-mix.wav": ref("m")})
    master = next_command(mix, mixed)
    assert isinstance(master, MasterRequested)
    assert master.params.target == (-16.0, -1.0)


def test_a_step_without_the_input_it_needs_is_an_error() -> None:
    blend = blend_command(MasterStep(stage="master"))
    blended = CompositionCompleted.caused_by(blend, stage="blend", outputs={"blend.mid": MIDI})
    with pytest.raises(PipelineError, match="one audio result"):
        next_command(blend, blended)


@pytest.mark.parametrize(
    ("kinds", "first", "problem"),
    [
        (["blend", "render", "master"], None, None),
        (["separation", "effects", "mix", "master"], "audio", None),
        (["blend", "render", "mix", "master"], None, None),
        (["render", "master"], "midi", None),
        (["effects", "master"], "audio", None),
        (["blend", "master"], None, "step 2 (master) takes audio, but step 1 (blend) gives midi"),
        (["separation", "master"], "audio", "takes audio, but step 1 (separation) gives stems"),
        (["render", "blend"], "midi", "blend can only be the first step"),
        (["separation"], "midi", "step 1 (separation) takes audio, but the input gives midi"),
    ],
)
def test_chain_problems(kinds: list[str], first: str | None, problem: str | None) -> None:
    found = chain_problems(kinds, first)
    assert (problem is None and found == []) or any(problem in p for p in found if problem), found


def test_steps_are_strict() -> None:
    with pytest.raises(ValidationError):
        SeparationStep(stage="Bad Name", params=SeparationStepParams(model="x", stems=("bass",)))
    with pytest.raises(ValidationError):
        MasterParams(target_lufs=-3)
    with pytest.raises(ValidationError):
        MasterParams(true_peak_db=1)
    with pytest.raises(ValidationError, match="either one input or named inputs"):
        EffectsRequested(job_id=uuid.uuid4(), owner="a", correlation_id=uuid.uuid4())
    with pytest.raises(ValidationError, match="a single input needs a chain"):
        EffectsRequested(
            job_id=uuid.uuid4(), owner="a", correlation_id=uuid.uuid4(), input=ref("x")
        )
    with pytest.raises(ValidationError, match="chains per stem"):
        EffectsStepParams()


# One step of each kind a slip can hold, that a render's outputs (a mix, a stem, the MIDI)
# can feed.
SAMPLE_STEPS: dict[str, Any] = {
    "render": RenderStep(stage="next"),
    "separation": SeparationStep(
        stage="next", params=SeparationStepParams(model="classical", stems=("bass",))
    ),
    "effects": EffectsStep(stage="next", params=EffectsStepParams(chain=[{"type": "gain"}])),
    "mix": MixStep(stage="next"),
    "master": MasterStep(stage="next"),
}


def test_the_samples_cover_every_kind_of_step_a_slip_can_hold() -> None:
    assert {type(s) for s in SAMPLE_STEPS.values()} == set(get_args(get_args(PipelineStep)[0]))


@pytest.mark.parametrize("kind", sorted(SAMPLE_STEPS))
def test_each_kind_of_step_becomes_the_command_kind_commands_names(kind: str) -> None:
    assert SAMPLE_STEPS[kind].kind == kind
    render = RenderRequested(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        input=MIDI,
        slip=(SAMPLE_STEPS[kind],),
    )
    rendered = RenderCompleted.caused_by(
        render,
        stage="render",
        outputs={"mix.wav": ref("mix"), "piano.wav": ref("piano"), "song.mid": MIDI},
    )
    assert type(next_command(render, rendered)) is KIND_COMMANDS[kind]


def test_kind_commands_covers_every_kind_of_step() -> None:
    assert set(KIND_COMMANDS) == set(STEP_INPUT)


def test_kinds_after_follows_what_each_step_takes_and_gives() -> None:
    assert kinds_after("blend") == ("render",)
    assert kinds_after("separation") == ("effects", "mix")
    assert "render" not in kinds_after("effects")
    assert "blend" not in {k for kind in STEP_INPUT for k in kinds_after(kind)}


def test_a_separation_step_hands_its_shifts_overlap_and_seed_to_its_command() -> None:
    step = SeparationStep(
        stage="next",
        params=SeparationStepParams(
            model="htdemucs", stems=("vocals",), shifts=4, overlap=0.5, seed=77
        ),
    )
    render = RenderRequested(
        job_id=uuid.uuid4(), owner="alice", correlation_id=uuid.uuid4(), input=MIDI, slip=(step,)
    )
    rendered = RenderCompleted.caused_by(render, stage="render", outputs={"mix.wav": ref("mix")})
    separation = next_command(render, rendered)
    assert isinstance(separation, SeparationRequested)
    assert (separation.shifts, separation.overlap, separation.seed) == (4, 0.5, 77)
    assert separation.work_factor() == 4 * 0.75 / 0.5


@pytest.mark.parametrize(
    ("options", "field"),
    [({"shifts": 11}, "shifts"), ({"overlap": 0.8}, "overlap"), ({"seed": -1}, "seed")],
)
def test_separation_options_are_bounded(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SeparationStepParams(model="htdemucs", stems=("vocals",), **options)
    assert raised.value.errors()[0]["loc"] == (field,)
