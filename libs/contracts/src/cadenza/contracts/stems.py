"""Stem names: what separation models produce and what mixes and effects steps address."""

from __future__ import annotations

from typing import Literal

# The stems Demucs models produce (the 6-source model adds guitar and piano), and the
# complement of a one-target model (a RoFormer vocals model: the mix minus the vocals).
STEM_NAMES: tuple[str, ...] = (
    "drums",
    "bass",
    "other",
    "vocals",
    "guitar",
    "piano",
    "instrumental",
)
StemName = Literal["drums", "bass", "other", "vocals", "guitar", "piano", "instrumental"]
