"""Downloads of stored files through the gateway: with local storage the bytes stream
(Range, If-Range); with S3 a GET answers 307 to a URL signed for DOWNLOAD_URL_TTL_S that
serves the exact bytes to anyone holding it and to nobody after it expires; either way a
client that has the file (If-None-Match with its strong ETag, the sha256) gets a 304."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cadenza.client import Artifact, AsyncCadenza
from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.testing import write_tone
from cadenza.gateway.downloads import etag_matches
from cadenza.gateway.services import Services

from .conftest import bearer, running_gateway, settings, sign_up
from .signed_urls_s3 import ACCESS_KEY, REGION, SECRET_KEY, checking_s3

DATA = os.urandom(50_000)
SHA256 = hashlib.sha256(DATA).hexdigest()
ETAG = f'"{SHA256}"'


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with checking_s3() as endpoint:
        yield endpoint


def s3_settings(endpoint: str, unique: str, **overrides: Any) -> dict[str, Any]:
    return {
        "storage_backend": "s3",
        "s3_endpoint_url": endpoint,
        "s3_bucket": f"downloads-{unique}",
        "s3_region": REGION,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_create_bucket": True,
        **overrides,
    }


async def finished_job(services: Services, owner: str, tmp: Path) -> uuid.UUID:
    """A finished effects job whose one artifact, processed.wav, holds DATA."""
    job_id = uuid.uuid4()
    submitted = JobSubmitted(
        job_id=job_id,
        owner=owner,
        correlation_id=job_id,
        kind="effects",
        input={"upload_id": str(uuid.uuid4())},
        params={},
        stages=["effects"],
    )
    source = tmp / f"{job_id}.wav"
    source.write_bytes(DATA)
    stored = await services.store.put_file(f"{owner}/{job_id}/processed.wav", source, "audio/wav")
    ref = ArtifactRef(
        uri=stored.uri, media_type="audio/wav", bytes=stored.bytes, sha256=stored.sha256
    )
    done = EffectsCompleted.caused_by(submitted, stage="effects", outputs={"processed.wav": ref})
    for event in (submitted, done):
        await services.bus.publish(event)
        await services.projection.apply(event)
    return job_id


def test_if_none_match_is_compared_weakly_and_star_matches_anything() -> None:
    assert etag_matches(ETAG, ETAG)
    assert etag_matches(f'"other", W/{ETAG}', ETAG)
    assert etag_matches(" * ", ETAG)
    assert not etag_matches('"other"', ETAG)
    assert not etag_matches(SHA256, ETAG)  # unquoted is not the same entity tag
    assert not etag_matches("", ETAG)


async def test_local_storage_streams_ranges_and_answers_304_to_its_etag(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = settings(fresh_database, nats_server.url, tmp_path / "store", auth_mode="dev")
    async with running_gateway(config) as (services, api):
        job_id = await finished_job(services, "local", tmp_path)
        url = f"/api/v1/jobs/{job_id}/artifacts/processed.wav"

        whole = await api.get(url)
        assert whole.status_code == 200
        assert whole.content == DATA
        assert whole.headers["etag"] == ETAG
        assert whole.headers["content-disposition"] == 'attachment; filename="processed.wav"'

        for header in (ETAG, f'"nope", {ETAG}', f"W/{ETAG}", "*"):
            cached = await api.get(url, headers={"If-None-Match": header})
            assert cached.status_code == 304, header
            assert cached.content == b""
            assert cached.headers["etag"] == ETAG
        assert (await api.head(url, headers={"If-None-Match": ETAG})).status_code == 304
        stale = await api.get(url, headers={"If-None-Match": '"an-older-version"'})
        assert (stale.status_code, stale.content) == (200, DATA)

        part = await api.get(url, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206
        assert part.content == DATA[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(DATA)}"
        same = await api.get(url, headers={"Range": "bytes=-10", "If-Range": ETAG})
        assert (same.status_code, same.content) == (206, DATA[-10:])
        changed = await api.get(url, headers={"Range": "bytes=-10", "If-Range": '"older"'})
        assert (changed.status_code, changed.content) == (200, DATA)
        head = await api.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(DATA))


async def test_s3_download_is_a_redirect_to_a_signed_url_that_needs_no_gateway_credentials(
    fresh_database: str, nats_server: NatsServer, s3: str, tmp_path: Path, unique: str
) -> None:
    config = settings(
        fresh_database, nats_server.url, tmp_path / "store", **s3_settings(s3, unique)
    )
    async with running_gateway(config) as (services, api):
        pair = await sign_up(api, f"{unique}@example.com")
        owner, auth = pair["user"]["id"], bearer(pair["access_token"])
        job_id = await finished_job(services, owner, tmp_path)
        url = f"/api/v1/jobs/{job_id}/artifacts/processed.wav"

        redirect = await api.get(url, headers=auth)
        assert redirect.status_code == 307
        assert redirect.headers["etag"] == ETAG
        assert redirect.headers["cache-control"] == "no-store"
        location = redirect.headers["location"]
        assert location.startswith(f"{s3}/downloads-{unique}/{owner}/{job_id}/processed.wav?")
        assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == ["300"]

        # Anyone holding the URL gets the exact bytes, named and typed as the gateway would.
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(location)
            assert fetched.status_code == 200, fetched.text
            assert hashlib.sha256(fetched.content).hexdigest() == SHA256
            assert fetched.headers["content-type"] == "audio/wav"
            assert fetched.headers["content-disposition"] == (
                'attachment; filename="processed.wav"'
            )
            part = await outside.get(location, headers={"Range": "bytes=100-1099"})
            assert (part.status_code, part.content) == (206, DATA[100:1100])
            # The object itself is private: the same address unsigned is refused.
            bare = await outside.get(location.split("?")[0])
            assert bare.status_code == 403
            # A client that sent its gateway credentials along would be refused (as by S3).
            both = await outside.get(location, headers=auth)
            assert both.status_code == 400

        # A client that has the file is told so before any redirect; HEAD stays here.
        cached = await api.get(url, headers={**auth, "If-None-Match": ETAG})
        assert (cached.status_code, cached.content) == (304, b"")
        head = await api.head(url, headers=auth)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(DATA))
        assert (await api.get(url)).status_code == 401  # the redirect is not for anyone


async def test_the_python_client_follows_the_redirect_without_sending_its_credentials_to_s3(
    fresh_database: str, nats_server: NatsServer, s3: str, tmp_path: Path, unique: str
) -> None:
    config = settings(
        fresh_database, nats_server.url, tmp_path / "store", **s3_settings(s3, unique)
    )
    async with running_gateway(config) as (services, api):
        pair = await sign_up(api, f"{unique}@example.com")
        job_id = await finished_job(services, pair["user"]["id"], tmp_path)
        seen: list[httpx.Request] = []
        gateway_transport = api._transport  # the app, in this process
        network = httpx.AsyncHTTPTransport()

        class Both(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                seen.append(request)
                if request.url.host == "gw":
                    return await gateway_transport.handle_async_request(request)
                return await network.handle_async_request(request)

        async with AsyncCadenza("http://gw", pair["access_token"], transport=Both()) as client:
            artifact = Artifact(
                name="processed.wav",
                url=f"http://gw/api/v1/jobs/{job_id}/artifacts/processed.wav",
                media_type="audio/wav",
                bytes=len(DATA),
                sha256=SHA256,
            )
            saved = await client.download(artifact, tmp_path / "out")
        await network.aclose()
        assert saved.read_bytes() == DATA
        to_gateway, to_s3 = seen
        assert to_gateway.headers["authorization"] == f"Bearer {pair['access_token']}"
        assert to_s3.url.host == "127.0.0.1"
        assert "authorization" not in to_s3.headers


async def test_a_signed_url_expires_and_its_expiry_cannot_be_stretched(
    fresh_database: str, nats_server: NatsServer, s3: str, tmp_path: Path, unique: str
) -> None:
    ttl_s = 2
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path / "store",
        auth_mode="dev",
        download_url_ttl_s=ttl_s,
        **s3_settings(s3, unique),
    )
    async with running_gateway(config) as (services, api):
        job_id = await finished_job(services, "local", tmp_path)
        signed_at = time.time()
        location = (await api.get(f"/api/v1/jobs/{job_id}/artifacts/processed.wav")).headers[
            "location"
        ]
        async with httpx.AsyncClient() as outside:
            fresh = await outside.get(location)
            assert time.time() - signed_at < ttl_s, "too slow to see the URL before it expired"
            assert (fresh.status_code, fresh.content) == (200, DATA)
            stretched = await outside.get(location.replace("X-Amz-Expires=2", "X-Amz-Expires=9"))
            assert stretched.status_code == 403
            assert "SignatureDoesNotMatch" in stretched.text
            await asyncio.sleep(signed_at + ttl_s + 1.5 - time.time())
            expired = await outside.get(location)
            assert expired.status_code == 403
            assert "Request has expired" in expired.text


async def test_urls_are_signed_for_the_public_endpoint_which_the_studio_may_connect_to(
    fresh_database: str, nats_server: NatsServer, s3: str, tmp_path: Path, unique: str
) -> None:
    public = s3.replace("127.0.0.1", "localhost")  # the same server under another name
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path / "store",
        auth_mode="dev",
        **s3_settings(s3, unique, s3_public_endpoint_url=public),
    )
    async with running_gateway(config) as (services, api):
        job_id = await finished_job(services, "local", tmp_path)
        location = (await api.get(f"/api/v1/jobs/{job_id}/artifacts/processed.wav")).headers[
            "location"
        ]
        assert location.startswith(f"{public}/")
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(location)
            assert (fetched.status_code, fetched.content) == (200, DATA)
            # Signed for the public name: the same path and query on another host is refused.
            elsewhere = await outside.get(location.replace(public, s3))
            assert elsewhere.status_code == 403
        policy = (await api.get("/")).headers["content-security-policy"]
        assert f"connect-src 'self' {public};" in policy


async def test_with_no_url_lifetime_s3_downloads_stream_through_the_gateway(
    fresh_database: str, nats_server: NatsServer, s3: str, tmp_path: Path, unique: str
) -> None:
    config = settings(
        fresh_database,
        nats_server.url,
        tmp_path / "store",
        auth_mode="dev",
        download_url_ttl_s=0,
        **s3_settings(s3, unique),
    )
    async with running_gateway(config) as (services, api):
        job_id = await finished_job(services, "local", tmp_path)
        url = f"/api/v1/jobs/{job_id}/artifacts/processed.wav"
        whole = await api.get(url)
        assert (whole.status_code, whole.content) == (200, DATA)
        part = await api.get(url, headers={"Range": "bytes=49990-"})
        assert (part.status_code, part.content) == (206, DATA[49990:])
        assert "connect-src 'self';" in (await api.get("/")).headers["content-security-policy"]


async def test_an_upload_is_downloaded_as_sent_by_its_owner_only(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    """GET /api/v1/uploads/{id}/content: the studio's mixer plays a separation's input beside
    its stems (A/B). The same download as an artifact's: Range, ETag, 404 for anyone else."""
    track = write_tone(tmp_path / "tone.wav", 1.0)
    sent = track.read_bytes()
    config = settings(fresh_database, nats_server.url, tmp_path / "store", auth_mode="required")
    async with running_gateway(config) as (_, api):
        owner = bearer((await sign_up(api, "uploader@example.com"))["access_token"])
        other = bearer((await sign_up(api, "other@example.com"))["access_token"])
        created = await api.post(
            "/api/v1/uploads", files={"file": ("tone.wav", sent)}, headers=owner
        )
        assert created.status_code == 201, created.text
        url = f"/api/v1/uploads/{created.json()['id']}/content"

        whole = await api.get(url, headers=owner)
        assert whole.status_code == 200
        assert whole.content == sent
        assert whole.headers["etag"] == f'"{hashlib.sha256(sent).hexdigest()}"'
        assert whole.headers["content-type"].startswith("audio/")
        assert whole.headers["content-disposition"] == 'attachment; filename="tone.wav"'
        part = await api.get(url, headers={**owner, "Range": "bytes=0-43"})
        assert (part.status_code, part.content) == (206, sent[:44])
        head = await api.head(url, headers=owner)
        assert head.headers["content-length"] == str(len(sent))

        refused = await api.get(url, headers=other)
        assert refused.status_code == 404
        assert "not found" in refused.json()["detail"]
        assert (await api.get(url)).status_code == 401
        missing = await api.get(f"/api/v1/uploads/{uuid.uuid4()}/content", headers=owner)
        assert missing.status_code == 404
