"""Small pure pieces of the HTTP layer: ranges, filenames, field paths."""

from __future__ import annotations

import pytest

from cadenza.gateway.downloads import parse_range
from cadenza.gateway.errors import field_path
from cadenza.gateway.multipart_upload import clean_filename


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 100)),
        ("bytes=100-", (100, 1000)),
        ("bytes=-100", (900, 1000)),
        ("bytes=-5000", (0, 1000)),
        ("bytes=990-5000", (990, 1000)),
        ("bytes=0-0", (0, 1)),
        ("bytes=0-10,20-30", None),  # multiple ranges: whole file
        ("items=0-5", None),
    ],
)
def test_ranges(header: str, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError, match=r"range|suffix"):
        parse_range(header, 1000)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("song.wav", "song.wav"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\take 1.flac", "take 1.flac"),
        ("a\x00b\nc.wav", "abc.wav"),
        ("...", "upload"),
        ("", "upload"),
        ("x" * 300 + ".wav", "x" * 255),
    ],
)
def test_filenames_are_display_names_never_paths(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_a_wrong_tag_is_reported_on_the_tag_field() -> None:
    from cadenza.gateway.errors import validation_errors

    errors = [
        {
            "type": "union_tag_invalid",
            "loc": ("body",),
            "msg": "Input tag 'x' found using 'kind'",
            "ctx": {"discriminator": "'kind'", "tag": "x"},
        },
        {
            "type": "union_tag_invalid",
            "loc": ("body", "effects", "params", "chain", 2),
            "msg": "Input tag 'flanger'",
            "ctx": {"discriminator": "'type'", "tag": "flanger"},
        },
    ]
    assert [e["field"] for e in validation_errors(errors)] == ["kind", "params.chain.2.type"]


def test_field_paths_drop_the_union_tag() -> None:
    assert field_path(("body", "params", "chain", 0, "gain", "gain_db")) == "params.chain.0.gain_db"
    assert field_path(("body", "kind")) == "kind"
    assert field_path(("body", "separation", "params", "stems", 0)) == "params.stems.0"
    assert field_path(("body",)) == "body"
