"""The Python client's vocabulary.py is generated from the contracts, and is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.client import cli_input, vocabulary
from cadenza.contracts.effect_catalogue import effect_catalogue
from cadenza.gateway.client_vocabulary import client_vocabulary

COMMITTED = Path(vocabulary.__file__)


def test_the_committed_vocabulary_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == client_vocabulary(), (
        "run `make generate` and commit libs/client/src/cadenza/client/vocabulary.py"
    )


def test_every_effect_parameter_reaches_the_client_with_its_bounds() -> None:
    for effect in effect_catalogue().effects:
        params = vocabulary.EFFECTS[effect.type]
        assert list(params) == [p.name for p in effect.parameters]
        for p in effect.parameters:
            assert params[p.name] == (
                p.default,
                p.minimum,
                p.maximum,
                p.exclusive_maximum,
                p.unit,
            )
    assert vocabulary.NOT_LIVE_EFFECTS == ("pitch_shift",)


def test_the_command_line_checks_effect_names_against_it() -> None:
    assert cli_input.parse_effect("compressor:attack_ms=5,ratio=4") == {
        "type": "compressor",
        "attack_ms": 5,
        "ratio": 4,
    }
    with pytest.raises(cli_input.UsageError, match=r"no effect 'wobble' \(gain, reverb"):
        cli_input.parse_effect("wobble:rate_hz=3")
    with pytest.raises(cli_input.UsageError, match=r"gain has no 'gian_db' \(it has: gain_db\)"):
        cli_input.parse_effect("gain:gian_db=3")
    # Values are the server's to check: it names the field it refuses.
    assert cli_input.parse_effect("reverb:room_size=5") == {"type": "reverb", "room_size": 5}
