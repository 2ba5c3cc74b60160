"""What a user's tools make of the OpenAPI: openapi-python-client generates a client from the live
/openapi.json (offline: the document, the generator and its ruff hook are all local), and that
client, untouched, runs an effects job end to end: upload a WAV, submit, poll, download."""

from __future__ import annotations

import hashlib
import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from cadenza.devstack.platform import Platform
from cadenza.devstack.testing import write_tone

pytestmark = pytest.mark.platform

PACKAGE = "cadenza_generated_client"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def generated(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The generated package's import name (on sys.path while the module's tests run)."""
    root = tmp_path_factory.mktemp("generated")
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--url",
            f"{platform.url}/openapi.json",
            "--output-path",
            str(root / PACKAGE),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # Its post-generation hook runs ruff, which lives beside this interpreter.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        cwd=root,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # Any schema or operation it could not read would be missing from the client.
    assert "Warning" not in output, output
    sys.path.insert(0, str(root))
    try:
        yield PACKAGE
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def load(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


def token(platform: Platform) -> str:
    email = f"generated-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=platform.url, timeout=30) as api:
        api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        pair = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert pair.status_code == 200, pair.text
        access: str = pair.json()["access_token"]
        return access


def test_a_generated_client_runs_an_effects_job(
    platform: Platform, generated: str, tmp_path: Path
) -> None:
    client_module = load(generated, "client")
    types = load(generated, "types")
    models = load(generated, "models")
    create_upload = load(generated, "api.uploads.create_upload")
    create_job = load(generated, "api.jobs.create_job")
    get_job = load(generated, "api.jobs.get_job")
    download_artifact = load(generated, "api.jobs.download_artifact")

    client: Any = client_module.AuthenticatedClient(
        base_url=platform.url, token=token(platform), timeout=httpx.Timeout(60)
    )
    tone = write_tone(tmp_path / "tone.wav", 1.0)
    with client, tone.open("rb") as f:
        body = models.CreateUploadBody(
            file=types.File(payload=f, file_name="tone.wav", mime_type="audio/wav")
        )
        uploaded = create_upload.sync_detailed(client=client, body=body)
        assert uploaded.status_code == 201, uploaded.content
        assert isinstance(uploaded.parsed, models.UploadView)
        assert uploaded.parsed.sample_rate == 44100

        request = models.EffectsJobRequest.from_dict(
            {
                "kind": "effects",
                "input": {"upload_id": str(uploaded.parsed.id)},
                "params": {"chain": [{"type": "gain", "gain_db": -6}], "format": "wav"},
            }
        )
        accepted = create_job.sync_detailed(client=client, body=request)
        assert accepted.status_code == 202, accepted.content
        job = accepted.parsed
        assert isinstance(job, models.JobView)

        deadline = time.monotonic() + 120
        while job.status.value not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"job {job.id} still {job.status.value}"
            time.sleep(0.2)
            job = get_job.sync(client=client, job_id=job.id)
            assert isinstance(job, models.JobView)
        assert job.status.value == "completed", job.error
        (artifact,) = job.artifacts
        assert isinstance(artifact, models.ArtifactView)

        downloaded = download_artifact.sync_detailed(
            client=client, job_id=job.id, name=artifact.name
        )
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == artifact.sha256
        assert downloaded.content[:4] == b"RIFF"

        # An error comes back as the generated Problem model, the sentence in `detail`.
        missing = get_job.sync_detailed(client=client, job_id=uuid.uuid4())
        assert missing.status_code == 404
        assert isinstance(missing.parsed, models.Problem)
        assert missing.parsed.status == 404 and missing.parsed.detail
