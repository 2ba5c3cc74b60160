"""The `cadenza` command line against the running platform, as a person or a script uses it:
upload, fx, separate, watch, cancel, download, jobs, master, blend, render, songs, models,
replay; --json; errors print the server's sentence once, on one line, and exit non-zero. The
tests after "in a terminal" run it in a pseudo-terminal (terminal.py), where rich draws its
progress bars and Ctrl-C is a keystroke."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from cadenza.devstack.music import song_midi
from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_noise, write_tone

from . import terminal
from .conftest import MAX_UPLOAD_BYTES

pytestmark = pytest.mark.platform

CLI = Path(sys.executable).parent / "cadenza"


def cadenza(
    platform: Platform, *args: str, env: dict[str, str] | None = None, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CADENZA_")}
    return subprocess.run(
        [str(CLI), *args],
        env={**base, "CADENZA_URL": platform.url, "COLUMNS": "120", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fx_uploads_runs_shows_progress_and_downloads(platform: Platform, tmp_path: Path) -> None:
    song = write_tone(tmp_path / "song.wav", 4.0)
    out = tmp_path / "out"
    result = cadenza(
        platform,
        "fx",
        str(song),
        "--effect",
        "reverb:room_size=0.8,wet_level=0.3",
        "--effect",
        "gain:gain_db=-3",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "uploaded song.wav as" in result.stderr
    # The progress bar of the one stage reached the end.
    assert "effects" in result.stderr and "100%" in result.stderr
    assert "completed" in result.stdout
    saved = list(out.iterdir())
    assert len(saved) == 1 and not saved[0].name.startswith(".")
    job_id = result.stdout.split()[0]
    job = httpx.get(f"{platform.url}/api/v1/jobs/{job_id}", timeout=30).json()
    assert job["params"]["chain"][0] == {**job["params"]["chain"][0], "room_size": 0.8}
    assert sha256(saved[0]) == job["artifacts"][0]["sha256"]
    processed, rate = sf.read(str(saved[0]))
    assert rate == 44100 and len(processed) == 4 * 44100


def test_a_script_separates_watches_downloads_and_replays(
    platform: Platform, tmp_path: Path
) -> None:
    upload = ok_json(cadenza(platform, "--json", "upload", str(write_noise(tmp_path / "m.wav", 3))))
    assert upload["duration_s"] == pytest.approx(3.0, abs=0.01)
    queued = ok_json(
        cadenza(
            platform,
            "--json",
            "separate",
            "--upload",
            upload["id"],
            "--model",
            "classical",
            "--stems",
            "vocals,drums",
            "--shifts",
            "2",
            "--seed",
            "7",
            "--overlap",
            "0.5",
            "--no-wait",
        )
    )
    assert queued["status"] in ("queued", "running")
    assert (queued["params"]["shifts"], queued["params"]["seed"]) == (2, 7)
    assert queued["params"]["overlap"] == 0.5

    watched = cadenza(platform, "--json", "watch", queued["id"])
    assert watched.returncode == 0, watched.stderr
    messages = [json.loads(line) for line in watched.stdout.splitlines()]
    assert messages[0]["type"] == "job.snapshot"
    assert messages[-1]["type"] == "job.completed"
    assert {a["name"] for a in messages[-1]["artifacts"]} == {"vocals.wav", "drums.wav"}

    out = tmp_path / "stems"
    saved = ok_json(
        cadenza(platform, "--json", "download", queued["id"], "vocals.wav", "--out", str(out))
    )
    assert saved == [str(out / "vocals.wav")]
    vocals = next(a for a in messages[-1]["artifacts"] if a["name"] == "vocals.wav")
    assert sha256(out / "vocals.wav") == vocals["sha256"]

    listed = ok_json(cadenza(platform, "--json", "jobs", "--limit", "50"))
    assert queued["id"] in {j["id"] for j in listed["items"]}

    history = cadenza(platform, "--json", "replay", queued["id"])
    assert history.returncode == 0, history.stderr
    subjects = [json.loads(line)["subject"] for line in history.stdout.splitlines()]
    assert subjects[0] == "job.submitted"
    assert subjects.index("separation.requested") < subjects.index("separation.completed")
    readable = cadenza(platform, "replay", queued["id"])
    assert "separation.completed" in readable.stdout


def test_master_chains_on_a_job_artifact_and_reports_loudness(
    platform: Platform, tmp_path: Path
) -> None:
    fx = ok_json(
        cadenza(
            platform, "--json", "fx", str(write_noise(tmp_path / "n.wav", 3)), "--effect", "gain"
        )
    )
    mastered = ok_json(
        cadenza(
            platform,
            "--json",
            "master",
            "--job",
            fx["id"],
            "--artifact",
            fx["artifacts"][0]["name"],
            "--preset",
            "broadcast",
        )
    )
    assert mastered["status"] == "completed"
    assert mastered["stages"][0]["details"]["lufs"] == pytest.approx(-23, abs=0.1)
    human = cadenza(platform, "watch", mastered["id"])
    assert human.returncode == 0 and "lufs=" in human.stdout


def test_blend_and_songs_search_with_a_typo(platform: Platform, tmp_path: Path) -> None:
    titles = []
    for n in range(2):
        # A seed no other test uses: the same MIDI bytes would be the same song (200).
        seed = 100_000 + uuid.uuid4().int % 1_000_000
        title = f"Cli Lullaby {uuid.uuid4().hex[:6]} {n}"
        added = httpx.post(
            f"{platform.url}/api/v1/songs?wait=60",
            files={"midi": ("tune.mid", song_midi(seed=seed), "audio/midi")},
            data={"title": title, "artist": "Clara Test"},
            timeout=90,
        )
        assert added.status_code == 201, added.text
        titles.append(added.json()["song"])
    found = ok_json(
        cadenza(platform, "--json", "songs", "search", "cli lulaby clra", "--limit", "50")
    )
    assert {s["id"] for s in titles} <= {s["id"] for s in found}
    similar = ok_json(cadenza(platform, "--json", "songs", "similar", titles[0]["id"], "-k", "5"))
    assert titles[0]["id"] not in {s["id"] for s in similar}
    table = cadenza(platform, "songs", "search", titles[0]["title"])
    assert titles[0]["id"] in table.stdout

    out = tmp_path / "blend"
    blended = cadenza(
        platform,
        "--json",
        "blend",
        titles[0]["id"],
        titles[1]["id"],
        "--bars",
        "8",
        "--seed",
        "3",
        "--ensemble",
        "strings",
        "--out",
        str(out),
    )
    job = ok_json(blended)
    assert job["status"] == "completed"
    assert job["params"]["ensemble"] == "strings"
    assert {"blend.mid", "blend.musicxml", "summary.json"} <= {p.name for p in out.iterdir()}


def test_errors_print_the_servers_sentence_and_exit_non_zero(
    platform: Platform, tmp_path: Path
) -> None:
    song = write_tone(tmp_path / "t.wav", 1.0)
    refused = cadenza(platform, "fx", str(song), "--effect", "reverb:room_size=5")
    assert refused.returncode == 1
    assert (
        "params.chain.0.room_size" in refused.stderr and "less than or equal to 1" in refused.stderr
    )

    missing = cadenza(platform, "download", str(uuid.uuid4()))
    assert missing.returncode == 1 and "not found" in missing.stderr

    unreachable = cadenza(platform, "--url", "http://127.0.0.1:9", "jobs")
    assert unreachable.returncode == 1 and "cannot reach the API" in unreachable.stderr

    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not audio at all")
    bad_upload = cadenza(platform, "upload", str(not_audio))
    assert bad_upload.returncode == 1 and "audio" in bad_upload.stderr

    usage = cadenza(platform, "fx", "--effect", "gain")
    assert usage.returncode == 2 and "give an audio FILE" in usage.stderr

    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros((44100, 2), dtype=np.float32), 44100)
    failed = cadenza(platform, "master", str(silence))
    assert failed.returncode == 1
    assert "failed" in failed.stderr and "digital silence" in failed.stderr


def test_the_api_key_comes_from_the_environment_or_the_flag(
    platform: Platform, tmp_path: Path
) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        api.post("/api/v1/auth/register", json={"email": email, "password": "a long passphrase 1"})
        token = api.post(
            "/api/v1/auth/login", json={"email": email, "password": "a long passphrase 1"}
        ).json()["access_token"]
        key = api.post(
            "/api/v1/auth/api-keys",
            json={"name": "cli"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["key"]
    # A fresh account sees only its own jobs: none, then the one it starts.
    assert ok_json(cadenza(platform, "--json", "jobs", env={"CADENZA_API_KEY": key}))["items"] == []
    upload = ok_json(
        cadenza(
            platform, "--api-key", key, "--json", "upload", str(write_tone(tmp_path / "k.wav", 1))
        )
    )
    assert upload["id"]
    wrong = cadenza(platform, "--json", "jobs", env={"CADENZA_API_KEY": key + "x"})
    assert wrong.returncode == 1 and wrong.stderr.strip()


# --- in a terminal, as a person meets it ---------------------------------------------------


def one_upload(platform: Platform, path: Path) -> str:
    with httpx.Client(base_url=platform.url, timeout=60) as api, path.open("rb") as f:
        response = api.post("/api/v1/uploads", files={"file": (path.name, f)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def job_status(platform: Platform, job_id: str, timeout_s: float = 0) -> dict[str, Any]:
    """The job now, or (with a timeout) once it has ended."""
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = httpx.get(f"{platform.url}/api/v1/jobs/{job_id}", timeout=30).json()
        if job["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_no_wait_prints_the_queued_job_without_a_markup_error(
    platform: Platform, tmp_path: Path
) -> None:
    upload_id = one_upload(platform, write_noise(tmp_path / "q.wav", 2, seed=11))
    code, text = terminal.run(
        "separate", "--upload", upload_id, "--model", "classical", "--no-wait", url=platform.url
    )
    assert code == 0, text
    assert "Traceback" not in text and "MarkupError" not in text
    job_id, kind, status = text.split()[:3]
    assert kind == "separation" and status in ("queued", "running")
    assert job_status(platform, job_id, timeout_s=60)["status"] == "completed"


def test_a_missing_file_is_one_line_without_a_traceback(platform: Platform, tmp_path: Path) -> None:
    missing = tmp_path / "not-here.wav"
    for args in (
        ("separate", str(missing)),
        ("upload", str(missing)),
        ("fx", str(missing), "--effect", "gain"),
    ):
        code, text = terminal.run(*args, url=platform.url)
        assert code == 1, text
        assert text.strip().splitlines() == [f"error: {missing}: no such file"]
    song = write_tone(tmp_path / "t.wav", 1.0)
    code, text = terminal.run("fx", str(song), "--chain", f"@{missing}", url=platform.url)
    assert code == 1 and "Traceback" not in text
    assert text.strip().splitlines()[-1] == f"error: {missing}: no such file or directory"


def test_stems_take_several_values_and_never_the_file(platform: Platform, tmp_path: Path) -> None:
    song = write_noise(tmp_path / "s.wav", 2, seed=12)
    out = tmp_path / "stems"
    code, text = terminal.run(
        "separate",
        str(song),
        "--model",
        "classical",
        "--out",
        str(out),
        "--stems",
        "vocals",
        "drums",
        url=platform.url,
    )
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == ["drums.wav", "vocals.wav"]

    # The bug: `--stems vocals drums` took drums as the file. Now it is the list's.
    code, text = terminal.run("separate", "--stems", "vocals", "drums", url=platform.url)
    assert code == 2 and text.count("\n") == 1 and "give an audio FILE" in text
    # A file after --stems is named, and nothing is uploaded for it.
    code, text = terminal.run("separate", "--stems", "vocals", str(song), url=platform.url)
    assert code == 2 and text.count("\n") == 1
    assert f"'{song}' is not a stem" in text and "give FILE before --stems" in text
    code, text = terminal.run("separate", str(song), "--stems", "vocals,flute", url=platform.url)
    assert code == 2 and "'flute' is not a stem" in text and "uploaded" not in text
    described = " ".join(terminal.run("separate", "--help", url=platform.url)[1].split())
    assert "FILE goes first: cadenza separate song.wav --stems vocals drums" in described


def test_ctrl_c_leaves_the_job_running_and_says_how_to_watch_or_cancel_it(
    platform: Platform, tmp_path: Path
) -> None:
    # htdemucs (the tests' small network) works through 45 s of audio (7.9 MB: under the test
    # platform's 8 MiB upload limit) in a few seconds even on an idle machine: Ctrl-C comes at
    # the first progress bar, long before the end.
    song = write_noise(tmp_path / "long.wav", 45, seed=13)
    cli = terminal.Terminal("separate", str(song), "--model", "htdemucs", url=platform.url)
    job_id = cli.expect(r"job (\S+) (queued|running)").group(1)
    cli.expect(r"elapsed \d:\d\d:\d\d eta ", timeout_s=60)
    cli.send(b"\x03")
    code, text = cli.finish(30)
    assert code == 130, text
    # The id came as soon as the job was accepted, before any progress bar.
    assert text.index(f"job {job_id}") < text.index("━") < text.index("elapsed")
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    said = text.strip().splitlines()[-1]
    assert f"stopped following job {job_id}; it goes on on the server" in said
    assert f"cadenza watch {job_id}" in said and f"cadenza cancel {job_id}" in said
    # It really went on: it ends, completed, with nobody following it.
    assert job_status(platform, job_id, timeout_s=120)["status"] == "completed"
    code, text = terminal.run("watch", job_id, url=platform.url)
    assert code == 0 and "completed" in text


def test_cancel_stops_a_running_job(platform: Platform, tmp_path: Path) -> None:
    song = write_noise(tmp_path / "c.wav", 20, seed=14)
    queued = ok_json(cadenza(platform, "--json", "separate", str(song), "--no-wait"))
    code, text = terminal.run("cancel", queued["id"], url=platform.url)
    assert code == 0, text
    assert text.split()[:3] == [queued["id"], "separation", "cancelled"]
    assert job_status(platform, queued["id"])["status"] == "cancelled"
    # Cancelling it again is the server's sentence, once.
    code, text = terminal.run("cancel", queued["id"], url=platform.url)
    assert code == 1
    assert text.strip().splitlines() == [
        f"error: job {queued['id']} is already cancelled; only queued or running jobs can be "
        "cancelled"
    ]


def test_songs_search_shows_whole_ids_and_says_when_none_match(platform: Platform) -> None:
    title = f"[red]Narrow {uuid.uuid4().hex[:6]}"  # markup in a title prints as it is
    added = httpx.post(
        f"{platform.url}/api/v1/songs?wait=60",
        files={
            "midi": ("n.mid", song_midi(seed=300_000 + uuid.uuid4().int % 100_000), "audio/midi")
        },
        data={"title": title, "artist": "Clara Test"},
        timeout=90,
    )
    assert added.status_code == 201, added.text
    song_id = added.json()["song"]["id"]
    # Wide enough: a table; narrower: a line a song, never an id cut to "…".
    code, text = terminal.run("songs", "search", title, columns=120, url=platform.url)
    assert code == 0, text
    assert re.search(rf"{song_id} +{re.escape(title)} +Clara Test", text), text
    code, text = terminal.run("songs", "search", title, columns=60, url=platform.url)
    assert code == 0, text
    assert f"{song_id}  {title}  Clara Test" in text and "…" not in text
    code, text = terminal.run("songs", "search", title, "--ids", url=platform.url)
    assert text.split() == [song_id]

    code, text = terminal.run("songs", "search", f"zq{uuid.uuid4().hex}", url=platform.url)
    assert code == 0 and text.strip() == "no songs found"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_downloads_follow_the_umask(
    platform: Platform, tmp_path: Path, umask: int, mode: int
) -> None:
    job = ok_json(
        cadenza(
            platform, "--json", "fx", str(write_tone(tmp_path / "u.wav", 1)), "--effect", "gain"
        )
    )
    out = tmp_path / "out"
    code, text = terminal.run(
        "download", job["id"], "--out", str(out), umask=umask, url=platform.url
    )
    assert code == 0, text
    saved = out / job["artifacts"][0]["name"]
    assert stat.S_IMODE(saved.stat().st_mode) == mode
    assert sha256(saved) == job["artifacts"][0]["sha256"]


def test_a_servers_problem_is_said_once_on_one_line(platform: Platform, tmp_path: Path) -> None:
    song = write_tone(tmp_path / "p.wav", 1.0)
    code, text = terminal.run(
        "fx", str(song), "--effect", "reverb:room_size=5,wet_level=7", url=platform.url
    )
    assert code == 1, text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in text
    for field in ("params.chain.0.room_size", "params.chain.0.wet_level"):
        assert text.count(field) == 1
    # A job that fails: its reason once.
    silence = tmp_path / "silence.wav"
    sf.write(str(silence), np.zeros((44100, 2), dtype=np.float32), 44100)
    code, text = terminal.run("master", str(silence), url=platform.url)
    assert code == 1 and text.count("digital silence") == 1
    assert text.strip().splitlines()[-1].startswith("error: job ")


def test_a_file_over_the_upload_limit_is_said_so_not_as_a_broken_connection(
    platform: Platform, tmp_path: Path
) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(MAX_UPLOAD_BYTES + (1 << 20)))
    code, text = terminal.run("upload", str(big), url=platform.url)
    assert code == 1, text
    # The server answers 413 from the declared length and closes: the sender sees a broken
    # connection (and rarely, with the whole body already in the socket buffers, the 413).
    said = (
        "error: big.wav is 9.0 MiB, over the server's upload limit of 8.0 MiB",
        "error: the upload is larger than the limit of 8519680 bytes for this endpoint",
    )
    assert text.strip().splitlines() in ([said[0]], [said[1]]), text


def test_render_and_models(platform: Platform, tmp_path: Path) -> None:
    added = httpx.post(
        f"{platform.url}/api/v1/songs?wait=60",
        files={
            "midi": ("r.mid", song_midi(seed=400_000 + uuid.uuid4().int % 100_000), "audio/midi")
        },
        data={"title": f"Render {uuid.uuid4().hex[:6]}", "artist": "Clara Test"},
        timeout=90,
    )
    assert added.status_code == 201, added.text
    out = tmp_path / "render"
    code, text = terminal.run(
        "render",
        added.json()["song"]["id"],
        "--no-stems",
        "--sample-rate",
        "22050",
        "--out",
        str(out),
        url=platform.url,
    )
    assert code == 0, text
    assert [p.name for p in out.iterdir()] == ["mix.wav"]
    audio, rate = sf.read(str(out / "mix.wav"))
    assert rate == 22050 and np.abs(audio).max() > 0.01
    assert "render" in text and "elapsed" in text

    code, text = terminal.run("models", url=platform.url)
    assert code == 0 and "htdemucs" in text and "classical" in text


def test_hostile_command_lines_are_one_line_each(platform: Platform) -> None:
    said = {
        ("--url", "http://[::1", "jobs"): (1, "error: http://[::1 is not a URL the client can use"),
        ("--json", "watch", "not-a-job"): (1, "error: job_id 'not-a-job' is not a job id"),
        ("render", str(uuid.uuid4()), "--job", str(uuid.uuid4())): (
            2,
            "cadenza render: error: give a SONG or --job, not both",
        ),
        ("fx", "a.wav", "--upload", str(uuid.uuid4()), "--effect", "gain"): (
            2,
            "cadenza fx: error: give FILE (a.wav) or --upload ID, not both",
        ),
        ("separate", "--upload", str(uuid.uuid4()), "--stems", "vocals", "vocals."): (
            2,
            "cadenza separate: error: --stems: 'vocals.' is not a stem",
        ),
    }
    for args, (status, start) in said.items():
        code, text = terminal.run(*args, url=platform.url)
        assert (code, text.count("\n")) == (status, 1), text
        assert text.startswith(start), text
