"""Which SoundFonts there are: the small General MIDI one pretty_midi bundles (the default)
and whatever the system has installed in the usual places."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pretty_midi

DEFAULT_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
SEARCH_DIRS = (
    Path("/usr/share/sounds/sf2"),
    Path("/usr/share/sounds/sf3"),
    Path("/usr/share/soundfonts"),
    Path("/usr/local/share/soundfonts"),
)
SUFFIXES = (".sf2", ".sf3")


def find_soundfonts(search_dirs: Iterable[Path] = SEARCH_DIRS) -> dict[str, Path]:
    """Installed SoundFonts by name (the file name without suffix, e.g. "FluidR3_GM",
    "MuseScore_General"), the bundled default first. Aliases that resolve to a font
    already listed (Debian's default-GM.sf2 links) are left out."""
    found: dict[str, Path] = {DEFAULT_SOUNDFONT.stem: DEFAULT_SOUNDFONT}
    seen = {DEFAULT_SOUNDFONT.resolve()}
    for directory in search_dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix.lower() not in SUFFIXES or not path.is_file():
                continue
            real = path.resolve()
            if real not in seen and path.stem not in found:
                found[path.stem] = path
            seen.add(real)
    return found
