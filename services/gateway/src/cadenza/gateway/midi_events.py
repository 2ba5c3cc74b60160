"""Counting a MIDI file's events, run in a file-check child process (cadenza.gateway.file_checks).

A module of its own, light to import: the child unpickles the function by this module's
name, and cadenza.music (mido, pretty_midi) is imported only in the child, so the serving
process never loads the MIDI libraries.
"""

from __future__ import annotations

from pathlib import Path


def midi_problem(path: Path, max_events: int) -> tuple[int, str] | None:
    """None if the file is a Standard MIDI File of at most `max_events` events (counted on
    its bytes); else the HTTP status and the sentence: 422 past the limit, 415 otherwise."""
    from cadenza.music import MidiFileError, MidiProblem, count_events, unwrap_riff

    try:
        count_events(unwrap_riff(path.read_bytes()), max_events=max_events)
    except MidiFileError as e:
        return (422 if e.problem is MidiProblem.TOO_MANY_EVENTS else 415), str(e)
    return None
