"""Live effects through a platform of their own (gateway → NATS → effects worker → back):
the streamed result equals pedalboard on the whole signal, parameters change mid-stream
without a click, bad input closes with a reason, limits hold, and a worker that stops or
dies ends the session with a reason after which a reconnect works."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard
import pytest
import soundfile as sf
import websockets
from websockets.asyncio.client import ClientConnection

from cadenza.client import AsyncCadenza
from cadenza.client.live_file import WavFormat, streaming_wav_header
from cadenza.devstack.platform import Platform
from cadenza.devstack.ports import free_port

pytestmark = pytest.mark.platform

RATE = 48000
BLOCK = 480  # 10 ms
CHAIN: list[dict[str, Any]] = [
    {"type": "gain", "gain_db": -3.0},
    {"type": "reverb", "room_size": 0.7, "wet_level": 0.3},
    {"type": "delay", "delay_seconds": 0.05, "feedback": 0.3, "mix": 0.4},
]


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("live")
    with Platform(
        root / "data",
        workers=("effects",),
        gateway_port=free_port(),
        log_dir=root / "logs",
        extra_env={
            "LIVE_IDLE_TIMEOUT_S": "2",
            "LIVE_SESSIONS_PER_PRINCIPAL": "3",
            "LIVE_STALL_TIMEOUT_S": "1.5",
        },
    ) as platform:
        yield platform


@pytest.fixture
def url(live_platform: Platform) -> str:
    return live_platform.url.replace("http://", "ws://") + "/api/v1/live"


def signal(seconds: float, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 330 * t)
    audio = np.stack([tone + 0.05 * rng.standard_normal(t.size) for _ in range(channels)])
    return audio.astype(np.float32)


def whole_signal(audio: np.ndarray) -> np.ndarray:
    """CHAIN applied by pedalboard to the whole signal in one call: the reference."""
    board = pedalboard.Pedalboard(
        [
            pedalboard.Gain(gain_db=-3.0),
            pedalboard.Reverb(room_size=0.7, wet_level=0.3),
            pedalboard.Delay(delay_seconds=0.05, feedback=0.3, mix=0.4),
        ]
    )
    processed: np.ndarray = board(audio, RATE)
    return processed


def blocks(audio: np.ndarray) -> list[bytes]:
    frames = audio.shape[1] - audio.shape[1] % BLOCK
    return [
        np.ascontiguousarray(audio[:, i : i + BLOCK].T).astype("<f4").tobytes()
        for i in range(0, frames, BLOCK)
    ]


def unblock(data: list[bytes], channels: int = 2) -> np.ndarray:
    samples = np.frombuffer(b"".join(data), dtype="<f4")
    return samples.reshape(-1, channels).T


def open_message(chain: list[dict[str, Any]] = CHAIN, **fmt: Any) -> str:
    format_ = {"sample_rate": RATE, "channels": 2, "block_frames": BLOCK, **fmt}
    return json.dumps({"type": "open", "chain": chain, "format": format_})


@pytest.fixture
async def session(url: str) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(url) as ws:
        await ws.send(open_message())
        ready = json.loads(await ws.recv())
        assert ready["type"] == "ready" and ready["block_bytes"] == BLOCK * 2 * 4, ready
        assert ready["max_in_flight"] == 8, ready  # LIVE_MAX_IN_FLIGHT, its default
        yield ws


async def stream(ws: ClientConnection, data: list[bytes], ahead: int = 4) -> list[bytes]:
    """Send blocks with `ahead` in flight, as a real-time client would, and collect."""
    received: list[bytes] = []
    for i, block in enumerate(data):
        await ws.send(block)
        if i >= ahead:
            received.append(await recv_block(ws))
    while len(received) < len(data):
        received.append(await recv_block(ws))
    return received


async def closing(ws: ClientConnection) -> tuple[int, str, str]:
    """(close code, close reason, the full reason sent as text before it)."""
    full = ""
    try:
        while True:
            message = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(message, str) and json.loads(message).get("type") == "closed":
                full = json.loads(message)["reason"]
    except websockets.ConnectionClosed as e:
        closed = e
    rcvd = closed.rcvd
    assert rcvd is not None, "the server closed without a code"
    return rcvd.code, rcvd.reason, full


async def recv_block(ws: ClientConnection) -> bytes:
    message = await ws.recv()
    assert isinstance(message, bytes), message
    return message


async def test_streamed_blocks_equal_pedalboard_on_the_whole_signal(
    session: ClientConnection,
) -> None:
    audio = signal(2.0)
    out = unblock(await stream(session, blocks(audio)))
    expected = whole_signal(audio)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # The reverb tail carried across blocks: the last block is far from silent.
    assert np.abs(out[:, -BLOCK:]).max() > 0.05


async def test_audio_is_not_deflated_though_the_client_offers_it(url: str) -> None:
    # websockets offers permessage-deflate by default, as browsers do; float audio does not
    # compress, and deflating it doubled the CPU per block (docs/benchmarks.md).
    async with websockets.connect(url, compression="deflate") as ws:
        assert ws.request is not None and ws.response is not None
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_parameter_changes_ramp_without_a_click(url: str) -> None:
    t = np.arange(int(1.5 * RATE)) / RATE
    sine = np.stack([0.5 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    data = blocks(sine)
    one, two = len(data) // 3, 2 * len(data) // 3
    async with websockets.connect(url) as session:
        await session.send(open_message([{**CHAIN[0], "gain_db": -30.0}, *CHAIN[1:]]))
        assert json.loads(await session.recv())["type"] == "ready"
        await _change_params_mid_stream(session, data, one, two)


async def _change_params_mid_stream(
    session: ClientConnection, data: list[bytes], one: int, two: int
) -> None:
    first = unblock(await stream(session, data[:one]))
    await session.send(json.dumps({"type": "set", "index": 0, "params": {"gain_db": 0.0}}))
    second = unblock(await stream(session, data[one:two]))
    await session.send(json.dumps({"type": "set", "index": 1, "params": {"wet_level": 0.0}}))
    third = unblock(await stream(session, data[two:]))
    out = np.concatenate([first, second, third], axis=1)
    # 30 dB louder after the gain change (the reverb and delay scale with it).
    before = np.abs(first[:, -BLOCK * 10 :]).max()
    after = np.abs(second[:, -BLOCK * 10 :]).max()
    assert 20 * np.log10(after / before) == pytest.approx(30, abs=1.5)
    # No click at either change: no sample-to-sample step bigger than the loud steady
    # signal's own (a 220 Hz sine at 0.5 moves at most 0.5·2π·220/48000 ≈ 0.0144).
    steady = np.abs(np.diff(second[:, -BLOCK * 10 :])).max()
    for seam in (one * BLOCK, two * BLOCK):
        around = out[:, seam - BLOCK : seam + 2 * BLOCK]
        assert np.abs(np.diff(around)).max() <= steady * 1.25, seam


async def test_a_new_chain_mid_stream_keeps_the_reverb_tail(session: ClientConnection) -> None:
    burst = signal(0.5)
    silence = np.zeros((2, RATE // 2), dtype=np.float32)
    await stream(session, blocks(burst))
    chain = [CHAIN[0], {**CHAIN[1], "room_size": 0.9}, {"type": "lowpass_filter"}]
    await session.send(json.dumps({"type": "chain", "chain": chain}))
    tail = unblock(await stream(session, blocks(silence)))
    assert np.abs(tail[:, : BLOCK * 5]).max() > 0.01, "the reverb kept ringing"


@pytest.mark.parametrize(
    ("first", "then", "needle"),
    [
        (open_message([{"type": "reverb", "room_size": 3}]), None, "chain.0.room_size"),
        (open_message([{"type": "pitch_shift", "semitones": 2}]), None, "look-ahead"),
        (open_message(block_frames=8000), None, "longer than 100 ms"),
        (open_message(sample_format="float64"), None, "sample_format"),
        ("not json", None, "must be JSON"),
        (b"\x00" * 16, None, "open message first"),
        (open_message(), b"\x00" * 17, "a block of 17 bytes"),
        (open_message(), "hello", "JSON control"),
        (open_message(), json.dumps({"type": "set", "index": 9, "params": {}}), "index"),
        (open_message(), json.dumps({"type": "set", "index": 1, "params": {"x": 1}}), "x"),
        (open_message(), json.dumps({"type": "chain", "chain": []}), "chain"),
    ],
)
async def test_bad_input_closes_with_a_reason(
    url: str, first: str | bytes, then: str | bytes | None, needle: str
) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(first)
        if then is not None:
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(then)
        code, reason, full = await closing(ws)
    assert code == 4400, (code, reason, full)
    assert needle in full or needle in reason, (reason, full)


async def test_the_server_survives_bad_input(session: ClientConnection) -> None:
    """After all of the above, a session still works."""
    out = await stream(session, blocks(signal(0.2)))
    assert len(out) == 20


async def test_sessions_per_principal_and_idle_sessions_are_limited(url: str) -> None:
    held = []
    try:
        for _ in range(3):
            ws = await websockets.connect(url)
            held.append(ws)
            await ws.send(open_message())
            assert json.loads(await ws.recv())["type"] == "ready"
        async with websockets.connect(url) as extra:
            await extra.send(open_message())
            code, _, full = await closing(extra)
        assert code == 4429 and "at most 3" in full
        # Idle (LIVE_IDLE_TIMEOUT_S=2): each held session closes by itself.
        code, _, full = await closing(held[0])
        assert code == 4408 and "no audio" in full
    finally:
        for ws in held:
            await ws.close()


async def test_a_flood_never_outruns_the_worker(session: ClientConnection) -> None:
    """Blocks sent as fast as the socket takes them all come back, in order: the gateway
    holds at most LIVE_MAX_IN_FLIGHT with the worker and waits for the rest."""
    audio = signal(3.0, seed=4)
    data = blocks(audio)
    sender = asyncio.create_task(_send_all(session, data))
    received = [await recv_block(session) for _ in data]
    await sender
    single = unblock(received)
    np.testing.assert_allclose(single, whole_signal(audio), atol=1e-5)


async def _send_all(ws: ClientConnection, data: list[bytes]) -> None:
    for block in data:
        await ws.send(block)


async def test_a_worker_that_stops_or_dies_ends_the_session_with_a_reason(
    live_platform: Platform, url: str
) -> None:
    worker = live_platform.services["effects"]
    # Stopped (SIGTERM): it says goodbye to its sessions.
    async with websockets.connect(url) as ws:
        await ws.send(open_message())
        assert json.loads(await ws.recv())["type"] == "ready"
        await stream(ws, blocks(signal(0.1)))
        await asyncio.to_thread(worker.stop)
        code, _, full = await closing(ws)
    assert code == 1012 and "reconnect" in full
    await asyncio.to_thread(worker.start)
    await asyncio.to_thread(worker.wait_ready, 60)

    # Killed (SIGKILL) mid-stream: the gateway notices the silence.
    async with websockets.connect(url) as ws:
        await ws.send(open_message())
        assert json.loads(await ws.recv())["type"] == "ready"
        await stream(ws, blocks(signal(0.1)))
        await asyncio.to_thread(worker.kill)
        for block in blocks(signal(0.05)):
            await ws.send(block)
        code, _, full = await closing(ws)
    assert code == 4503 and "reconnect" in full

    # While no worker runs, opening says so.
    async with websockets.connect(url) as ws:
        await ws.send(open_message())
        code, _, full = await closing(ws)
    assert code == 4503 and "no effects worker" in full

    await asyncio.to_thread(worker.start)
    await asyncio.to_thread(worker.wait_ready, 60)
    async with websockets.connect(url) as ws:
        await ws.send(open_message())
        assert json.loads(await ws.recv())["type"] == "ready"
        assert len(await stream(ws, blocks(signal(0.2)))) == 20


def test_no_live_session_left_an_error_in_the_logs(live_platform: Platform) -> None:
    """Every close above was deliberate: nothing of the live code path crashed. (FastStream's
    own supervisor may log a pull-fetch timeout under load; that is not ours.)"""
    assert live_platform.log_dir is not None
    for name in ("gateway", "effects"):
        text = Path(live_platform.log_dir / f"{name}.log").read_text(errors="replace")
        for sign in (
            "Exception in ASGI application",
            "Task exception was never retrieved",
            "cadenza/gateway/live_audio.py",
            "cadenza/effects/live_",
        ):
            assert sign not in text, f"{name}.log: {sign}"


async def test_the_python_client_streams_and_changes_parameters(live_platform: Platform) -> None:
    audio = signal(1.0, seed=9)
    data = blocks(audio)
    async with (
        AsyncCadenza(live_platform.url) as api,
        api.live(CHAIN, sample_rate=RATE, block_frames=BLOCK) as live,
    ):
        assert live.block_bytes == BLOCK * 8 and live.format["sample_format"] == "float32"
        first = [block async for block in live.stream(data[:50])]
        await live.set(0, gain_db=-12.0)
        second = [block async for block in live.stream(data[50:])]
    assert len(first) + len(second) == len(data)
    out = unblock(first + second)
    quieter = np.abs(out[:, -BLOCK * 10 :]).max() / np.abs(out[:, BLOCK * 40 : BLOCK * 50]).max()
    # −3 → −12 dB at the input; the reverb's tail of the louder half still rings under it.
    assert -10 < 20 * np.log10(quieter) < -4


def test_cadenza_live_streams_a_wav_file_and_saves_the_result(
    live_platform: Platform, tmp_path: Path
) -> None:
    audio = signal(1.5, seed=3) * 0.8
    source = tmp_path / "in.wav"
    sf.write(str(source), audio.T, RATE, subtype="PCM_16")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cadenza"),
            "--url",
            live_platform.url,
            "--json",
            "live",
            str(source),
            "--out",
            str(tmp_path / "out.wav"),
            "--effect",
            "gain:gain_db=-3",
            "--effect",
            "reverb:room_size=0.7,wet_level=0.3",
            "--effect",
            "delay:delay_seconds=0.05,feedback=0.3,mix=0.4",
            "--block-ms",
            "20",
            "--realtime",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["blocks"] == 75 and summary["block_ms"] == 20
    # Paced like a sound card: 75 blocks of 20 ms take 1.5 s at least.
    assert summary["seconds"] >= 1.45
    assert summary["round_trip_ms_p50"] < 20, summary
    got, rate = sf.read(str(tmp_path / "out.wav"), dtype="float32", always_2d=True)
    sent, _ = sf.read(str(source), dtype="float32", always_2d=True)
    expected = whole_signal(sent.T).T
    assert rate == RATE and got.shape == expected.shape
    np.testing.assert_allclose(got, np.clip(expected, -1, 32767 / 32768), atol=2 / 32768)

    bad = subprocess.run(
        [
            str(Path(sys.executable).parent / "cadenza"),
            "--url",
            live_platform.url,
            "live",
            str(source),
            "--out",
            str(tmp_path / "x.wav"),
            "--effect",
            "pitch_shift",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "look-ahead" in bad.stderr


def test_cadenza_live_streams_standard_input_to_standard_output_as_it_arrives(
    live_platform: Platform,
) -> None:
    """`arecord … -t wav | cadenza live - --out - | aplay`: a WAV stream of unknown length in,
    processed audio out block by block while the input is still coming."""
    audio = signal(2.0, seed=5) * 0.8
    pcm = (np.clip(audio.T, -1, 32767 / 32768) * 32768).astype("<i2")
    fmt = WavFormat(RATE, 2)
    first, rest = pcm[: RATE // 2].tobytes(), pcm[RATE // 2 :].tobytes()
    command = [str(Path(sys.executable).parent / "cadenza"), "--url", live_platform.url]
    command += ["--json", "live", "-", "--out", "-", "--block-ms", "20"]
    command += ["--effect", "gain:gain_db=-3", "--effect", "reverb:room_size=0.7,wet_level=0.3"]
    command += ["--effect", "delay:delay_seconds=0.05,feedback=0.3,mix=0.4"]
    received = bytearray()
    header = len(streaming_wav_header(fmt))
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as cli:
        assert cli.stdin is not None and cli.stdout is not None and cli.stderr is not None
        out_fd = cli.stdout.fileno()

        def read_as_it_comes() -> None:
            while chunk := os.read(out_fd, 65536):
                received.extend(chunk)

        reader = threading.Thread(target=read_as_it_comes)
        reader.start()
        try:
            cli.stdin.write(streaming_wav_header(fmt) + first)  # what a recorder writes first
            cli.stdin.flush()
            # Half a second of input is all there is so far: it must come back already (all
            # but the blocks still in flight).
            enough = header + len(first) - 8 * 960 * 4
            deadline = time.monotonic() + 30
            while len(received) < enough and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(received) >= enough, (len(received), enough)
            cli.stdin.write(rest)
            cli.stdin.close()
            assert cli.wait(60) == 0
        finally:
            if cli.poll() is None:
                cli.kill()
            reader.join(10)
        errors = cli.stderr.read().decode()
    summary = json.loads(errors.strip().splitlines()[-1])
    assert summary["blocks"] == 100 and summary["out"] == "-"
    assert bytes(received[:header]) == streaming_wav_header(fmt)
    got = np.frombuffer(bytes(received[header:]), dtype="<i2").reshape(-1, 2) / 32768
    expected = whole_signal((pcm.T / 32768).astype(np.float32)).T
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, np.clip(expected, -1, 32767 / 32768), atol=2 / 32768)


def test_cadenza_live_refuses_a_stream_that_is_not_16_bit_wav(live_platform: Platform) -> None:
    command = [str(Path(sys.executable).parent / "cadenza"), "--url", live_platform.url]
    for data, problem in (
        (b"not a wav file at all", "not a WAV file"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "ends inside its header"),
    ):
        done = subprocess.run(
            [*command, "live", "-", "--out", "-", "--effect", "gain"],
            input=data,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 1 and problem in done.stderr.decode(), done.stderr
        assert done.stdout == b""
