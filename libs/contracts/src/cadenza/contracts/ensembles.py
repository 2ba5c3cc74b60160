"""Ensembles: several separation models run on the same mix, their stems averaged.

A model name `ensemble:htdemucs_ft+bs_roformer_vocals` names the ensemble of those models
(2 to 4, each available on its own). A stem of the ensemble is the weighted mean of the
stems of that name its members produce (as python-audio-separator's and UVR's average
ensembles do); every stem some member has is a stem of the ensemble. Weights are per member
and stem (`SeparationOptions.ensemble_weights`, 1 when not given; 0 leaves a member out of
a stem). Gateway and worker resolve names through `resolve_model`, so both say the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import cast

from cadenza.contracts.separation import ModelInfo
from cadenza.contracts.separation_options import MAX_ENSEMBLE_MEMBERS, SeparationOptions
from cadenza.contracts.stems import StemName

ENSEMBLE_PREFIX = "ensemble:"
MAX_MEMBERS = MAX_ENSEMBLE_MEMBERS
MAX_WEIGHT = 10.0
# Families whose models take test-time shifts (RoFormer models run as their reference does).
SHIFTING_FAMILIES = ("demucs", "classical")
# The most work a separation may do, in passes of one model at demucs's default overlap.
MAX_WORK = 30.0

# Per member, per stem: {"htdemucs_ft": {"vocals": 0.5}}.
EnsembleWeights = Mapping[str, Mapping[StemName, float]]


class ModelResolutionError(ValueError):
    """The name names no model this worker pool can run; the message says why."""


def ensemble_members(name: str) -> tuple[str, ...] | None:
    """`ensemble:a+b` → ("a", "b"); None when `name` is a single model's."""
    if not name.startswith(ENSEMBLE_PREFIX):
        return None
    return tuple(part.strip() for part in name.removeprefix(ENSEMBLE_PREFIX).split("+"))


def member_weight(weights: EnsembleWeights | None, member: str, stem: str) -> float:
    mine = cast(Mapping[str, float], (weights or {}).get(member, {}))
    return float(mine.get(stem, 1.0))


def resolve_model(
    name: str, available: Mapping[str, ModelInfo], weights: EnsembleWeights | None = None
) -> ModelInfo:
    """The model `name` names: one of `available`, or an ensemble of them."""
    members = ensemble_members(name)
    if members is None:
        if weights:
            raise ModelResolutionError("ensemble_weights apply to ensembles only")
        model = available.get(name)
        if model is None:
            raise ModelResolutionError(
                f"unknown or unavailable model {name!r}; available: "
                + ", ".join(sorted(available))
                + f", or an ensemble of 2 to {MAX_MEMBERS} of them ('{ENSEMBLE_PREFIX}a+b')"
            )
        return model
    if not 2 <= len(members) <= MAX_MEMBERS:
        raise ModelResolutionError(f"an ensemble has 2 to {MAX_MEMBERS} models, not {len(members)}")
    if len(set(members)) != len(members):
        raise ModelResolutionError("an ensemble names each model once")
    infos: list[ModelInfo] = []
    for member in members:
        info = available.get(member)
        if info is None:
            raise ModelResolutionError(
                f"the ensemble's model {member!r} is unknown or unavailable; available: "
                + ", ".join(sorted(available))
            )
        infos.append(info)
    for member, given in (weights or {}).items():
        info = available.get(member)
        if member not in members or info is None:
            raise ModelResolutionError(f"ensemble_weights name {member!r}, not in the ensemble")
        for stem, weight in given.items():
            if stem not in info.stems:
                raise ModelResolutionError(f"ensemble_weights: {member} has no {stem} stem")
            if not 0.0 <= weight <= MAX_WEIGHT:
                raise ModelResolutionError(
                    f"ensemble_weights: {member}.{stem} must be from 0 to {MAX_WEIGHT:g}"
                )
    stems: list[StemName] = [
        stem
        for stem in dict.fromkeys(s for info in infos for s in info.stems)
        if any(stem in i.stems and member_weight(weights, i.name, stem) > 0 for i in infos)
    ]
    if not stems:
        raise ModelResolutionError("every weight of the ensemble is 0")
    identity = json.dumps(
        {"members": [[i.name, i.fingerprint] for i in infos], "weights": weights or {}},
        sort_keys=True,
    )
    return ModelInfo(
        name=name,
        family="ensemble",
        stems=tuple(stems),
        sample_rate=0,
        description="Mean of " + ", ".join(i.name for i in infos),
        fingerprint=hashlib.sha256(identity.encode()).hexdigest()[:16],
    )


def member_infos(model: ModelInfo, available: Mapping[str, ModelInfo]) -> list[ModelInfo]:
    """The models that run: an ensemble's members, or the model itself."""
    members = ensemble_members(model.name)
    return [available[name] for name in members] if members else [model]


def _passes(info: ModelInfo, options: SeparationOptions) -> float:
    shifts = options.shifts if info.family in SHIFTING_FAMILIES else 0
    return options.model_copy(update={"shifts": shifts}).work_factor(info.overlap)


def work_factor(
    model: ModelInfo, available: Mapping[str, ModelInfo], options: SeparationOptions
) -> float:
    """How many passes of one model at demucs's default overlap the separation does: each
    member's shifts (where its family takes them) and overlap (the job's, else its own)."""
    return sum(_passes(info, options) for info in member_infos(model, available))


def compute_factor(
    model: ModelInfo, available: Mapping[str, ModelInfo], options: SeparationOptions
) -> float:
    """The separation's compute in passes of htdemucs: each member's passes × its cost (what
    a job's CPU allowance per second of audio scales by)."""
    return sum(_passes(info, options) * info.cost for info in member_infos(model, available))
