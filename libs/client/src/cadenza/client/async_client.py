"""AsyncCadenza: the API over httpx and websockets, for asyncio code."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import websockets

from cadenza.client.errors import CadenzaError, raise_for
from cadenza.client.live import LiveStream, open_message
from cadenza.client.models import (
    TERMINAL,
    Artifact,
    Job,
    JobPage,
    ModelList,
    RecordedEvent,
    Song,
    Upload,
)

DEFAULT_URL = "http://127.0.0.1:8000"
# The WebSocket messages after which a job says no more.
ENDINGS = frozenset({"job.completed", "job.failed", "job.cancelled"})
CHUNK = 1 << 16
WATCH_RECONNECTS = 3

Message = dict[str, Any]


class AsyncCadenza:
    """`base_url` and `api_key` default to CADENZA_URL and CADENZA_API_KEY. `api_key` is an
    API key (`cdz_…`) or an access token; without one, the server must be in dev mode."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("CADENZA_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("CADENZA_API_KEY")
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            self._http = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=timeout_s,
                transport=transport,
            )
        except httpx.InvalidURL as e:
            raise CadenzaError(0, f"{self.base_url} is not a URL the client can use: {e}") from e

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise CadenzaError(0, f"cannot reach the API at {self.base_url}: {e}") from e
        except httpx.TransportError as e:
            reason = str(e) or f"closed by the server ({type(e).__name__})"
            raise CadenzaError(0, f"the connection to {self.base_url} broke off: {reason}") from e
        raise_for(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    # --- uploads and jobs ---------------------------------------------------------------

    async def upload(self, path: str | Path) -> Upload:
        """Send an audio file; the server decodes it to check it is audio."""
        file = Path(path)
        size = 0
        try:
            # httpx streams the multipart body from the open file, block by block.
            with file.open("rb") as f:  # noqa: ASYNC230
                size = os.fstat(f.fileno()).st_size
                data = await self._json("POST", "/api/v1/uploads", files={"file": (file.name, f)})
        except CadenzaError as e:
            if e.status == 0 and (refusal := await self._upload_refusal(file.name, size)):
                raise refusal from e
            raise
        return Upload.of(data)

    async def _upload_refusal(self, name: str, size: int) -> CadenzaError | None:
        """Why the server closed the connection while file `name` was on its way, if its size is
        the reason: the server answers 413 from the declared length and closes before the
        body has been sent, which a sender only sees as a broken connection. The limits come
        from GET /api/v1/auth/me."""
        try:
            me = await self._json("GET", "/api/v1/auth/me")
        except CadenzaError:
            return None
        limit = me.get("limits", {}).get("max_upload_bytes")
        if isinstance(limit, int) and size > limit:
            return CadenzaError(
                413,
                f"{name} is {_mib(size)}, over the server's upload limit of {_mib(limit)}",
            )
        left = me.get("storage", {}).get("remaining_bytes")
        if isinstance(left, int) and size > left:
            return CadenzaError(
                413, f"{name} is {_mib(size)}, more than the {_mib(left)} left of your quota"
            )
        return None

    async def submit(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> Job:
        """POST /api/v1/jobs with a body from `cadenza.client.requests` (or your own)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Job.of(await self._json("POST", "/api/v1/jobs", json=body, headers=headers))

    async def job(self, job_id: str) -> Job:
        return Job.of(await self._json("GET", f"/api/v1/jobs/{job_id}"))

    async def jobs(self, *, limit: int = 20, cursor: str | None = None) -> JobPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        data = await self._json("GET", "/api/v1/jobs", params=params)
        return JobPage([Job.of(j) for j in data["items"]], data.get("next_cursor"))

    async def cancel(self, job_id: str) -> Job:
        return Job.of(await self._json("POST", f"/api/v1/jobs/{job_id}/cancel"))

    async def events(self, job_id: str) -> list[RecordedEvent]:
        """The job's history, every event it produced, oldest first."""
        data = await self._json("GET", f"/api/v1/jobs/{job_id}/events")
        return [RecordedEvent(e["subject"], e["occurred_at"], e["event"]) for e in data["events"]]

    async def watch(self, job_id: str) -> AsyncGenerator[Message, None]:
        """The job's live messages (job.snapshot, job.progress, stage.*, …) until its end
        (job.completed, job.failed or job.cancelled, the last one yielded). A dropped
        connection is resumed: the snapshot says where the job is."""
        url = self._ws_url()
        for attempt in range(WATCH_RECONNECTS + 1):
            try:
                async with websockets.connect(url, additional_headers=self._headers) as ws:
                    await ws.send(json.dumps({"action": "subscribe", "job_id": job_id}))
                    async for raw in ws:
                        message: Message = json.loads(raw)
                        if message.get("type") == "error":
                            said = message.get("detail") or message.get("message") or message
                            raise CadenzaError(400, str(said))
                        if message.get("job_id") not in (None, job_id):
                            continue
                        yield message
                        if message.get("type") in ENDINGS:
                            return
                        if message.get("type") == "job.snapshot" and message["status"] in TERMINAL:
                            continue  # the ending follows the snapshot
            except websockets.InvalidStatus as e:
                status = e.response.status_code
                raise CadenzaError(status, f"the WebSocket was refused ({status})") from e
            except (OSError, websockets.ConnectionClosedError) as e:
                if attempt == WATCH_RECONNECTS:
                    raise CadenzaError(0, f"lost the WebSocket to {self.base_url}: {e}") from e
        raise CadenzaError(0, "the WebSocket closed before the job ended")

    async def wait(self, job_id: str, on_message: Callable[[Message], None] | None = None) -> Job:
        """Follow the job to its end and return it as the API then describes it."""
        async for message in self.watch(job_id):
            if on_message is not None:
                on_message(message)
        return await self.job(job_id)

    async def download(self, artifact: Artifact, dest: str | Path) -> Path:
        """Write an artifact to `dest` (a file, or a folder to put it in), checking its
        sha256; nothing is left at `dest` if the transfer or the check fails."""
        target = _target(Path(dest), artifact.name)
        digest = hashlib.sha256()
        # Created as open() would (0666 less the umask), not mkstemp's 0600: the file is
        # the user's, readable as their other files are.
        partial = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    # With S3 storage the API answers with a 307 to a signed URL on the
                    # S3 host; httpx drops Authorization on a redirect to another origin.
                    async with self._http.stream(
                        "GET", artifact.url, follow_redirects=True
                    ) as response:
                        if not response.is_success:
                            await response.aread()
                            raise_for(response)
                        async for chunk in response.aiter_bytes(CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                except httpx.TransportError as e:
                    raise CadenzaError(0, f"download of {artifact.name} broke off: {e}") from e
            if digest.hexdigest() != artifact.sha256:
                raise CadenzaError(0, f"{artifact.name}: the bytes received do not match sha256")
            os.replace(partial, target)
        except BaseException:
            os.unlink(partial)
            raise
        return target

    # --- separation models ---------------------------------------------------------------

    async def models(self) -> ModelList:
        """What the separation workers run now, and the known models they can fetch."""
        return ModelList.of(await self._json("GET", "/api/v1/models"))

    async def pull_model(self, name: str) -> Job:
        """Have a separation worker fetch a known model (admins); the job says how it goes."""
        return Job.of(await self._json("POST", f"/api/v1/models/{quote(name, safe='')}/pull"))

    # --- the catalog -------------------------------------------------------------------

    async def search_songs(
        self, q: str | None = None, *, key: str | None = None, limit: int = 20, **filters: Any
    ) -> list[Song]:
        params = {k: v for k, v in {"q": q, "key": key, "limit": limit, **filters}.items() if v}
        data = await self._json("GET", "/api/v1/songs", params=params)
        return [Song.of(hit["song"], hit.get("score")) for hit in data["items"]]

    async def similar_songs(self, song_id: str, k: int = 10) -> list[Song]:
        data = await self._json("GET", f"/api/v1/songs/{song_id}/similar", params={"k": k})
        return [Song.of(hit["song"], hit.get("score")) for hit in data["items"]]

    async def song(self, song_id: str) -> Song:
        return Song.of(await self._json("GET", f"/api/v1/songs/{song_id}"))

    def live(
        self,
        chain: list[dict[str, Any]],
        *,
        sample_rate: int = 48000,
        channels: int = 2,
        block_frames: int = 480,
        sample_format: str = "float32",
    ) -> LiveStream:
        """A live effects session (`async with`): see cadenza.client.live."""
        message = open_message(
            chain,
            sample_rate=sample_rate,
            channels=channels,
            block_frames=block_frames,
            sample_format=sample_format,
        )
        return LiveStream(self._ws_url("/api/v1/live"), self._headers, message)

    def _ws_url(self, path: str = "/api/v1/ws") -> str:
        scheme = "wss" if self.base_url.startswith("https:") else "ws"
        rest = self.base_url.split("://", 1)[1]
        return f"{scheme}://{rest}{path}"


def _target(dest: Path, name: str) -> Path:
    """`dest` itself, or `dest/name` when it is a folder; its folder made."""
    target = dest / name if dest.is_dir() else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
