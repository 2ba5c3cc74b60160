"""The effect catalogue: every effect of the chain contract as data, for editors and clients.

Derived from `effect_chain`'s models (names, defaults, bounds, descriptions) and `live.NOT_LIVE`,
so a new effect or parameter is one edit there. The gateway serves it (GET /api/v1/effects),
the studio builds its effects editor from that answer, and the Python client's vocabulary is
generated from it (`make generate`).

Units come from the parameter's name, as in pedalboard (`threshold_db`, `delay_seconds`,
`cutoff_frequency_hz`). A field's first `examples` value, where it has one, is the starting
value an editor offers (a low-pass at pedalboard's default of 50 Hz would silence a track);
the contract's default is what the API applies when the field is left out.
"""

from __future__ import annotations

import math
import re
from functools import cache

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from cadenza.contracts.effect_chain import EFFECT_MODELS, EFFECT_TYPES, Plugin
from cadenza.contracts.live import NOT_LIVE

UNIT_SUFFIXES = {"_db": "dB", "_ms": "ms", "_hz": "Hz", "_seconds": "s"}
# How many nudges of an editor's arrow keys cross a parameter's whole range, at least.
NUDGES_PER_RANGE = 100


class EffectParameter(BaseModel):
    name: str
    label: str = Field(description="For a form: the name in words, with its unit or range")
    unit: str | None = Field(description="dB, ms, Hz or s; none for ratios and 0–1 amounts")
    description: str | None
    default: float = Field(description="What the API applies when the parameter is left out")
    suggested: float = Field(description="A starting value for an editor (often the default)")
    minimum: float
    maximum: float
    exclusive_maximum: bool = Field(description="Whether `maximum` itself is refused")
    nudge: float = Field(
        description="A step for arrow keys: a power of ten, about a hundredth of the range. "
        "Any value between the bounds is accepted, on this grid or not."
    )


class EffectType(BaseModel):
    type: str = Field(description="The `type` of a chain entry")
    label: str
    description: str
    live: bool = Field(description="Whether live effects sessions accept it")
    not_live_reason: str | None = None
    parameters: list[EffectParameter]


class EffectCatalogue(BaseModel):
    effects: list[EffectType]


def _words(name: str) -> str:
    text = name.replace("_", " ")
    return "Q" if text == "q" else text[:1].upper() + text[1:]


def _number(value: float) -> str:
    return f"{value:g}".replace("-", "\N{MINUS SIGN}")


def _bound(info: FieldInfo, *names: str) -> tuple[float, bool] | None:
    for constraint in info.metadata:
        for exclusive, name in enumerate(names):
            value = getattr(constraint, name, None)
            if value is not None:
                return float(value), bool(exclusive)
    return None


def _nudge(low: float, high: float) -> float:
    return 10.0 ** math.floor(math.log10((high - low) / NUDGES_PER_RANGE))


def parameter(name: str, info: FieldInfo) -> EffectParameter:
    low = _bound(info, "ge", "gt")
    high = _bound(info, "le", "lt")
    if low is None or high is None or not isinstance(info.default, int | float):
        raise ValueError(f"{name}: an effect parameter needs a default and both bounds")
    unit = next((u for suffix, u in UNIT_SUFFIXES.items() if name.endswith(suffix)), None)
    stem = name.removesuffix(next((s for s in UNIT_SUFFIXES if name.endswith(s)), ""))
    shown = unit or f"{_number(low[0])}\N{EN DASH}{_number(high[0])}"
    examples = info.examples or [info.default]
    return EffectParameter(
        name=name,
        label=f"{_words(stem)} ({shown})",
        unit=unit,
        description=info.description,
        default=float(info.default),
        suggested=float(examples[0]),
        minimum=low[0],
        maximum=high[0],
        exclusive_maximum=high[1],
        nudge=_nudge(low[0], high[0]),
    )


def effect_type(name: str, model: type[Plugin]) -> EffectType:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", model.__name__).lower()
    fields = ((n, info) for n, info in model.model_fields.items() if n != "type")
    return EffectType(
        type=name,
        label=words[:1].upper() + words[1:],
        description=(model.__doc__ or "").strip(),
        live=name not in NOT_LIVE,
        not_live_reason=NOT_LIVE.get(name),
        parameters=[parameter(n, info) for n, info in fields],
    )


@cache
def effect_catalogue() -> EffectCatalogue:
    """Every effect, in the contract's order; built once (the contract does not change)."""
    return EffectCatalogue(
        effects=[effect_type(n, m) for n, m in zip(EFFECT_TYPES, EFFECT_MODELS, strict=True)]
    )
