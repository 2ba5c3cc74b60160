"""Real songs for the engine tests: works from the corpus music21 ships on disk (three Bach
chorales and an Essen folk song), written to Standard MIDI Files once per session."""

from __future__ import annotations

import pytest

from cadenza.composition.engine import SourceSong

# title → (corpus path, work number inside a collection file)
WORKS: dict[str, tuple[str, int | None]] = {
    "bwv66.6": ("bach/bwv66.6", None),  # F# minor, 4/4
    "bwv1.6": ("bach/bwv1.6", None),  # F major
    "bwv347": ("bach/bwv347", None),  # A major
    "altdeu10": ("essenFolksong/altdeu10", 1),  # Das Hildebrandslied, one voice
}


@pytest.fixture(scope="session")
def corpus_songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceSong]:
    from music21 import corpus

    folder = tmp_path_factory.mktemp("corpus-midi")
    songs = {}
    for title, (path, number) in WORKS.items():
        score = corpus.parse(path, number=number) if number else corpus.parse(path)
        file = folder / f"{title}.mid"
        score.write("midi", fp=file)
        songs[title] = SourceSong(title=title, midi=file.read_bytes())
    return songs


@pytest.fixture(scope="session")
def chorales(corpus_songs: dict[str, SourceSong]) -> list[SourceSong]:
    return [corpus_songs[t] for t in ("bwv66.6", "bwv1.6", "bwv347")]
