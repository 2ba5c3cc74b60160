"""The classical method on a synthetic band: each source's energy lands in its own stem."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from cadenza.contracts import OutputFormat
from cadenza.devstack.testing import sdr_db, synthetic_band
from cadenza.separation.pipeline import separate_file
from cadenza.separation.separators import classical_plan


@pytest.fixture(scope="module")
def separated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    root = tmp_path_factory.mktemp("classical")
    band = synthetic_band(30.0, seed=3)
    sf.write(str(root / "mix.wav"), band["mix"], 44100, subtype="FLOAT")
    plan = classical_plan()
    outputs = {stem: root / f"{stem}.wav" for stem in plan.sources}
    separate_file(root / "mix.wav", outputs, plan, OutputFormat(bit_depth=32))
    stems = {stem: sf.read(str(path), dtype="float32")[0] for stem, path in outputs.items()}
    return {**stems, **{f"true_{k}": v for k, v in band.items()}}


@pytest.mark.parametrize(
    ("stem", "minimum_db"),
    # Measured on this mix (2026-11-21): drums 5.3 dB, bass 13.2 dB, other (the tone) 6.4 dB.
    [("drums", 4.0), ("bass", 11.0), ("other", 5.0)],
)
def test_each_source_goes_to_its_stem(
    separated: dict[str, np.ndarray], stem: str, minimum_db: float
) -> None:
    sdr = sdr_db(separated[f"true_{stem}"], separated[stem])
    assert sdr >= minimum_db, f"{stem}: SDR {sdr:.2f} dB"
    # Putting the source in the wrong stem would score below 0 dB here.
    assert sdr > sdr_db(separated[f"true_{stem}"], np.zeros_like(separated[stem])) + 3


def test_most_energy_lands_where_it_belongs(separated: dict[str, np.ndarray]) -> None:
    mix_energy = float(np.sum(separated["true_mix"] ** 2))
    vocals_share = float(np.sum(separated["vocals"] ** 2)) / mix_energy
    assert vocals_share < 0.02, "no voice in the mix, so (almost) nothing in vocals"


def test_the_stems_add_up_to_the_mix(separated: dict[str, np.ndarray]) -> None:
    total = sum(separated[s] for s in ("drums", "bass", "other", "vocals"))
    np.testing.assert_allclose(total, separated["true_mix"], atol=1e-5)
