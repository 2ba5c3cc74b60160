"""The Cadenza client: `Cadenza` (sync) and `AsyncCadenza`, request builders for every job
kind (`cadenza.client.requests`), and the `cadenza` command line (`cadenza.client.cli`).

    from cadenza.client import Cadenza
    from cadenza.client.requests import effects_job

    with Cadenza("http://127.0.0.1:8000", api_key="cdz_…") as api:
        upload = api.upload("song.wav")
        job = api.submit(effects_job(upload.id, [{"type": "reverb", "room_size": 0.8}]))
        job = api.wait(job.id)
        api.download(job.artifacts[0], ".")
"""

from cadenza.client.async_client import AsyncCadenza
from cadenza.client.errors import CadenzaError
from cadenza.client.models import Artifact, Job, JobPage, RecordedEvent, Song, Stage, Upload
from cadenza.client.sync_client import Cadenza

__all__ = [
    "Artifact",
    "AsyncCadenza",
    "Cadenza",
    "CadenzaError",
    "Job",
    "JobPage",
    "RecordedEvent",
    "Song",
    "Stage",
    "Upload",
]
