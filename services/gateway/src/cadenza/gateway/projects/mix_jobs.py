"""A mix job from the project's shared mix: the stems of one of the project's jobs, mixed
with the gains, pans, mutes and solos the members set together (`shared_mix`), and
mastered if asked.

A track of the shared mix is a stem by its artifact name ("vocals.wav") or, as the studio
names its tracks, without the extension ("vocals"). Stems the mix does not name play at
unity gain, centred; a muted track is left out; if any track is soloed,
only soloed unmuted tracks play. Gain is linear in the document (0–1.5) and in decibels in
the mix command (−60..+12 dB: 0 is a mute). The job is an ordinary job of the caller in the
project: the caller's role must start jobs there, and its budget and quota apply.
"""

from __future__ import annotations

import math
import uuid
from functools import partial
from typing import Any

from cadenza.contracts import ArtifactRef
from cadenza.contracts.envelope import derive_id
from cadenza.contracts.jobs import JobSubmitted
from cadenza.contracts.pipeline import MasterParams, MasterStep, MixParams
from cadenza.contracts.render import MAX_STEMS, MixRequested
from cadenza.gateway import repository as jobs_repository
from cadenza.gateway import shared_mix, shared_mix_repository
from cadenza.gateway.application import jobs
from cadenza.gateway.application.errors import UnprocessableError
from cadenza.gateway.job_budget import estimate
from cadenza.gateway.job_state import JobState
from cadenza.gateway.projects import access
from cadenza.gateway.projects.roles import Action
from cadenza.gateway.projects.schemas import MixJobCreate
from cadenza.gateway.services import Services

MIN_GAIN_DB = -60.0
MAX_GAIN_DB = 12.0
AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/flac", "audio/x-flac")


def track_of(
    stem: str, tracks: dict[str, shared_mix.TrackMix], stages: tuple[str, ...] = ()
) -> str | None:
    """The mix's track for a stem artifact: its name ("vocals.wav"), or as the studio
    labels it, without its extension and its stage's prefix ("vocals")."""
    base = stem
    for stage in stages:
        base = base.removeprefix(f"{stage}-")
    for name in (stem, stem.rsplit(".", 1)[0], base, base.rsplit(".", 1)[0]):
        if name in tracks:
            return name
    return None


def mix_settings(
    stems: list[str], tracks: dict[str, shared_mix.TrackMix], stages: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, float], dict[str, float]]:
    """(the stems that play, gains in dB, pans) for `stems` under the mix's `tracks`."""
    soloed = {name for name, t in tracks.items() if t["solo"] and not t["mute"]}
    playing, gains, pans = [], {}, {}
    for stem in stems:
        name = track_of(stem, tracks, stages)
        if name is None:
            if soloed:
                continue
            playing.append(stem)
            continue
        track = tracks[name]
        if track["mute"] or track["gain"] <= 0 or (soloed and name not in soloed):
            continue
        playing.append(stem)
        gains[stem] = max(MIN_GAIN_DB, min(MAX_GAIN_DB, 20 * math.log10(track["gain"])))
        pans[stem] = track["pan"]
    return playing, gains, pans


async def start(
    services: Services, caller: str, project_id: uuid.UUID, request: MixJobCreate
) -> JobState:
    access.check(await access.readable(services.pool, caller, project_id), Action.START_JOBS)
    source = await jobs_repository.get_job(services.pool, caller, request.job_id)
    if source is None or source.project_id != project_id:
        raise UnprocessableError.one("job_id", f"project has no job {request.job_id}")
    stems = {
        name: ref for name, ref in source.artifacts.items() if ref.get("media_type") in AUDIO_TYPES
    }
    if not stems:
        raise UnprocessableError.one("job_id", f"job {request.job_id} has no stems to mix")
    seq, state = await shared_mix_repository.read_state(services.pool, project_id)
    stages = tuple(stage.name for stage in source.stages)
    playing, gains, pans = mix_settings(sorted(stems), shared_mix.as_json(state), stages)
    if not playing:
        raise UnprocessableError.one(
            "job_id", "the shared mix mutes every stem of that job: nothing would be heard"
        )
    if len(playing) > MAX_STEMS:
        raise UnprocessableError.one("job_id", f"a mix takes at most {MAX_STEMS} stems")
    job_id = uuid.uuid4()
    params: dict[str, Any] = {"from_shared_mix": seq, "gains_db": gains, "pans": pans}
    submitted = JobSubmitted(
        event_id=derive_id(job_id, JobSubmitted.subject),
        job_id=job_id,
        owner=caller,
        correlation_id=uuid.uuid4(),
        kind="mix",
        input={"job_id": str(request.job_id)},
        params={**params, "master": request.master},
        stages=["mix", "master"] if request.master else ["mix"],
        project_id=project_id,
    )
    budget, limits = await jobs.budget_for(services, caller)
    command = MixRequested.caused_by(
        submitted,
        inputs={name: ArtifactRef(**stems[name]) for name in playing},
        params=MixParams(gains_db=gains, pans=pans),
        slip=(MasterStep(stage="master", params=MasterParams()),) if request.master else (),
        output_prefix="mix-" if request.master else "",
        limits=limits,
    )
    found, overruns = estimate([command], budget)
    if overruns:
        raise UnprocessableError([{"field": "job_id", "message": o.message} for o in overruns])
    return await jobs.queue(
        services,
        submitted,
        [command],
        reserve_bytes=found.output_bytes,
        admit=partial(services.quotas.admit_job, owner=caller, reserve_bytes=found.output_bytes),
    )
