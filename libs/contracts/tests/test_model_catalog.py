"""The shipped registry of models a worker can fetch: every entry well formed and laid out
as the loaders need, and the registry format refusing what would be unsafe to act on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from cadenza.contracts.model_catalog import KNOWN_MODELS, KnownModel, parse_catalog


def entry(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "vox",
        "family": "bs_roformer",
        "stems": ["vocals", "instrumental"],
        "sample_rate": 44100,
        "files": [
            {"name": "vox.ckpt", "url": "https://example.com/a.ckpt", "bytes": 10},
            {"name": "vox.yaml", "url": "https://example.com/a.yaml", "bytes": 5},
        ],
        "licence": "MIT",
    }
    base.update(changes)
    return base


def test_the_shipped_registry_has_the_demucs_and_roformer_models() -> None:
    assert set(KNOWN_MODELS) == {
        "htdemucs",
        "htdemucs_ft",
        "htdemucs_6s",
        "bs_roformer_vocals",
        "mel_band_roformer_vocals",
    }
    ft = KNOWN_MODELS["htdemucs_ft"]
    # The bag demucs ships (demucs/remote/htdemucs_ft.yaml) names these four signatures.
    assert [f.name.split("-")[0] for f in ft.files] == [
        "f7e0c4bc",
        "d12395a8",
        "92cfc3b6",
        "04573f0d",
    ]
    assert ft.bytes == 4 * 84141271


@pytest.mark.parametrize("model", KNOWN_MODELS.values(), ids=lambda m: m.name)
def test_every_shipped_file_has_a_full_sha256_an_https_url_and_a_size(model: KnownModel) -> None:
    assert model.fully_checksummed
    for file in model.files:
        assert file.url.startswith("https://")
        assert file.bytes > 0
        if file.name.endswith(".th"):  # demucs's name carries its sha256's first 8 digits
            assert file.sha256 is not None
            assert file.sha256.startswith(file.name.removesuffix(".th").split("-")[1])
    assert model.published_sdr, "each entry says what its publishers measured"
    assert model.licence_source


def test_roformer_models_are_a_checkpoint_and_its_config_named_after_the_model() -> None:
    for name in ("bs_roformer_vocals", "mel_band_roformer_vocals"):
        files = {f.name for f in KNOWN_MODELS[name].files}
        assert files == {f"{name}.ckpt", f"{name}.yaml"}
    with pytest.raises(ValidationError, match=r"two files, vox\.ckpt and vox\.yaml"):
        KnownModel.model_validate(entry(files=entry()["files"][:1]))


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "../etc"},
        {"name": "x" * 65},
        {"family": "ensemble"},
        {"stems": ["vocals", "lyrics"]},
        {"files": []},
    ],
    ids=["traversal", "long-name", "ensemble", "stem", "no-files"],
)
def test_a_bad_entry_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        KnownModel.model_validate(entry(**bad))


@pytest.mark.parametrize(
    "file",
    [
        {"name": "../vox.ckpt"},
        {"name": ".hidden"},
        {"name": "vox.ckpt.part"},
        {"url": "file:///etc/passwd"},
        {"url": "ftp://example.com/a"},
        {"url": "https://user:pw@example.com/a"},
        {"bytes": 0},
        {"bytes": 17 * 1024**3},
        {"sha256": "ABC"},
        {"mode": "0777"},
    ],
    ids=lambda f: next(iter(f)),
)
def test_a_bad_file_is_refused(file: dict[str, Any]) -> None:
    files = entry()["files"]
    files[0] = {**files[0], **file}
    with pytest.raises(ValidationError):
        KnownModel.model_validate(entry(files=files))


def test_a_catalog_file_with_two_models_of_one_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="same name"):
        parse_catalog(json.dumps({"models": [entry(), entry()]}))
    assert set(parse_catalog(json.dumps({"models": [entry()]}))) == {"vox"}
