"""The seeds' stack for comparison: the same tiny effects job as a Celery task on Redis.

The task does exactly what the Cadenza effects worker does for the job: run the chain
over the file block by block and commit the output to the local store (fsync, sha256,
atomic rename). Broker and result backend: Redis at CELERY_REDIS_URL. Default settings.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery
from pydantic import TypeAdapter

from cadenza.contracts import EffectChain, OutputFormat
from cadenza.effects.processing import apply_chain
from cadenza.runtime.storage import LocalObjectStore

REDIS_URL = os.environ.get("CELERY_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("cadenza_bench", broker=REDIS_URL, backend=REDIS_URL)
CHAIN = TypeAdapter(EffectChain)


@app.task(name="apply_effects")  # type: ignore[untyped-decorator]
def apply_effects(
    source: str, store_root: str, key: str, chain: list[dict[str, Any]]
) -> dict[str, Any]:
    store = LocalObjectStore(Path(store_root))
    scratch = Path(store_root) / ".tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=scratch, delete=False) as tmp:
        out = Path(tmp.name)
    result = apply_chain(Path(source), out, CHAIN.validate_python(chain), OutputFormat())
    stored = store.put_file_sync(key, out, "audio/wav", move=True)
    return {
        "uri": stored.uri,
        "bytes": stored.bytes,
        "sha256": stored.sha256,
        "frames": result.frames,
    }


@app.task(name="apply_effects_counted")  # type: ignore[untyped-decorator]
def apply_effects_counted(
    source: str, store_root: str, key: str, chain: list[dict[str, Any]], ledger: str
) -> dict[str, Any]:
    """apply_effects, then one line in `ledger` per finished execution (to count repeats)."""
    result: dict[str, Any] = apply_effects(source, store_root, key, chain)
    with open(ledger, "a") as f:
        f.write(key + "\n")
    return result
