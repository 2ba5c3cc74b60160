"""WS /ws: the generation platform's clients follow a project (a pipeline job) by its
`project_id` (COMPAT_ROUTES; docs/compat.md). The same job_feed and bounds as WS /api/v1/ws;
what is sent is the project vocabulary: `project.snapshot`, `stage.started`,
`stage.progress`, `stage.completed`, then `project.completed` or `project.failed`."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, WebSocket

from cadenza.gateway.application import jobs
from cadenza.gateway.application.errors import NotFoundError
from cadenza.gateway.deps import ServicesDep
from cadenza.gateway.job_feed import Message
from cadenza.gateway.job_socket import Subscriptions, error, serve_socket

router = APIRouter(tags=["compatibility"])

EXAMPLE = '{"action": "subscribe", "project_id": "..."}'
ACTIONS = ("subscribe", "unsubscribe")


@router.websocket("/ws")
async def project_updates(websocket: WebSocket, services: ServicesDep) -> None:
    """Connect with `?project_id=...` or send `{"action": "subscribe", "project_id": "..."}`
    (`"type"` may stand for `"action"`); `unsubscribe` stops a project's messages.
    Credentials as for WS /api/v1/ws."""
    wanted = websocket.query_params.get("project_id")
    opening = [{"action": "subscribe", "project_id": wanted}] if wanted else []
    await serve_socket(
        websocket,
        services,
        _handle,
        example=EXAMPLE,
        opening=opening,
        translate=ProjectFeed().translate,
    )


async def _handle(request: dict[str, Any], subscriptions: Subscriptions) -> Message | None:
    action = request.get("action", request.get("type"))
    if action not in ACTIONS:
        return error(f"unknown action {action!r}; use 'subscribe' or 'unsubscribe'")
    try:
        project_id = uuid.UUID(str(request.get("project_id")))
    except ValueError:
        return error(f"project_id {request.get('project_id')!r} is not a project id")
    if action == "unsubscribe":
        subscriptions.unsubscribe(project_id)
        return {"type": "unsubscribed", "project_id": str(project_id)}
    if project_id not in subscriptions.jobs:
        try:
            job = await jobs.read(subscriptions.services, subscriptions.owner, project_id)
        except NotFoundError:
            job = None
        if job is None or job.kind != "pipeline":
            return {**error(f"project {project_id} not found"), "project_id": str(project_id)}
    return await subscriptions.subscribe(project_id)


class ProjectFeed:
    """The job_feed's messages for one socket, in the project vocabulary. The job_feed speaks both
    (`job.*` for every job, `stage.*` and `project.*` for pipelines): the stage and project
    messages pass, the job ones are left out, except a subscriber's first look at a project
    that has already ended, whose ending the job_feed sends only as `job.*`."""

    def __init__(self) -> None:
        self._ended_before: set[str] = set()

    def translate(self, message: Message) -> Message | None:
        kind = str(message.get("type"))
        job_id = message.get("job_id")
        if kind == "job.snapshot":
            if message.get("status") in ("completed", "failed", "cancelled"):
                self._ended_before.add(str(job_id))
            return {**message, "type": "project.snapshot", "project_id": job_id}
        if kind in ("job.completed", "job.failed", "job.cancelled"):
            if str(job_id) not in self._ended_before:
                return None
            self._ended_before.discard(str(job_id))
            if kind == "job.completed":
                return {
                    "type": "project.completed",
                    "job_id": job_id,
                    "project_id": job_id,
                    "artifacts": message.get("artifacts", []),
                }
            return {
                "type": "project.failed",
                "job_id": job_id,
                "project_id": job_id,
                "status": message.get("status"),
                "error": message.get("error"),
            }
        if kind.startswith("job."):
            return None
        if job_id is not None and "project_id" not in message:
            return {**message, "project_id": job_id}
        return message
