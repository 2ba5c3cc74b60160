"""Pipeline job requests: presets expand into stages, bad orders and counts are refused
with sentences, and the first command carries the rest as its routing slip."""

from __future__ import annotations

import uuid

import pytest

from cadenza.contracts.artifacts import ArtifactRef
from cadenza.contracts.composition import BlendSource, CompositionRequested
from cadenza.contracts.jobs import JobSubmitted
from cadenza.contracts.pipeline import EffectsStep, MasterStep, MixStep, RenderStep
from cadenza.contracts.separation import CLASSICAL_INFO, SeparationRequested
from cadenza.gateway.job_budget import Budget, estimate
from cadenza.gateway.job_requests import Context, plan_job
from cadenza.gateway.job_requests.blend import BlendJobRequest, song_count_problems
from cadenza.gateway.job_requests.pipeline import PipelineJobRequest

MIDI = ArtifactRef(uri="file:///m.mid", media_type="audio/midi", bytes=1, sha256="c" * 64)
AUDIO = ArtifactRef(
    uri="file:///a.wav",
    media_type="audio/wav",
    bytes=1,
    sha256="d" * 64,
    sample_rate=44100,
    channels=2,
    duration_s=3.0,
)


def context(source: ArtifactRef | None = None, songs: int = 0) -> Context:
    return Context(
        job_id=uuid.uuid4(),
        owner="alice",
        correlation_id=uuid.uuid4(),
        upload=None,
        models={"classical": CLASSICAL_INFO},
        source=source,
        songs=tuple(
            BlendSource(song_id=uuid.uuid4(), title=f"Song {i}", midi=MIDI) for i in range(songs)
        ),
    )


def test_full_song_is_blend_render_master_with_a_slip() -> None:
    request = PipelineJobRequest(
        kind="pipeline",
        preset="full-song",
        params={"songs": ["A", "B", "C"], "length_bars": 16, "master": {"preset": "apple"}},
    )
    ctx = context(songs=3)
    assert request.stages == ("blend", "render", "master")
    assert request.songs_to_resolve() == ("params.songs", ["A", "B", "C"])
    assert request.problems(ctx) == []
    submitted, (first,) = plan_job(request, ctx)
    assert isinstance(submitted, JobSubmitted) and submitted.stages == ["blend", "render", "master"]
    assert [s["kind"] for s in submitted.params["steps"]] == ["blend", "render", "master"]
    assert isinstance(first, CompositionRequested)
    assert first.settings.length_bars == 16 and len(first.sources) == 3
    assert first.output_prefix == "blend-"
    assert [type(s) for s in first.slip] == [RenderStep, MasterStep]
    master = first.slip[1]
    assert isinstance(master, MasterStep) and master.params.target == (-16.0, -1.0)


def test_a_blend_job_ends_with_a_preview_of_its_first_seconds() -> None:
    ctx = context(songs=2)
    request = BlendJobRequest(kind="blend", params={"songs": ["A", "B"], "length_seconds": 600})
    assert request.stages == ("blend", "preview")
    submitted, (first,) = plan_job(request, ctx)
    assert isinstance(submitted, JobSubmitted) and submitted.stages == ["blend", "preview"]
    assert isinstance(first, CompositionRequested)
    # The blend's own files keep their names (blend.mid …): the preview writes preview.mp3.
    assert first.output_prefix == ""
    (preview,) = first.slip
    assert isinstance(preview, RenderStep) and preview.stage == "preview"
    params = preview.params
    assert (params.preview_seconds, params.stems, params.output.format) == (30.0, False, "mp3")
    # Its budget counts 30 s of audio however long the piece: a 10-minute blend's preview
    # is as cheap as a short one's.
    budget = Budget(10**9, 10**9, 10.0, 10.0)
    long_cost, _ = estimate([first], budget)
    (short,) = plan_job(
        BlendJobRequest(kind="blend", params={"songs": ["A", "B"], "length_seconds": 40}), ctx
    )[1]
    assert long_cost.output_bytes == estimate([short], budget)[0].output_bytes
    # Without it (or in a pipeline that renders the piece) there is no preview stage.
    quiet = BlendJobRequest(kind="blend", params={"songs": ["A", "B"], "preview": False})
    assert quiet.stages == ("blend",)
    assert plan_job(quiet, ctx)[1][0].slip == ()  # type: ignore[attr-defined]
    alone = PipelineJobRequest(
        kind="pipeline", steps=[{"kind": "blend", "params": {"songs": ["A", "B"]}}]
    )
    assert alone.stages == ("blend", "preview")
    named = PipelineJobRequest(
        kind="pipeline",
        steps=[{"kind": "blend", "stage": "preview", "params": {"songs": ["A", "B"]}}],
    )
    assert named.problems(ctx)[0]["field"] == "steps.0.stage"


def test_remix_gets_effects_per_stem_by_default() -> None:
    request = PipelineJobRequest(
        kind="pipeline", preset="remix", input={"upload_id": uuid.uuid4()}, params={}
    )
    ctx = context(source=AUDIO)
    assert request.problems(ctx) == []
    _, (first,) = plan_job(request, ctx)
    assert isinstance(first, SeparationRequested)
    assert first.model == "classical" and first.stage == "separation"
    effects, mix, master = first.slip
    assert isinstance(effects, EffectsStep) and "vocals" in effects.params.chains
    assert isinstance(mix, MixStep) and isinstance(master, MasterStep)


def test_a_separation_s_shifts_overlap_and_seed_reach_its_command() -> None:
    request = PipelineJobRequest(
        kind="pipeline",
        preset="remix",
        input={"upload_id": uuid.uuid4()},
        params={"separation": {"shifts": 3, "overlap": 0.5, "seed": 9}},
    )
    ctx = context(source=AUDIO)
    assert request.problems(ctx) == []
    submitted, (first,) = plan_job(request, ctx)
    assert isinstance(first, SeparationRequested)
    assert (first.shifts, first.overlap, first.seed) == (3, 0.5, 9)
    recorded = submitted.params["steps"][0]["params"]
    assert (recorded["shifts"], recorded["overlap"], recorded["seed"]) == (3, 0.5, 9)


@pytest.mark.parametrize(
    ("body", "source", "words"),
    [
        (
            {"steps": [{"kind": "blend", "params": {"songs": ["a", "b"]}}, {"kind": "master"}]},
            None,
            "step 2 (master) takes audio, but step 1 (blend) gives midi",
        ),
        (
            {"steps": [{"kind": "separation"}, {"kind": "master"}]},
            AUDIO,
            "step 2 (master) takes audio, but step 1 (separation) gives stems",
        ),
        (
            {"preset": "full-song", "params": {"songs": ["a", "b"], "master": {"target_lufs": 3}}},
            None,
            "less than or equal to -6",
        ),
        ({"steps": [{"kind": "render"}]}, None, "needs an input"),
        ({"steps": [{"kind": "render"}]}, AUDIO, "takes midi, but the input gives audio"),
        (
            {"steps": [{"kind": "effects", "params": {"chains": {"vocals": [{"type": "gain"}]}}}]},
            AUDIO,
            "a first effects step needs a chain",
        ),
    ],
)
def test_steps_that_cannot_work_are_refused(
    body: dict[str, object], source: ArtifactRef | None, words: str
) -> None:
    request = PipelineJobRequest.model_validate(
        {
            "kind": "pipeline",
            **body,
            **({"input": {"upload_id": str(uuid.uuid4())}} if source else {}),
        }
    )
    problems = request.problems(context(source=source, songs=2))
    assert any(words in p["message"] for p in problems), problems


def test_a_blend_needs_two_to_five_songs() -> None:
    assert song_count_problems(["a", "b"], "params.songs") == []
    (one,) = song_count_problems(["a"], "params.songs")
    assert one == {"field": "params.songs", "message": "a blend takes 2 to 5 songs; got 1"}
    assert "got 50" in song_count_problems(["x"] * 50, "params.songs")[0]["message"]
