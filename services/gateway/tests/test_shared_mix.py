"""The shared mix document: its schema, each bound (a refused update names what is wrong and
leaves the state as it was), late joiners' sync, and convergence of concurrent edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, merge_updates

from cadenza.gateway import shared_mix
from cadenza.gateway.shared_mix import MixUpdateRejectedError

Edit = Callable[[Map[Any]], None]


def replica(state: bytes, client_id: int | None = None) -> Doc[Any]:
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.apply_update(state)
    return doc


def edit(state: bytes, change: Callable[[Doc[Any]], None], client_id: int | None = None) -> bytes:
    """The update a client holding ``state`` sends after making ``change``."""
    doc = replica(state, client_id)
    before = doc.get_state()
    change(doc)
    return doc.get_update(before)


def on_tracks(change: Edit) -> Callable[[Doc[Any]], None]:
    return lambda doc: change(doc.get("tracks", type=Map))


def track(**controls: Any) -> Map[Any]:
    effects = controls.pop("effects", None)
    if effects is not None:
        controls["effects"] = Map(effects)
    return Map(controls)


@pytest.fixture
def vocals() -> bytes:
    """A mix with one track, every control set."""
    state = shared_mix.new_state()
    update = edit(
        state,
        on_tracks(
            lambda t: t.__setitem__(
                "vocals",
                track(gain=0.8, pan=-0.25, mute=False, solo=True, effects={"reverb.wet": 0.3}),
            )
        ),
    )
    return shared_mix.apply_update(state, update)


def test_a_new_mix_has_no_tracks_and_unset_controls_read_as_their_defaults() -> None:
    state = shared_mix.new_state()
    assert shared_mix.as_json(state) == {}
    update = edit(state, on_tracks(lambda t: t.__setitem__("drums", Map({"gain": 1.2}))))
    assert shared_mix.as_json(shared_mix.apply_update(state, update)) == {
        "drums": {"gain": 1.2, "pan": 0.0, "mute": False, "solo": False, "effects": {}}
    }


def test_an_accepted_update_reads_back_as_json(vocals: bytes) -> None:
    assert shared_mix.as_json(vocals) == {
        "vocals": {"gain": 0.8, "pan": -0.25, "mute": False, "solo": True,
                   "effects": {"reverb.wet": 0.3}},
    }  # fmt: skip
    update = edit(vocals, on_tracks(lambda t: t["vocals"].__setitem__("gain", 1)))  # an int
    assert shared_mix.as_json(shared_mix.apply_update(vocals, update))["vocals"]["gain"] == 1.0


REFUSED: list[tuple[str, Callable[[Doc[Any]], None], str]] = [
    ("gain above", on_tracks(lambda t: t["vocals"].__setitem__("gain", 1.51)),
     "the gain of track 'vocals' is 1.51; it must be between 0.0 and 1.5"),
    ("gain below", on_tracks(lambda t: t["vocals"].__setitem__("gain", -0.01)),
     "the gain of track 'vocals' is -0.01"),
    ("pan", on_tracks(lambda t: t["vocals"].__setitem__("pan", 1.5)),
     "the pan of track 'vocals' is 1.5; it must be between -1.0 and 1.0"),
    ("not finite", on_tracks(lambda t: t["vocals"].__setitem__("pan", float("nan"))),
     "the pan of track 'vocals' is nan"),
    ("gain type", on_tracks(lambda t: t["vocals"].__setitem__("gain", "loud")),
     "the gain of track 'vocals' is a number, not a string"),
    ("bool for number", on_tracks(lambda t: t["vocals"].__setitem__("gain", True)),
     "the gain of track 'vocals' is a number, not a boolean"),
    ("mute type", on_tracks(lambda t: t["vocals"].__setitem__("mute", 1)),
     "the mute of track 'vocals' is true or false, not a number"),
    ("solo type", on_tracks(lambda t: t["vocals"].__setitem__("solo", "yes")),
     "the solo of track 'vocals' is true or false, not a string"),
    ("unknown control", on_tracks(lambda t: t["vocals"].__setitem__("volume", 1.0)),
     "track 'vocals' has no control 'volume'"),
    ("plain object track", on_tracks(lambda t: t.__setitem__("bass", {"gain": 1.0})),
     "track 'bass' must be a Yjs map (so concurrent edits merge), not a plain JSON object"),
    ("number track", on_tracks(lambda t: t.__setitem__("bass", 1.0)),
     "track 'bass' must be a Yjs map"),
    ("text track", on_tracks(lambda t: t.__setitem__("bass", Text("x"))),
     "track 'bass' must be a Yjs map"),
    ("long track id", on_tracks(lambda t: t.__setitem__("x" * 129, Map())),
     "a track id is 1 to 128 printable characters"),
    ("empty track id", on_tracks(lambda t: t.__setitem__("", Map())),
     "a track id is 1 to 128 printable characters"),
    ("control character", on_tracks(lambda t: t.__setitem__("a\nb", Map())),
     "a track id is 1 to 128 printable characters"),
    ("plain effects", on_tracks(lambda t: t["vocals"].__setitem__("effects", {"a": 1})),
     "the effects of track 'vocals' must be a Yjs map, not a plain JSON object"),
    ("effect type", on_tracks(lambda t: t["vocals"]["effects"].__setitem__("reverb.wet", "x")),
     "effect 'reverb.wet' of track 'vocals' is a number, not a string"),
    ("effect range", on_tracks(lambda t: t["vocals"]["effects"].__setitem__("delay", 1e7)),
     "effect 'delay' of track 'vocals' is 10000000.0; it must be between"),
    ("effect name", on_tracks(lambda t: t["vocals"]["effects"].__setitem__("e" * 65, 1.0)),
     "an effect parameter name is 1 to 64 printable characters"),
    ("too many effects", on_tracks(lambda t: t["vocals"].__setitem__(
        "effects", Map({f"p{i}": 0.0 for i in range(33)}))),
     "track 'vocals' has more than 32 effect parameters"),
    ("too many tracks", on_tracks(lambda t: t.update({f"t{i}": Map() for i in range(64)})),
     "the shared mix has at most 64 tracks"),
    ("another root", lambda doc: doc.get("notes", type=Map).__setitem__("a", 1.0),
     "the shared mix has one top-level map, 'tracks'; this update adds 'notes'"),
    ("tracks as a list", lambda doc: doc.get("tracks", type=Array).append(1.0),
     "'tracks' must be a Yjs map, not a list or text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "sentence"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_an_update_out_of_bounds_is_refused_with_a_sentence_and_changes_nothing(
    vocals: bytes, change: Callable[[Doc[Any]], None], sentence: str
) -> None:
    before = shared_mix.as_json(vocals)
    kept = bytes(vocals)
    with pytest.raises(MixUpdateRejectedError) as refused:
        shared_mix.apply_update(vocals, edit(vocals, change))
    assert sentence in str(refused.value)
    assert vocals == kept
    assert shared_mix.as_json(vocals) == before


def test_the_bounds_themselves_are_accepted(vocals: bytes) -> None:
    def at_the_edges(tracks: Map[Any]) -> None:
        tracks["vocals"]["gain"] = 1.5
        tracks["vocals"]["pan"] = -1.0
        tracks["vocals"]["effects"].update({f"p{i}": 1e6 for i in range(31)})
        for i in range(63):
            tracks["t" * 100 + str(i)] = Map({"gain": 0.0, "pan": 1.0})

    state = shared_mix.apply_update(vocals, edit(vocals, on_tracks(at_the_edges)))
    mix = shared_mix.as_json(state)
    assert len(mix) == 64
    assert (mix["vocals"]["gain"], mix["vocals"]["pan"]) == (1.5, -1.0)
    assert len(mix["vocals"]["effects"]) == 32


def test_an_update_over_64_kib_is_refused_before_it_is_read(vocals: bytes) -> None:
    with pytest.raises(MixUpdateRejectedError, match="is 65537 bytes; at most 65536"):
        shared_mix.apply_update(vocals, b"\x00" * (64 * 1024 + 1))


def test_a_state_over_its_size_limit_is_refused(
    vocals: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other bounds keep a real document far below 1 MiB (64 tracks of 32 effects with
    # long names are ~200 KiB); the size check is their backstop, tried here at 400 bytes.
    monkeypatch.setattr(shared_mix, "MAX_STATE_BYTES", 400)
    grow = on_tracks(lambda t: t["vocals"]["effects"].update({f"p{i}": 0.5 for i in range(20)}))
    with pytest.raises(
        MixUpdateRejectedError, match=r"would be \d+ bytes with this update; at most 400"
    ):
        shared_mix.apply_update(vocals, edit(vocals, grow))


def test_a_document_takes_at_most_4096_clients() -> None:
    """Each update here is the concurrent edits of 1500 fresh clients (the costliest shape:
    all conflict on one key), well under 64 KiB; the fourth would pass 4096."""
    state = shared_mix.new_state()
    client = iter(range(1, 10_000))

    def crowd() -> bytes:
        updates = []
        for _ in range(1500):
            doc: Doc[Any] = Doc(client_id=next(client))
            doc.get("tracks", type=Map)["t"] = Map({"gain": 1.0})
            updates.append(doc.get_update())
        return merge_updates(*updates)

    for _ in range(2):
        state = shared_mix.apply_update(state, crowd())
    kept = state
    with pytest.raises(MixUpdateRejectedError, match="edited by 4096 clients"):
        shared_mix.apply_update(state, crowd())
    assert shared_mix.as_json(kept)["t"]["gain"] == 1.0


def test_garbage_is_refused_with_a_sentence(vocals: bytes) -> None:
    with pytest.raises(MixUpdateRejectedError, match="the mix update is not a Yjs update"):
        shared_mix.apply_update(vocals, b"\x01\x02\xff\xff\xff\xff\xff")


def test_an_update_whose_history_the_server_lacks_is_refused(vocals: bytes) -> None:
    client = replica(vocals, client_id=99)
    tracks = client.get("tracks", type=Map)
    tracks["vocals"]["gain"] = 0.5
    seen = client.get_state()
    tracks["vocals"]["pan"] = 0.5
    later = client.get_update(seen)  # without the gain edit it builds on
    with pytest.raises(MixUpdateRejectedError, match="depends on changes the shared mix does not"):
        shared_mix.apply_update(vocals, later)


def test_removing_a_track_is_accepted(vocals: bytes) -> None:
    update = edit(vocals, on_tracks(lambda t: t.pop("vocals")))
    assert shared_mix.as_json(shared_mix.apply_update(vocals, update)) == {}


def test_an_update_deleting_changes_that_do_not_exist_yet_is_refused(vocals: bytes) -> None:
    """Such a deletion would wait in every replica holding the raw update and remove client
    5's next edits there, but not in the state the server re-encodes."""
    # No structs; a delete set of one client (5) and one range (clock 0, length 1000).
    ahead = bytes([0, 1, 5, 1, 0, 1000 & 0x7F | 0x80, 1000 >> 7])
    with pytest.raises(MixUpdateRejectedError, match="deletes changes the shared mix does not"):
        shared_mix.apply_update(vocals, ahead)


def test_a_late_joiner_gets_exactly_what_it_lacks(vocals: bytes) -> None:
    joiner = replica(shared_mix.new_state())
    step_2 = shared_mix.diff(vocals, joiner.get_state())
    joiner.apply_update(step_2)
    assert joiner.get("tracks", type=Map).to_py() == {
        "vocals": {"gain": 0.8, "pan": -0.25, "mute": False, "solo": True,
                   "effects": {"reverb.wet": 0.3}},
    }  # fmt: skip
    # Up to date: the diff holds no structs, and the server reads the joiner's vector too.
    assert shared_mix.diff(vocals, joiner.get_state())[:1] == b"\x00"
    assert shared_mix.state_vector(vocals) == joiner.get_state()
    with pytest.raises(MixUpdateRejectedError, match="not a Yjs state vector"):
        shared_mix.diff(vocals, b"\xff\xff\xff")
    with pytest.raises(MixUpdateRejectedError, match="at most 65536"):
        shared_mix.diff(vocals, b"\x00" * 65537)


@pytest.mark.parametrize("same_control", [False, True], ids=["different", "same"])
def test_concurrent_edits_converge_whatever_order_they_arrive_in(
    vocals: bytes, same_control: bool
) -> None:
    def alice_edits(tracks: Map[Any]) -> None:
        tracks["vocals"]["gain"] = 0.3
        tracks["vocals"]["effects"]["reverb.wet"] = 0.9

    def bob_edits(tracks: Map[Any]) -> None:
        tracks["vocals"]["gain" if same_control else "pan"] = 0.6
        tracks["vocals"]["effects"]["delay.feedback"] = 0.4
        tracks["bass"] = Map({"mute": True})

    alice = edit(vocals, on_tracks(alice_edits), client_id=1)
    bob = edit(vocals, on_tracks(bob_edits), client_id=2)
    one_way = shared_mix.apply_update(shared_mix.apply_update(vocals, alice), bob)
    other_way = shared_mix.apply_update(shared_mix.apply_update(vocals, bob), alice)
    assert shared_mix.as_json(one_way) == shared_mix.as_json(other_way)
    assert shared_mix.state_vector(one_way) == shared_mix.state_vector(other_way)
    # Each replica, handed the other's edit, reads what the server reads.
    for mine, theirs, client_id in ((alice, bob, 1), (bob, alice, 2)):
        doc = replica(vocals, client_id)
        doc.apply_update(mine)
        doc.apply_update(theirs)
        assert shared_mix.as_json(doc.get_update()) == shared_mix.as_json(one_way)
    mix = shared_mix.as_json(one_way)["vocals"]
    assert mix["effects"] == {"reverb.wet": 0.9, "delay.feedback": 0.4}
    if same_control:
        assert mix["gain"] in (0.3, 0.6)  # one of the two, the same everywhere
        assert mix["pan"] == -0.25
    else:
        assert (mix["gain"], mix["pan"]) == (0.3, 0.6)
    assert shared_mix.as_json(one_way)["bass"]["mute"] is True


def test_fold_applies_accepted_updates_in_order(vocals: bytes) -> None:
    first = edit(vocals, on_tracks(lambda t: t["vocals"].__setitem__("gain", 0.1)), 5)
    after_first = shared_mix.apply_update(vocals, first)
    second = edit(after_first, on_tracks(lambda t: t["vocals"].__setitem__("mute", True)), 5)
    expected = shared_mix.as_json(shared_mix.apply_update(after_first, second))
    assert shared_mix.as_json(shared_mix.fold(vocals, [first, second])) == expected
    assert shared_mix.as_json(shared_mix.fold(None, [])) == {}
