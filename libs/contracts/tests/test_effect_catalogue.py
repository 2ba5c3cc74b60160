"""The effect catalogue editors and clients are built from: complete, and truthful about
what the chain contract accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from cadenza.contracts.effect_catalogue import (
    NUDGES_PER_RANGE,
    EffectType,
    effect_catalogue,
    parameter,
)
from cadenza.contracts.effect_chain import EFFECT_MODELS, EFFECT_TYPES, Effect
from cadenza.contracts.live import NOT_LIVE

EFFECT = TypeAdapter(Effect)
CATALOGUE = effect_catalogue().effects


def test_every_effect_and_parameter_of_the_contract_is_listed_in_its_order() -> None:
    assert [e.type for e in CATALOGUE] == list(EFFECT_TYPES)
    for effect, model in zip(CATALOGUE, EFFECT_MODELS, strict=True):
        assert [p.name for p in effect.parameters] == [
            name for name in model.model_fields if name != "type"
        ]
        assert effect.description, f"{effect.type}: the model's docstring describes it"
    assert sum(len(e.parameters) for e in CATALOGUE) >= 40


@pytest.mark.parametrize("effect", CATALOGUE, ids=lambda e: e.type)
def test_every_starting_value_lies_inside_its_bounds_and_the_contract_accepts_it(
    effect: EffectType,
) -> None:
    """An editor starts each field at `suggested` and may show `default`: both must pass the
    field's own bounds (a browser refuses the form otherwise) and the API's validation."""
    for p in effect.parameters:
        for value in (p.default, p.suggested):
            assert p.minimum <= value <= p.maximum, (p.name, value)
            if p.exclusive_maximum:
                assert value < p.maximum, (p.name, value)
        assert p.nudge > 0
        steps = (p.maximum - p.minimum) / p.nudge
        assert NUDGES_PER_RANGE <= steps < 10 * NUDGES_PER_RANGE, (p.name, p.nudge)
    for pick in ("default", "suggested"):
        values = {p.name: getattr(p, pick) for p in effect.parameters}
        parsed = EFFECT.validate_python({"type": effect.type, **values})
        assert parsed.model_dump(exclude={"type"}) == pytest.approx(values)


@pytest.mark.parametrize("effect", CATALOGUE, ids=lambda e: e.type)
def test_the_bounds_are_the_contracts_own(effect: EffectType) -> None:
    for p in effect.parameters:
        values = {q.name: q.default for q in effect.parameters}
        below = p.minimum - p.nudge
        above = p.maximum if p.exclusive_maximum else p.maximum + p.nudge
        for wrong in (below, above):
            with pytest.raises(ValidationError):
                EFFECT.validate_python({"type": effect.type, **values, p.name: wrong})


def test_labels_carry_the_unit_or_the_range() -> None:
    by_type = {e.type: {p.name: p for p in e.parameters} for e in CATALOGUE}
    assert by_type["compressor"]["attack_ms"].label == "Attack (ms)"
    assert by_type["compressor"]["attack_ms"].unit == "ms"
    assert by_type["delay"]["delay_seconds"].label == "Delay (s)"
    assert by_type["phaser"]["centre_frequency_hz"].label == "Centre frequency (Hz)"
    assert by_type["chorus"]["feedback"].label == "Feedback (\N{MINUS SIGN}1\N{EN DASH}1)"
    assert by_type["peak_filter"]["q"].label == "Q (0.05\N{EN DASH}20)"
    assert by_type["reverb"]["room_size"].unit is None
    labels = {e.type: e.label for e in CATALOGUE}
    assert labels["highpass_filter"] == "Highpass filter"
    assert labels["noise_gate"] == "Noise gate"


def test_starting_values_differ_from_the_defaults_only_where_the_contract_says() -> None:
    by_type = {e.type: {p.name: p for p in e.parameters} for e in CATALOGUE}
    lowpass = by_type["lowpass_filter"]["cutoff_frequency_hz"]
    assert (lowpass.default, lowpass.suggested) == (50.0, 8000.0)
    assert by_type["compressor"]["ratio"].suggested == 3.0
    assert by_type["reverb"]["wet_level"].suggested == by_type["reverb"]["wet_level"].default


def test_effects_that_cannot_run_live_say_why() -> None:
    for effect in CATALOGUE:
        assert effect.live == (effect.type not in NOT_LIVE)
        assert effect.not_live_reason == NOT_LIVE.get(effect.type)
    assert not next(e for e in CATALOGUE if e.type == "pitch_shift").live


def test_a_parameter_without_bounds_is_refused_by_name() -> None:
    class Wobble(BaseModel):
        wobble_hz: float = Field(1.0, ge=0.0)

    with pytest.raises(ValueError, match="wobble_hz: an effect parameter needs"):
        parameter("wobble_hz", Wobble.model_fields["wobble_hz"])


def test_the_readmes_effect_table_names_every_parameter_with_its_default() -> None:
    """README.md's table of effects is for reading; GET /api/v1/effects is the source. Every
    effect and parameter of the catalogue is in the table, with the contract's default."""
    readme = Path(__file__).resolve().parents[3] / "README.md"
    section = readme.read_text(encoding="utf-8").split("### Effects jobs", 1)[1]
    section = section.split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        types, params = row.split("|")[1:3]
        found = {
            name: float(value.replace("\N{MINUS SIGN}", "-"))
            for name, value in re.findall(r"`(\w+)` ([\u2212\-]?[\d.]+)", params)
        }
        for effect in re.findall(r"`(\w+)`", types):
            table[effect] = found
    for effect in CATALOGUE:
        assert effect.type in table, f"README.md's table has no {effect.type}"
        for p in effect.parameters:
            assert table[effect.type].get(p.name) == pytest.approx(p.default, abs=1e-4), (
                f"README.md: {effect.type}.{p.name} should read {p.default:g}"
            )
