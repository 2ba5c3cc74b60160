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
from cadenza.gateway.job_requests import Context, plan_job
from cadenza.gateway.job_requests.blend import song_count_problems
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
