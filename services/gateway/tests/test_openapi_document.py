"""docs/openapi.json is the API as the code declares it (`make docs` regenerates it), and
every operation has its own id (GET and HEAD of a download included)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from cadenza.gateway.__main__ import openapi_document

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_current() -> None:
    assert COMMITTED.read_text() == openapi_document(), "run `make docs` and commit the result"


def test_every_operation_has_a_unique_id() -> None:
    spec = json.loads(openapi_document())
    ids = Counter(op["operationId"] for ops in spec["paths"].values() for op in ops.values())
    assert [i for i, n in ids.items() if n > 1] == []
    downloads = spec["paths"]["/api/v1/jobs/{job_id}/artifacts/{name}"]
    assert set(downloads) == {"get", "head"}
