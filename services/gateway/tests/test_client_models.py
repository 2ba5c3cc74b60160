"""The Python client's response models are written by hand (thin dataclasses that keep the
whole JSON in `raw`; the client is standalone and has no pydantic to generate them into), so
every field they read is checked here against what the API's OpenAPI document declares."""

from __future__ import annotations

import dataclasses
import json
from functools import cache
from typing import Any

import pytest

from cadenza.client import models
from cadenza.gateway.__main__ import openapi_document

# Model → (method, path, status) of an answer it is made from, and the JSON pointer (within
# that answer's schema, "*" for an array's items) where its fields are.
SOURCES: dict[type[Any], tuple[str, str, str, tuple[str, ...]]] = {
    models.Upload: ("post", "/api/v1/uploads", "201", ()),
    models.Job: ("get", "/api/v1/jobs/{job_id}", "200", ()),
    models.Stage: ("get", "/api/v1/jobs/{job_id}", "200", ("stages", "*")),
    models.Artifact: ("get", "/api/v1/jobs/{job_id}", "200", ("artifacts", "*")),
    models.JobPage: ("get", "/api/v1/jobs", "200", ()),
    models.Song: ("get", "/api/v1/songs/{song_id}", "200", ()),
    models.ModelList: ("get", "/api/v1/models", "200", ()),
    models.SeparationModel: ("get", "/api/v1/models", "200", ("models", "*")),
    models.PullableModel: ("get", "/api/v1/models", "200", ("pullable", "*")),
}
# Fields the client fills itself, and the JSON names of those it renames.
OWN = {"raw", "score"}
RENAMED = {(models.JobPage, "jobs"): "items"}


@cache
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(openapi_document())
    return document


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for choice in schema.get("anyOf", []):
        if choice.get("type") != "null":
            return resolve(choice)
    return schema


@pytest.mark.parametrize("model", SOURCES, ids=lambda m: m.__name__)
def test_every_field_the_client_reads_is_in_the_answer(model: type[Any]) -> None:
    method, path, status, pointer = SOURCES[model]
    answer = spec()["paths"][path][method]["responses"][status]["content"]["application/json"]
    schema = resolve(answer["schema"])
    for step in pointer:
        schema = resolve(schema["items"] if step == "*" else schema["properties"][step])
    declared = set(schema["properties"])
    read = {
        RENAMED.get((model, f.name), f.name) for f in dataclasses.fields(model) if f.name not in OWN
    }
    assert read <= declared, f"{model.__name__} reads {sorted(read - declared)}, not in {path}"
    assert len(read) >= 2
