"""A project's shared mix: one Yjs document (pycrdt, Yjs's binary update format) that several
members edit at once, its schema and its bounds. Pure domain code: bytes in, bytes out.

The document has one top-level map, ``tracks``: track id → a map with ``gain`` (linear,
0.0–1.5), ``pan`` (−1.0–1.0), ``mute`` and ``solo`` (booleans) and ``effects`` (a map of effect
parameter name → number). Tracks and their effects must be Yjs maps, not plain JSON objects, so
concurrent edits of different controls merge instead of one replacing the other; a control
set by two members at once ends with one of the two values on every replica (Yjs's rule). A
control not set reads as its default.

Every client update is applied to a copy of the state and the result is checked against the
schema and the bounds below before it is accepted; a refused update leaves the state as it
was (the state is immutable bytes). The client that sent it holds a change no one else
will, and its later updates build on it (they would be refused as depending on changes the
mix lacks): it starts over with a new Y.Doc from the current state.

Costs are bounded before the work: an update is at most ``MAX_UPDATE_BYTES`` and the state it
produces at most ``MAX_STATE_BYTES``, so one check parses at most about 1 MiB of at most
``MAX_CLIENTS`` clients and walks at most ``MAX_TRACKS × (5 + MAX_EFFECTS_PER_TRACK)`` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, TypedDict

from pycrdt import Array, Doc, Map, get_update

__all__ = [
    "DEFAULTS",
    "MAX_CLIENTS",
    "MAX_EFFECTS_PER_TRACK",
    "MAX_EFFECT_NAME_CHARS",
    "MAX_EFFECT_VALUE",
    "MAX_STATE_BYTES",
    "MAX_STATE_VECTOR_BYTES",
    "MAX_TRACKS",
    "MAX_TRACK_ID_CHARS",
    "MAX_UPDATE_BYTES",
    "MixUpdateRejectedError",
    "TrackMix",
    "apply_update",
    "as_json",
    "diff",
    "fold",
    "new_state",
    "state_vector",
]

ROOT = "tracks"
MAX_UPDATE_BYTES = 64 * 1024
MAX_STATE_BYTES = 1024 * 1024
MAX_STATE_VECTOR_BYTES = 64 * 1024
MAX_TRACKS = 64
# Every browser session that edits adds a Yjs client to the document for good, and loading a
# state costs up to the square of its clients when their edits conflict (yrs: 4096 → ~50 ms,
# 30 000 → 3 s), so a document takes at most this many.
MAX_CLIENTS = 4096
MAX_TRACK_ID_CHARS = 128
MAX_EFFECTS_PER_TRACK = 32
MAX_EFFECT_NAME_CHARS = 64
# Effect parameters carry their units (Hz, ms, dB, ratios); none of ours goes past this.
MAX_EFFECT_VALUE = 1_000_000.0

GAIN_RANGE = (0.0, 1.5)
PAN_RANGE = (-1.0, 1.0)
DEFAULTS: dict[str, Any] = {"gain": 1.0, "pan": 0.0, "mute": False, "solo": False}
CONTROLS = frozenset({*DEFAULTS, "effects"})


class TrackMix(TypedDict):
    gain: float
    pan: float
    mute: bool
    solo: bool
    effects: dict[str, float]


class MixUpdateRejectedError(ValueError):
    """An update (or state vector) the shared mix refuses; ``str(error)`` is the sentence."""


def new_state() -> bytes:
    """The state of a project's mix before anyone has touched it: no tracks."""
    doc: Doc[Any] = Doc()
    doc.get(ROOT, type=Map)
    return doc.get_update()


def apply_update(state: bytes, update: bytes) -> bytes:
    """The state after a client's Yjs (v1) update, checked against the schema and bounds;
    raises MixUpdateRejectedError with the reason otherwise."""
    if len(update) > MAX_UPDATE_BYTES:
        raise MixUpdateRejectedError(
            f"the mix update is {len(update)} bytes; at most {MAX_UPDATE_BYTES} are accepted"
        )
    doc = _load(state)
    try:
        doc.apply_update(update)
    except Exception as error:
        raise MixUpdateRejectedError(f"the mix update is not a Yjs update: {error}") from None
    except BaseException as error:  # a panic in the Rust decoder (pyo3's PanicException)
        if type(error).__name__ != "PanicException":
            raise
        raise MixUpdateRejectedError("the mix update is not a Yjs update") from None
    vector = _clocks(doc.get_state())
    if len(vector) > MAX_CLIENTS:
        raise MixUpdateRejectedError(
            f"the shared mix has been edited by {MAX_CLIENTS} clients (browser sessions),"
            " its limit; no new one can edit it"
        )
    merged = doc.get_update()
    # Structs whose history is missing stay pending (yrs encodes them after a gap) and so
    # are beyond the document's own state vector: none may be.
    if get_update(merged, doc.get_state())[:1] != b"\x00":
        raise MixUpdateRejectedError(
            "the mix update depends on changes the shared mix does not have;"
            " sync with the current state first"
        )
    # Deletions of what does not exist yet would stay pending in every replica that keeps
    # the raw update and silently remove a client's next edits there: none may be. The
    # update's structs are all within the vector now, so this diff is its delete set alone.
    for client, clock, length in _delete_set(get_update(update, doc.get_state())):
        if clock + length > vector.get(client, 0):
            raise MixUpdateRejectedError(
                "the mix update deletes changes the shared mix does not have;"
                " sync with the current state first"
            )
    if len(merged) > MAX_STATE_BYTES:
        raise MixUpdateRejectedError(
            f"the shared mix would be {len(merged)} bytes with this update;"
            f" at most {MAX_STATE_BYTES} are kept"
        )
    _read(doc)
    return merged


def as_json(state: bytes) -> dict[str, TrackMix]:
    """The mix a render job reads: track id → its controls, each filled with its default
    when no one has set it."""
    return _read(_load(state))


def state_vector(state: bytes) -> bytes:
    """What this state contains (Yjs sync step 1, sent to a client)."""
    return _load(state).get_state()


def diff(state: bytes, vector: bytes) -> bytes:
    """The update that brings a replica holding ``vector`` up to ``state`` (Yjs sync step 2,
    for a late joiner)."""
    if len(vector) > MAX_STATE_VECTOR_BYTES:
        raise MixUpdateRejectedError(
            f"the state vector is {len(vector)} bytes; at most {MAX_STATE_VECTOR_BYTES}"
            " are accepted"
        )
    try:
        return _load(state).get_update(vector)
    except Exception as error:
        raise MixUpdateRejectedError(
            f"the state vector is not a Yjs state vector: {error}"
        ) from None


def fold(state: bytes | None, updates: Iterable[bytes]) -> bytes:
    """Updates accepted earlier (by apply_update), applied in order to a stored state
    (``None``: the empty mix); the result is one compact state."""
    doc = _load(state if state is not None else new_state())
    for update in updates:
        doc.apply_update(update)
    return doc.get_update()


def _load(state: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return doc


def _read(doc: Doc[Any]) -> dict[str, TrackMix]:
    """The document as JSON, or MixUpdateRejectedError naming the first thing out of bounds."""
    roots = set(doc.keys()) - {ROOT}
    if roots:
        raise MixUpdateRejectedError(
            f"the shared mix has one top-level map, '{ROOT}'; this update adds"
            f" {', '.join(repr(r) for r in sorted(roots)[:3])}"
        )
    if len(doc.get(ROOT, type=Array)) != 0:
        raise MixUpdateRejectedError(f"'{ROOT}' must be a Yjs map, not a list or text")
    tracks = doc.get(ROOT, type=Map)
    if len(tracks) > MAX_TRACKS:
        raise MixUpdateRejectedError(f"the shared mix has at most {MAX_TRACKS} tracks")
    return {track_id: _track(track_id, value) for track_id, value in tracks.items()}


def _track(track_id: str, value: object) -> TrackMix:
    if not 1 <= len(track_id) <= MAX_TRACK_ID_CHARS or not track_id.isprintable():
        raise MixUpdateRejectedError(
            f"a track id is 1 to {MAX_TRACK_ID_CHARS} printable characters;"
            f" {track_id[:40]!r} is not"
        )
    if not isinstance(value, Map):
        raise MixUpdateRejectedError(
            f"track {track_id!r} must be a Yjs map (so concurrent edits merge), not {_kind(value)}"
        )
    unknown = set(value.keys()) - CONTROLS
    if unknown:
        raise MixUpdateRejectedError(
            f"track {track_id!r} has no control {sorted(unknown)[0][:40]!r};"
            f" its controls are {', '.join(sorted(CONTROLS))}"
        )
    mix: dict[str, Any] = dict(DEFAULTS)
    for name, (low, high) in (("gain", GAIN_RANGE), ("pan", PAN_RANGE)):
        if name in value:
            mix[name] = _number(value[name], low, high, f"the {name} of track {track_id!r}")
    for name in ("mute", "solo"):
        if name in value:
            flag = value[name]
            if not isinstance(flag, bool):
                raise MixUpdateRejectedError(
                    f"the {name} of track {track_id!r} is true or false, not {_kind(flag)}"
                )
            mix[name] = flag
    effects = _effects(track_id, value["effects"]) if "effects" in value else {}
    return TrackMix(
        gain=mix["gain"], pan=mix["pan"], mute=mix["mute"], solo=mix["solo"], effects=effects
    )


def _effects(track_id: str, value: object) -> dict[str, float]:
    if not isinstance(value, Map):
        raise MixUpdateRejectedError(
            f"the effects of track {track_id!r} must be a Yjs map, not {_kind(value)}"
        )
    if len(value) > MAX_EFFECTS_PER_TRACK:
        raise MixUpdateRejectedError(
            f"track {track_id!r} has more than {MAX_EFFECTS_PER_TRACK} effect parameters"
        )
    effects = {}
    for name, number in value.items():
        if not 1 <= len(name) <= MAX_EFFECT_NAME_CHARS or not name.isprintable():
            raise MixUpdateRejectedError(
                f"an effect parameter name is 1 to {MAX_EFFECT_NAME_CHARS} printable"
                f" characters; {name[:40]!r} on track {track_id!r} is not"
            )
        effects[name] = _number(
            number, -MAX_EFFECT_VALUE, MAX_EFFECT_VALUE, f"effect {name!r} of track {track_id!r}"
        )
    return effects


def _number(value: object, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MixUpdateRejectedError(f"{what} is a number, not {_kind(value)}")
    if not (math.isfinite(value) and low <= value <= high):
        raise MixUpdateRejectedError(f"{what} is {value}; it must be between {low} and {high}")
    return float(value)


class _Varints:
    """Unsigned LEB128 numbers read one after the other (lib0's varUint)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def next(self) -> int:
        number = shift = 0
        while True:
            if self.at >= len(self.data) or shift > 63:
                raise MixUpdateRejectedError("the mix update is not a Yjs update: it is cut short")
            byte = self.data[self.at]
            self.at += 1
            number |= (byte & 0x7F) << shift
            if byte < 0x80:
                return number
            shift += 7


def _clocks(vector: bytes) -> dict[int, int]:
    """A state vector: client → the clock up to which its changes are in."""
    numbers = _Varints(vector)
    pairs = [(numbers.next(), numbers.next()) for _ in range(numbers.next())]
    return dict(pairs)


def _delete_set(update: bytes) -> Iterator[tuple[int, int, int]]:
    """(client, clock, length) of each range an update without structs deletes."""
    numbers = _Varints(update)
    if numbers.next() != 0:
        raise MixUpdateRejectedError("the mix update depends on changes the shared mix lacks")
    for _ in range(numbers.next()):
        client = numbers.next()
        for _ in range(numbers.next()):
            yield client, numbers.next(), numbers.next()


def _kind(value: object) -> str:
    if isinstance(value, Map):
        return "a map"
    if isinstance(value, dict):
        return "a plain JSON object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"
