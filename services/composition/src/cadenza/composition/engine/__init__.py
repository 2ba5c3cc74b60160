"""The composition service's music engine: blends 2–5 songs into a new piece.

Pure and synchronous (no NATS, no storage): MIDI bytes in, MIDI, MusicXML and a JSON
summary out. `blend` is the entry point; `longest_shared_run` and `syllabify` are the
measurements it reports, exposed for callers and tests.
"""

from cadenza.composition.engine.blend import BlendParams, BlendResult, SourceSong, blend
from cadenza.composition.engine.errors import BlendError
from cadenza.composition.engine.lyrics import Syllable, syllabify
from cadenza.composition.engine.originality import LIMIT, longest_exact_run, longest_shared_run
from cadenza.composition.engine.theory import Key, parse_key

__all__ = [
    "LIMIT",
    "BlendError",
    "BlendParams",
    "BlendResult",
    "Key",
    "SourceSong",
    "Syllable",
    "blend",
    "longest_exact_run",
    "longest_shared_run",
    "parse_key",
    "syllabify",
]
