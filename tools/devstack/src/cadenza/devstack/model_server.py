"""A loopback HTTP server of model files, for the tests of `models pull`: Range requests as
the publishers' servers answer them, and the faults they have (a connection dropped halfway,
Range ignored, more bytes than announced, a slow transfer). It records every request.

Also: model entries and checkpoints for such tests (`demucs_entry`, `roformer_entry`,
`blob_entry`).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cadenza.devstack.demucs_models import save_bag, save_checkpoint
from cadenza.devstack.roformer_models import Family, save_roformer

CHUNK = 64 * 1024


@dataclass
class Served:
    """What one path answers. `drop_after`: close the connection after that many bytes of
    the body, `drops` times (then serve normally); `extra`: bytes sent past the file;
    `chunk_delay_s`: a pause between chunks (a slow server)."""

    body: bytes
    ignore_range: bool = False
    drop_after: int | None = None
    drops: int = 1
    extra: bytes = b""
    announce_length: bool = True
    chunk_delay_s: float = 0.0
    status: int = 200


@dataclass(frozen=True)
class Request:
    path: str
    range: str | None
    bytes_sent: int


@dataclass
class ModelFileServer:
    """`with ModelFileServer() as server:`; `server.serve("/x.th", body)` → its URL."""

    files: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, path: str, body: bytes, **options: Any) -> str:
        self.files[path] = Served(body, **options)
        return self.url + path

    def sent(self, path: str) -> int:
        """Body bytes sent for `path` in all."""
        return sum(r.bytes_sent for r in self.requests if r.path == path)

    def __enter__(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet tests
                pass

            def do_GET(self) -> None:
                sent = owner._answer(self)
                with owner._lock:
                    owner.requests.append(Request(self.path, self.headers.get("Range"), sent))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler) -> int:
        served = self.files.get(handler.path)
        if served is None or served.status != 200:
            handler.send_error(served.status if served else 404)
            return 0
        body, start = served.body, 0
        wanted = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if wanted and not served.ignore_range:
            start = int(wanted.group(1))
            if start >= len(body):
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{len(body)}")
                handler.end_headers()
                return 0
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            handler.send_response(200)
        payload = body[start:] + served.extra
        if served.announce_length:
            handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Content-Type", "application/octet-stream")
        handler.end_headers()
        limit = len(payload)
        with self._lock:
            dropping = served.drop_after is not None and served.drops > 0
            if dropping:
                served.drops -= 1
        if dropping:
            assert served.drop_after is not None
            limit = max(0, served.drop_after - start)
        sent = 0
        try:
            while sent < limit:
                chunk = payload[sent : min(limit, sent + CHUNK)]
                handler.wfile.write(chunk)
                sent += len(chunk)
                if served.chunk_delay_s:
                    time.sleep(served.chunk_delay_s)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return sent
        if dropping:  # the connection goes away mid-body, as a broken transfer does
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
        return sent


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def demucs_entry(
    folder: Path, base_url: str, name: str = "tiny_demucs", signature: str = "c0ffee01"
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A registry entry of a random-weight Demucs model (a checkpoint named as demucs names
    them, `<signature>-<sha256[:8]>.th`, and its bag file) and the files' bytes by name."""
    checkpoint = save_checkpoint(folder, signature, seed=11).read_bytes()
    bag = save_bag(folder, name, [signature]).read_bytes()
    files = {f"{signature}-{sha256(checkpoint)[:8]}.th": checkpoint, f"{name}.yaml": bag}
    entry = {
        "name": name,
        "family": "demucs",
        "stems": ["drums", "bass", "other", "vocals"],
        "sample_rate": 44100,
        "files": [
            {"name": n, "url": f"{base_url}/{n}", "bytes": len(b), "sha256": sha256(b)}
            for n, b in files.items()
        ],
        "licence": "test weights (random)",
    }
    return entry, files


def roformer_entry(
    folder: Path, base_url: str, name: str = "tiny_roformer", family: Family = "mel_band_roformer"
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A registry entry of a random-weight one-target (vocals) RoFormer model in the published
    format (`<name>.ckpt` + `<name>.yaml`), served from `base_url/<name>`."""
    checkpoint = save_roformer(folder, name, family, seed=21)
    files = {checkpoint.name: checkpoint.read_bytes()}
    files[f"{name}.yaml"] = checkpoint.with_suffix(".yaml").read_bytes()
    entry = {
        "name": name,
        "family": family,
        "stems": ["vocals", "instrumental"],
        "sample_rate": 44100,
        "files": [
            {"name": n, "url": f"{base_url}/{n}", "bytes": len(b), "sha256": sha256(b)}
            for n, b in files.items()
        ],
        "licence": "test weights (random)",
    }
    return entry, files


def blob_entry(
    base_url: str, name: str = "test_roformer", size: int = 300_000, seed: int = 0
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A RoFormer-shaped registry entry whose files are arbitrary bytes (for download tests:
    `<name>.ckpt` and `<name>.yaml`)."""
    blob = hashlib.shake_256(f"{name}/{seed}".encode()).digest(size)
    config = b"audio:\n  sample_rate: 44100\n"
    files = {f"{name}.ckpt": blob, f"{name}.yaml": config}
    entry = {
        "name": name,
        "family": "bs_roformer",
        "stems": ["vocals", "instrumental"],
        "sample_rate": 44100,
        "files": [
            {"name": n, "url": f"{base_url}/published/{n}", "bytes": len(b), "sha256": sha256(b)}
            for n, b in files.items()
        ],
        "licence": "test bytes",
    }
    return entry, files
