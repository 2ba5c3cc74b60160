"""The Python client's vocabulary, generated from the contracts: `cadenza-gateway
client-vocabulary` prints libs/client/src/cadenza/client/vocabulary.py (`make generate`
writes it; a test fails while the committed file is stale).

The client stays standalone (httpx, websockets and rich; no pydantic, none of the
platform's packages), so it cannot import libs/contracts: what it needs from them (effect
names and bounds, output formats, presets, engines, job statuses) is written out here as plain
Python literals instead of being copied by hand.
"""

from __future__ import annotations

import json
from typing import get_args

from cadenza.contracts.audio_format import AudioFormatName
from cadenza.contracts.composition import STYLES, Engine, Ensemble
from cadenza.contracts.effect_catalogue import effect_catalogue
from cadenza.contracts.pipeline import MASTER_PRESETS
from cadenza.gateway.job_state import TERMINAL, Status

HEADER = '''"""The API's vocabulary: effects with their parameters' bounds, output formats, presets,
engines and job statuses. Generated from libs/contracts by `make generate` (`cadenza-gateway
client-vocabulary`): do not edit; a test fails while this file is stale."""

from __future__ import annotations

from typing import NamedTuple


class EffectParameter(NamedTuple):
    default: float
    minimum: float
    maximum: float
    exclusive_maximum: bool
    unit: str | None

'''


def _literal(value: object) -> str:
    """Python source for a value, quoted as `ruff format` would leave it."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_literal, value)) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _names(name: str, values: tuple[str, ...]) -> str:
    return f"{name}: tuple[str, ...] = {_literal(values)}\n"


def client_vocabulary() -> str:
    lines = [HEADER, "\n"]
    lines.append(_names("OUTPUT_FORMATS", get_args(AudioFormatName)))
    lines.append(_names("MASTER_PRESETS", tuple(MASTER_PRESETS)))
    lines.append(_names("BLEND_ENGINES", get_args(Engine)))
    lines.append(_names("BLEND_STYLES", STYLES))
    lines.append(_names("BLEND_ENSEMBLES", get_args(Ensemble)))
    lines.append(_names("JOB_STATUSES", get_args(Status)))
    ordered = tuple(s for s in get_args(Status) if s in TERMINAL)
    lines.append(f"TERMINAL_STATUSES: frozenset[str] = frozenset({_literal(ordered)})\n")
    lines.append("# Effect type → parameter → its default, bounds and unit.\n")
    lines.append("EFFECTS: dict[str, dict[str, EffectParameter]] = {\n")
    for effect in effect_catalogue().effects:
        if not effect.parameters:
            lines.append(f"    {_literal(effect.type)}: {{}},\n")
            continue
        lines.append(f"    {_literal(effect.type)}: {{\n")
        for p in effect.parameters:
            values = (p.default, p.minimum, p.maximum, p.exclusive_maximum, p.unit)
            lines.append(f"        {_literal(p.name)}: EffectParameter{_literal(values)},\n")
        lines.append("    },\n")
    lines.append("}\n")
    not_live = [e.type for e in effect_catalogue().effects if not e.live]
    lines.append(_names("NOT_LIVE_EFFECTS", tuple(not_live)))
    return "".join(lines)
