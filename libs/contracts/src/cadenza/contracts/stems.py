"""Stem names: what separation models produce and what mixes and effects steps address."""

from __future__ import annotations

from typing import Literal

# The stems Demucs models produce (the 6-source model adds guitar and piano).
STEM_NAMES: tuple[str, ...] = ("drums", "bass", "other", "vocals", "guitar", "piano")
StemName = Literal["drums", "bass", "other", "vocals", "guitar", "piano"]
