"""Every error is an RFC 9457 problem (application/problem+json) with `detail` still the
sentence, and the OpenAPI document declares exactly that for every operation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from cadenza.contracts.audio_format import OutputFormat
from cadenza.contracts.catalog import PITCH_CLASSES
from cadenza.contracts.pipeline import RenderParams
from cadenza.devstack.nats import NatsServer
from cadenza.gateway.__main__ import openapi_document
from cadenza.gateway.api.routes.auth import EMAIL_SCHEMA, SPACE, Credentials
from cadenza.gateway.application.errors import UnprocessableError
from cadenza.gateway.application.generate import GenerateRequest
from cadenza.gateway.application.songs import KEY_PATTERN, parse_key
from cadenza.gateway.errors import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE
from cadenza.gateway.job_requests.pipeline import PipelineJobRequest

from .conftest import bearer, gateway, sign_up
from .conftest import settings as gateway_settings

STANDARD = {"type", "title", "status", "detail", "instance"}


def assert_problem(response: httpx.Response, status: int, path: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert set(body) >= STANDARD, body
    assert body["status"] == status
    assert body["type"] == f"/problems/{PROBLEM_KINDS[status].slug}"
    assert body["title"] == PROBLEM_KINDS[status].title
    assert body["instance"] == path
    assert isinstance(body["detail"], str) and body["detail"]
    return body


async def test_errors_are_problem_documents(
    fresh_database: str, nats_server: NatsServer, tmp_path: Path
) -> None:
    config = gateway_settings(fresh_database, nats_server.url, tmp_path, max_json_bytes=1024)
    async with gateway(config) as api:
        missing = await api.get("/api/v1/nothing-here")
        assert "no such endpoint" in assert_problem(missing, 404, "/api/v1/nothing-here")["detail"]

        anonymous = await api.get("/api/v1/jobs")
        assert_problem(anonymous, 401, "/api/v1/jobs")
        assert anonymous.headers["www-authenticate"] == "Bearer"

        token = (await sign_up(api, "problems@example.com"))["access_token"]
        invalid = await api.post(
            "/api/v1/jobs",
            json={"kind": "effects", "input": {"upload_id": "not-a-uuid"}, "params": {}},
            headers=bearer(token),
        )
        body = assert_problem(invalid, 422, "/api/v1/jobs")
        assert body["errors"] and {"field", "message"} == set(body["errors"][0])
        assert body["errors"][0]["field"] in body["detail"], "the sentence names the field"

        # Refused by the ASGI body guard, before any route runs.
        large = await api.post(
            "/api/v1/jobs", content=b"x" * 2048, headers={**bearer(token), "content-length": "2048"}
        )
        assert "larger than the limit" in assert_problem(large, 413, "/api/v1/jobs")["detail"]

        wrong_password = await api.post(
            "/api/v1/auth/login", json={"email": "problems@example.com", "password": "wrong one!"}
        )
        assert_problem(wrong_password, 401, "/api/v1/auth/login")

        # A fixed path is its own resource: /songs/{song_id} takes only a UUID, so GET
        # /songs/match is not a song with the id "match" but a method the path lacks.
        for method in ("OPTIONS", "GET"):
            not_allowed = await api.request(method, "/api/v1/songs/match", headers=bearer(token))
            assert_problem(not_allowed, 405, "/api/v1/songs/match")
            assert not_allowed.headers["allow"] == "POST"

        page = await api.get("/problems/validation")
        assert page.status_code == 200 and "Invalid request" in page.text
        assert (await api.get("/problems/no-such-kind")).status_code == 404


def test_the_openapi_declares_problems_security_and_links() -> None:
    spec = json.loads(openapi_document())
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    titles = [schema.get("title", name) for name, schema in schemas.items()]
    assert sorted(t for t in set(titles) if titles.count(t) > 1) == []
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}
    assert spec["components"]["securitySchemes"]["apiKeyAuth"]["name"] == "X-API-Key"
    ids = {op["operationId"] for ops in spec["paths"].values() for op in ops.values()}
    public = {"health", "ready", "metrics", "register", "login", "refresh", "list_effects"}
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op["operationId"].replace("_", "").isalnum(), where
            errors = {code: r for code, r in op["responses"].items() if code[0] in "45"}
            assert "422" in errors, where
            for code, response in errors.items():
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (where, code)
            if op["operationId"] in public:
                assert "security" not in op, where
            else:
                assert op.get("security") == [{"bearerAuth": []}, {"apiKeyAuth": []}], where
                assert {"401", "429", "503"} <= set(errors), where
            if "{" in path:
                assert "404" in errors, where
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(errors), where
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    assert link["operationId"] in ids, (where, link)
                    if "requestBody" in link:  # the whole body, not members to merge
                        assert link["x-schemathesis"] == {"merge_body": False}, (where, link)
    create = spec["paths"]["/api/v1/jobs"]["post"]
    assert create["operationId"] == "create_job"
    assert create["responses"]["202"]["links"]["GetJob"] == {
        "operationId": "get_job",
        "parameters": {"job_id": "$response.body#/id"},
    }


@given(st.from_regex(KEY_PATTERN, fullmatch=True).filter(lambda k: 0 < len(k) <= 12))
@settings(max_examples=300, deadline=None)
def test_every_key_the_schema_allows_parses(key: str) -> None:
    tonic, _ = parse_key(key)
    assert tonic in PITCH_CLASSES
    assert re.search(KEY_PATTERN, ""), "an empty key is no key (the search ignores it)"


@pytest.mark.parametrize(
    "key", ["H", "C #", "Amajor", "Ammaj", "m", "C##", "Cx", "A minr", "\x85C", "A\rmajor"]
)
def test_a_key_the_schema_refuses_is_refused(key: str) -> None:
    assert re.search(KEY_PATTERN, key) is None
    with pytest.raises(UnprocessableError):
        parse_key(key)


@given(st.from_regex(EMAIL_SCHEMA, fullmatch=True).filter(lambda e: len(e) <= 254))
@settings(max_examples=300, deadline=None)
def test_every_email_the_schema_allows_is_taken(email: str) -> None:
    assert Credentials(email=email, password="x").email == email.strip(SPACE)


CROSS_FIELD_CASES: list[tuple[type[BaseModel], dict[str, Any]]] = [
    (OutputFormat, {"format": "mp3", "bit_depth": 16}),
    (OutputFormat, {"format": "mp3"}),
    (OutputFormat, {"format": "flac", "bit_depth": 32}),
    (OutputFormat, {"format": "flac", "bit_depth": 24}),
    (OutputFormat, {"bit_depth": 32}),
    (RenderParams, {"preview_seconds": 10}),
    (RenderParams, {"preview_seconds": 10, "stems": False}),
    (RenderParams, {"preview_seconds": None}),
    (GenerateRequest, {"songs": ["a", "b"], "length_bars": 8, "length_seconds": 30}),
    (GenerateRequest, {"songs": ["a", "b"], "length_bars": 8, "length_seconds": None}),
    (GenerateRequest, {"songs": ["a", "b"], "engine": "learned", "lyrics": "la la"}),
    (GenerateRequest, {"songs": ["a", "b"], "engine": "learned", "lyrics": ""}),
    (GenerateRequest, {"songs": ["a", "b"], "engine": "markov", "style": "pop"}),
    (PipelineJobRequest, {"kind": "pipeline", "preset": "remix", "steps": [{"kind": "master"}]}),
    (PipelineJobRequest, {"kind": "pipeline"}),
    (PipelineJobRequest, {"kind": "pipeline", "preset": "remix"}),
    (PipelineJobRequest, {"kind": "pipeline", "steps": [{"kind": "master"}]}),
    (PipelineJobRequest, {"kind": "pipeline", "preset": None, "steps": [{"kind": "master"}]}),
]


@pytest.mark.parametrize(("model", "instance"), CROSS_FIELD_CASES)
def test_the_schema_and_the_model_agree_on_rules_across_fields(
    model: type[BaseModel], instance: dict[str, Any]
) -> None:
    """A model validator's rule is stated in its JSON Schema: both accept or both refuse."""
    schema_says = jsonschema.Draft202012Validator(model.model_json_schema()).is_valid(instance)
    try:
        model.model_validate(instance)
        model_says = True
    except ValidationError:
        model_says = False
    assert schema_says == model_says, (model.__name__, instance)
