"""Music basics Cadenza's services share: Standard MIDI Files parsed and loaded safely (with
readable errors), seconds to quarter notes, and key finding from pitch-class profiles."""

from cadenza.music.key_profiles import (
    MAJOR_PROFILE,
    MINOR_PROFILE,
    Mode,
    best_key,
    key_correlations,
    key_index,
)
from cadenza.music.midi_file import (
    GLOBAL_META,
    MAX_EVENTS,
    MAX_TICKS,
    MidiFileError,
    MidiProblem,
    count_events,
    failure_reason,
    gather_meta,
    load_pretty_midi,
    parse_midi,
    states_tempo,
    unwrap_riff,
)
from cadenza.music.timing import quarter_clock

__all__ = [
    "GLOBAL_META",
    "MAJOR_PROFILE",
    "MAX_EVENTS",
    "MAX_TICKS",
    "MINOR_PROFILE",
    "MidiFileError",
    "MidiProblem",
    "Mode",
    "best_key",
    "count_events",
    "failure_reason",
    "gather_meta",
    "key_correlations",
    "key_index",
    "load_pretty_midi",
    "parse_midi",
    "quarter_clock",
    "states_tempo",
    "unwrap_riff",
]
