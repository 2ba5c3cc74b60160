"""Which separation models are available: workers advertise them in a key-value bucket
(with a time-to-live they keep refreshing), the gateway reads it to answer and validate."""

from __future__ import annotations

import time

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue
from pydantic import ValidationError

from cadenza.contracts.separation import ModelInfo
from cadenza.contracts.streams import MODELS_BUCKET, MODELS_TTL_S
from cadenza.runtime.bus import key_value_bucket


async def models_bucket(js: JetStreamContext, replicas: int = 1) -> KeyValue:
    return await key_value_bucket(js, MODELS_BUCKET, ttl_s=MODELS_TTL_S, replicas=replicas)


class ModelRegistry:
    def __init__(self, js: JetStreamContext, *, cache_s: float = 2.0) -> None:
        self.js = js
        self.cache_s = cache_s
        self._kv: KeyValue | None = None
        self._cached: dict[str, ModelInfo] = {}
        self._cached_at = float("-inf")

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await models_bucket(self.js)
        return self._kv

    async def advertise(self, models: list[ModelInfo]) -> None:
        kv = await self._bucket()
        for model in models:
            await kv.put(model.name, model.model_dump_json().encode())

    async def available(self) -> dict[str, ModelInfo]:
        """Models some worker advertised within the time-to-live (cached for `cache_s`)."""
        if time.monotonic() - self._cached_at < self.cache_s:
            return self._cached
        kv = await self._bucket()
        found: dict[str, ModelInfo] = {}
        try:
            keys = await kv.keys()
        except NoKeysError:
            keys = []
        for key in keys:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:  # expired between keys() and get()
                continue
            if entry.value:
                try:
                    found[key] = ModelInfo.model_validate_json(entry.value)
                except ValidationError:
                    continue
        self._cached, self._cached_at = found, time.monotonic()
        return found
