"""One-call generation: 2 to 5 catalog songs in, a rendered and mastered track out (the
`full-song` pipeline: blend → render → master), as one job."""

from __future__ import annotations

from pydantic import Field

from cadenza.contracts.composition import MAX_SOURCES, MIN_SOURCES, BlendSettings
from cadenza.contracts.pipeline import MasterParams, RenderParams
from cadenza.gateway.job_requests.blend import MAX_LISTED_SONGS
from cadenza.gateway.job_requests.pipeline import PipelineJobRequest


class GenerateRequest(BlendSettings):
    songs: list[str] = Field(
        max_length=MAX_LISTED_SONGS,
        description='2 to 5 catalog songs: ids or "Title - Artist" (or just "Title")',
        # Up to MAX_LISTED_SONGS parse, and a wrong count is a sentence; the schema says 2..5.
        json_schema_extra={"minItems": MIN_SOURCES, "maxItems": MAX_SOURCES},
    )
    render: RenderParams = RenderParams()
    master: MasterParams = MasterParams()

    def pipeline(self) -> PipelineJobRequest:
        blend = self.model_dump(mode="json", exclude={"render", "master"}, exclude_none=True)
        return PipelineJobRequest(
            kind="pipeline",
            preset="full-song",
            params={
                **blend,
                "render": self.render.model_dump(mode="json", exclude_none=True),
                "master": self.master.model_dump(mode="json", exclude_none=True),
            },
        )
