"""The studio's downloads with S3 storage, in headless Chromium: its fetch() with the bearer
token follows the gateway's 307 to the signed URL on the S3 host (which the page's CSP lets
it connect to), Chromium leaves the token behind on that other origin, and the bytes read
through the bucket's CORS rule are the artifact's."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from playwright.async_api import Request, async_playwright

from cadenza.contracts import ArtifactRef
from cadenza.contracts.effects import EffectsCompleted
from cadenza.contracts.jobs import JobSubmitted
from cadenza.devstack.nats import NatsServer
from cadenza.devstack.ports import free_port
from cadenza.gateway.app import create_app
from cadenza.gateway.services import Services
from cadenza.gateway.settings import Settings
from cadenza.runtime.storage import S3ObjectStore

from .studio_page import chromium_path

DATA = os.urandom(300_000)
# In the page: the studio's own fetchBlob (bearer token, redirects followed) and the sha256
# of what it read, or the error that stopped it (its name, HTTP status and sentence).
READ = """async ([url, token]) => {
  sessionStorage.setItem("cadenza.access_token", token);
  const { fetchBlob } = await import("/static/js/api.js");
  try {
    const bytes = await (await fetchBlob(url)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  } catch (error) {
    return `${error.name} ${error.status ?? ""}: ${error.message}`;
  }
}"""


@asynccontextmanager
async def serving(config: Settings) -> AsyncIterator[tuple[Services, str]]:
    """The started gateway's services and the URL of its HTTP server, in this event loop."""
    app = create_app(config)
    async with app.router.lifespan_context(app):
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        task = asyncio.create_task(server.serve())
        for _ in range(1500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        try:
            yield app.state.services, f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task


async def finished_job(services: Services, owner: str, tmp: Path) -> uuid.UUID:
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
    source = tmp / "processed.wav"
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


async def test_the_studio_reads_an_s3_artifact_through_the_redirect_without_leaking_its_token(
    fresh_database: str, nats_server: NatsServer, s3_endpoint: str, tmp_path: Path, unique: str
) -> None:
    config = Settings(
        database_url=fresh_database,
        nats_url=nats_server.url,
        jwt_secret="s3-downloads-" + "x" * 40,
        log_format="text",
        storage_backend="s3",
        s3_endpoint_url=s3_endpoint,
        s3_bucket=f"studio-{unique}",
        s3_access_key_id="test",
        s3_secret_access_key="test",
        s3_create_bucket=True,
    )
    async with serving(config) as (services, base_url):
        assert isinstance(services.store, S3ObjectStore)
        async with httpx.AsyncClient(base_url=base_url) as api:
            account = {"email": f"{unique}@example.com", "password": "correct horse battery"}
            assert (await api.post("/api/v1/auth/register", json=account)).status_code == 201
            pair = (await api.post("/api/v1/auth/login", json=account)).json()
        job_id = await finished_job(services, pair["user"]["id"], tmp_path)
        read_it = [f"/api/v1/jobs/{job_id}/artifacts/processed.wav", pair["access_token"]]

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path())
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            to_s3: list[Request] = []
            page.on("request", lambda r: to_s3.append(r) if r.url.startswith(s3_endpoint) else None)
            await page.goto(base_url + "/")  # the studio's page, under its CSP
            # Its start-up has asked who is there (no one: the sign-in form) before the
            # token is put where the page keeps it.
            await page.wait_for_selector("#sign-in", state="visible")

            # What a bucket must allow for browsers to read what S3 sends (README.md,
            # "Downloads from S3"); moto's server answers any origin without it.
            await services.store.client.put_bucket_cors(
                Bucket=config.s3_bucket,
                CORSConfiguration={
                    "CORSRules": [
                        {
                            "AllowedOrigins": [base_url],
                            "AllowedMethods": ["GET"],
                            "AllowedHeaders": ["Range"],
                            "ExposeHeaders": ["Content-Length", "Content-Range", "ETag"],
                        }
                    ]
                },
            )
            read = await page.evaluate(READ, read_it)
            sent = [await request.all_headers() for request in to_s3]
            await browser.close()
        assert read == hashlib.sha256(DATA).hexdigest()
        assert len(sent) == 1, "one GET on the S3 host, no preflight"
        assert "authorization" not in sent[0]
        # No script error or CSP violation (Chromium logs one for any blocked connection).
        assert [p for p in problems if not p.startswith("Failed to load resource")] == []
