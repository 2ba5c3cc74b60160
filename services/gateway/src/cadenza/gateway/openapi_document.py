"""The OpenAPI document as the tools of our users read it (schemathesis, openapi-python-client):
every status an operation can answer, errors as RFC 9457 problems, who may call it, readable
operation ids, links between operations, and no two schemas with one name.

FastAPI writes the document from the routes; this finishes it from the same routes'
dependencies (an operation that depends on `get_caller` answers 401, one with a path id 404, one
with a body 413 and 415, ...), so a new route is documented by what it depends on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from cadenza.gateway import deps
from cadenza.gateway.errors import PROBLEM_MEDIA_TYPE, kind_of

PROBLEM_REF = "#/components/schemas/Problem"
VALIDATION_PROBLEM_REF = "#/components/schemas/ValidationProblem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; `detail` is a sentence for people, `type` a stable "
    "URI per kind of problem (a page the gateway serves).",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "examples": ["/problems/not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
    },
    "additionalProperties": True,
}
FIELD_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "FieldProblem",
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path: `params.chain.0.gain_db`"},
        "message": {"type": "string"},
    },
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "allOf": [
        {"$ref": PROBLEM_REF},
        {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/FieldProblem"},
                }
            },
        },
    ],
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /api/v1/auth/login (an API key is taken "
        "here too).",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key from POST /api/v1/auth/api-keys.",
    },
}
AUTHENTICATED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "string"},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": "The scheme to sign in with", "schema": {"type": "string"}}
}


# The gateway refuses text PostgreSQL cannot hold (text_checks): a NUL in any string or key.
TEXT_PATTERN = "^[^\\u0000]*$"
NOT_SCHEMAS = frozenset({"examples", "example", "default", "const", "enum", "links"})


def state_text_rule(node: Any) -> None:
    """Put the no-NUL rule on every free-text string and object key in `node`'s schemas, and
    the no-empty-file rule on every file."""
    if isinstance(node, list):
        for item in node:
            state_text_rule(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and not {"pattern", "format", "enum", "const"} & set(node):
        node["pattern"] = TEXT_PATTERN
    if kind == "string" and node.get("format") == "binary":
        node.setdefault("minLength", 1)  # an empty file is refused (422), whatever the route
    if kind == "object" and node.get("additionalProperties") is not False:
        node.setdefault("propertyNames", {"pattern": TEXT_PATTERN})
    for key, value in node.items():
        if key not in NOT_SCHEMAS:
            state_text_rule(value)


@dataclass(frozen=True)
class Link:
    """`$response.body` pointers into the answer of `source` that name the target's
    parameters (the stateful tests follow these). A `request_body` is the whole request:
    schemathesis would otherwise merge its members into a body it makes up (a job with
    random members beside the upload's id is a 422), so the link says `merge_body: false`
    in schemathesis's extension."""

    target: str
    parameters: dict[str, str]
    request_body: dict[str, Any] | None = None


def _job_links(pointer: str) -> dict[str, Link]:
    job_id = {"job_id": f"$response.body#{pointer}"}
    return {
        "GetJob": Link("get_job", job_id),
        "JobEvents": Link("job_events", job_id),
        "CancelJob": Link("cancel_job", job_id),
        "DeleteJob": Link("delete_job", job_id),
        "PinJob": Link("pin_job", job_id),
        "UnpinJob": Link("unpin_job", job_id),
    }


def _song_links(pointer: str) -> dict[str, Link]:
    song_id = {"song_id": f"$response.body#{pointer}"}
    asset = {**song_id, "name": f"$response.body#{pointer.removesuffix('/id')}/assets/0/name"}
    return {
        "GetSong": Link("get_song", song_id),
        "SimilarSongs": Link("similar_songs", song_id),
        "DownloadAsset": Link("download_asset", asset),
        "DownloadAssetHead": Link("download_asset_head", asset),
    }


def _upload_links(pointer: str) -> dict[str, Link]:
    upload_id = f"$response.body#{pointer}"
    return {
        **{
            name: Link(target, {"upload_id": upload_id})
            for name, target in (
                ("GetUpload", "get_upload"),
                ("PinUpload", "pin_upload"),
                ("UnpinUpload", "unpin_upload"),
            )
        },
        "EffectsJob": Link(
            "create_job",
            {},
            {
                "kind": "effects",
                "input": {"upload_id": upload_id},
                "params": {"chain": [{"type": "pitch_shift", "semitones": 7}, {"type": "reverb"}]},
            },
        ),
    }


def _webhook_links(pointer: str) -> dict[str, Link]:
    webhook_id = {"webhook_id": f"$response.body#{pointer}"}
    return {
        name: Link(target, webhook_id)
        for name, target in (
            ("GetWebhook", "get_webhook"),
            ("WebhookDeliveries", "list_webhook_deliveries"),
            ("RotateWebhookSecret", "rotate_webhook_secret"),
            ("DeleteWebhook", "delete_webhook"),
        )
    }


def _project_links(pointer: str) -> dict[str, Link]:
    project_id = {"project_id": f"$response.body#{pointer}"}
    return {
        name: Link(target, project_id)
        for name, target in (
            ("GetProject", "get_project"),
            ("UpdateProject", "update_project"),
            ("ProjectActivity", "project_activity"),
            ("ProjectMembers", "list_members"),
            ("ProjectInvitations", "list_project_invitations"),
            ("InviteMember", "invite_member"),
            ("ArchiveProject", "archive_project"),
            ("RestoreProject", "restore_project"),
            ("LeaveProject", "leave_project"),
            ("ProjectComments", "list_comments"),
            ("AddComment", "add_comment"),
            ("ProjectApprovals", "list_approvals"),
        )
    }


def _invitation_links(pointer: str) -> dict[str, Link]:
    invitation_id = {"invitation_id": f"$response.body#{pointer}"}
    project = f"$response.body#{pointer.removesuffix('/id')}/project_id"
    return {
        "AcceptInvitation": Link("accept_invitation", invitation_id),
        "DeclineInvitation": Link("decline_invitation", invitation_id),
        "RevokeInvitation": Link("revoke_invitation", {**invitation_id, "project_id": project}),
    }


# (operation id, status) → links to the operations that take what it answered.
LINKS: dict[tuple[str, str], dict[str, Link]] = {
    ("create_project", "201"): _project_links("/id"),
    ("get_project", "200"): _project_links("/id"),
    ("list_projects", "200"): _project_links("/items/0/id"),
    ("invite_member", "201"): _invitation_links("/id"),
    ("add_comment", "201"): {
        name: Link(
            target,
            {"project_id": "$response.body#/project_id", "comment_id": "$response.body#/id"},
        )
        for name, target in (
            ("ResolveComment", "resolve_comment"),
            ("ReopenComment", "reopen_comment"),
        )
    },
    ("my_invitations", "200"): _invitation_links("/items/0/id"),
    ("create_job", "202"): _job_links("/id"),
    ("generate", "202"): _job_links("/id"),
    ("get_job", "200"): {
        **_job_links("/id"),
        **{
            name: Link(
                target,
                {"job_id": "$response.body#/id", "name": "$response.body#/artifacts/0/name"},
            )
            for name, target in (
                ("DownloadArtifact", "download_artifact"),
                ("DownloadArtifactHead", "download_artifact_head"),
            )
        },
    },
    ("list_jobs", "200"): _job_links("/items/0/id"),
    ("create_upload", "201"): _upload_links("/id"),
    ("get_upload", "200"): _upload_links("/id"),
    ("add_song", "201"): _song_links("/song/id"),
    ("add_song", "200"): _song_links("/song/id"),
    ("get_song", "200"): _song_links("/id"),
    ("create_api_key", "201"): {
        "RevokeApiKey": Link("revoke_api_key", {"key_id": "$response.body#/id"})
    },
    ("generate_full_song", "202"): {
        name: Link(target, {"project_id": "$response.body#/project_id"})
        for name, target in (
            ("ProjectStatus", "project_status"),
            ("ProjectAggregate", "project_aggregate"),
        )
    },
    ("create_webhook", "201"): _webhook_links("/id"),
    ("get_webhook", "200"): _webhook_links("/id"),
    ("list_webhooks", "200"): _webhook_links("/items/0/id"),
    # The seeds' routes (docs/compat.md), when COMPAT_ROUTES has them.
    ("orpheus_generate", "202"): {
        "OrpheusStatus": Link("orpheus_status", {"job_id": "$response.body#/jobId"}),
        "OrpheusDownload": Link("orpheus_download", {"file_id": "$response.body#/jobId"}),
    },
    ("music_assistant_create_job", "202"): {
        "AssistantJob": Link("music_assistant_job", {"job_id": "$response.body#/id"})
    },
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str
    calls: frozenset[Callable[..., Any]]

    @property
    def id(self) -> str:
        # HEAD shares its function with GET; the client needs two names.
        return f"{self.name}_head" if self.method == "head" else self.name


def operations(app: FastAPI) -> Iterator[Operation]:
    for route in routing.iter_route_contexts(app.routes):
        if not route.methods or not getattr(route, "include_in_schema", False):
            continue
        if route.path_format is None or route.name is None:
            continue
        calls = frozenset(_calls(route.dependant))
        for method in sorted(route.methods):
            yield Operation(method.lower(), route.path_format, route.name, calls)


def statuses(operation: Operation, spec: dict[str, Any]) -> set[int]:
    """Every error status the operation can answer, from what it depends on and takes."""
    found = {422}  # any query or path text a NUL in it (text_checks), whatever the route
    if deps.get_caller in operation.calls:
        found |= {401, 429}
    if deps.get_writer in operation.calls or deps.get_admin in operation.calls:
        found.add(403)
    if deps.limit_sign_in in operation.calls:
        found.add(429)
    if deps.get_services in operation.calls:  # PostgreSQL, NATS or storage may be down
        found.add(503)
    if any(p.get("in") == "path" for p in spec.get("parameters", [])):
        found.add(404)
    if "requestBody" in spec:
        found |= {400, 408, 413, 415}
    return found


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    ref = VALIDATION_PROBLEM_REF if status == 422 else PROBLEM_REF
    response: dict[str, Any] = {
        "description": description or kind_of(status).title,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": ref}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    if status == 401:
        response["headers"] = WWW_AUTHENTICATE
    return response


def finish(document: dict[str, Any], app: FastAPI) -> None:
    """Complete FastAPI's document in place (see the module's docstring)."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["FieldProblem"] = FIELD_PROBLEM_SCHEMA
    schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    components["securitySchemes"] = SECURITY_SCHEMES
    state_text_rule(schemas)
    state_text_rule(document["paths"])
    ids: dict[str, tuple[str, str]] = {}
    for operation in operations(app):
        spec = document["paths"].get(operation.path, {}).get(operation.method)
        if spec is None:
            continue
        if operation.id in ids:
            raise ValueError(f"operation id {operation.id} names {ids[operation.id]} too")
        ids[operation.id] = (operation.method, operation.path)
        spec["operationId"] = operation.id
        responses = spec.setdefault("responses", {})
        for status in statuses(operation, spec) | {
            int(code) for code in responses if code[0] in "45"
        }:
            described = responses.get(str(status), {}).get("description")
            if described in (None, "Validation Error"):
                described = None
            responses[str(status)] = problem_response(status, described)
        if deps.get_caller in operation.calls:
            spec["security"] = AUTHENTICATED
    for (source, code), links in LINKS.items():
        if source not in ids:
            continue
        method, path = ids[source]
        response = document["paths"][path][method]["responses"].get(code)
        if response is None:
            continue
        response["links"] = {
            name: {
                "operationId": link.target,
                "parameters": link.parameters,
                **(
                    {"requestBody": link.request_body, "x-schemathesis": {"merge_body": False}}
                    if link.request_body
                    else {}
                ),
            }
            for name, link in links.items()
            if link.target in ids
        }


def install_openapi(app: FastAPI) -> None:
    """Have `app.openapi()` (and so /openapi.json) answer the finished document."""
    generate = app.openapi
    finished: list[int] = []  # id of the document last finished: FastAPI caches it

    def openapi() -> dict[str, Any]:
        document = generate()
        if not finished or finished[-1] != id(document):
            finish(document, app)
            finished.append(id(document))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
