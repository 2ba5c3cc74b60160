"""What workers can do right now, advertised in key-value buckets: separation models
(`ModelRegistry`) and SoundFonts (`SoundFontRegistry`). Workers keep refreshing their
entries within a time-to-live; the gateway reads them to answer and to validate."""

from __future__ import annotations

import logging
import re
import time
from typing import ClassVar, Generic, Protocol, TypeVar, cast

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

from cadenza.contracts.render import SoundFontInfo
from cadenza.contracts.separation import ModelInfo
from cadenza.contracts.streams import (
    MODELS_BUCKET,
    MODELS_TTL_S,
    SOUNDFONTS_BUCKET,
    SOUNDFONTS_TTL_S,
)
from cadenza.runtime.bus import key_value_bucket

log = logging.getLogger(__name__)

_KEY_UNSAFE = re.compile(r"[^-_=.a-zA-Z0-9]")


class Advertised(Protocol):
    """What a registry holds: a pydantic model with a name."""

    @property
    def name(self) -> str: ...

    def model_dump_json(self) -> str: ...


Item = TypeVar("Item", bound=Advertised)


class Registry(Generic[Item]):
    """Items keyed by their `name`, each a JSON value in `bucket` (cached for `cache_s`)."""

    bucket: ClassVar[str]
    ttl_s: ClassVar[float]
    item_type: ClassVar[type[BaseModel]]

    def __init__(self, js: JetStreamContext, *, cache_s: float = 2.0) -> None:
        self.js = js
        self.cache_s = cache_s
        self._kv: KeyValue | None = None
        self._cached: dict[str, Item] = {}
        self._cached_at = float("-inf")
        self._answered = False

    async def _bucket(self) -> KeyValue:
        if self._kv is None:
            self._kv = await key_value_bucket(self.js, self.bucket, ttl_s=self.ttl_s)
        return self._kv

    @staticmethod
    def _key(name: str) -> str:
        """A bucket key for any name (keys allow only letters, digits and `-_=.`)."""
        return _KEY_UNSAFE.sub(lambda m: f"={ord(m.group()):x}=", name)

    async def advertise(self, items: list[Item]) -> None:
        kv = await self._bucket()
        for item in items:
            await kv.put(self._key(str(item.name)), item.model_dump_json().encode())

    async def available(self) -> dict[str, Item]:
        """Items some worker advertised within the time-to-live, by name.

        While JetStream does not answer (a NATS cluster electing a new leader after losing
        a node takes seconds), the last answer stands for another `cache_s`, so callers
        such as every job submit neither fail nor each wait out the timeout. Raises only
        when there never was an answer."""
        if time.monotonic() - self._cached_at < self.cache_s:
            return self._cached
        try:
            found = await self._read()
        except nats.errors.Error as e:  # nats.js.errors.Error included
            if not self._answered:
                raise
            log.warning("%s bucket unavailable, using what it said before: %r", self.bucket, e)
            self._cached_at = time.monotonic()
            return self._cached
        self._cached, self._cached_at, self._answered = found, time.monotonic(), True
        return found

    async def _read(self) -> dict[str, Item]:
        kv = await self._bucket()
        found: dict[str, Item] = {}
        # The stream's subjects, in one request: nats-py's `kv.keys()` watches the bucket with
        # an ordered consumer and, when the server answers its consumer-info request before
        # the messages it has already sent arrive (a loaded server), returns no keys at all;
        # every ephemeral consumer it makes also counts against the stream's 1000 for 5 min.
        prefix = f"$KV.{self.bucket}."
        info = await self.js.stream_info(f"KV_{self.bucket}", subjects_filter=f"{prefix}>")
        keys = [subject.removeprefix(prefix) for subject in info.state.subjects or {}]
        for key in keys:
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:  # expired between keys() and get()
                continue
            if entry.value:
                try:
                    item = cast(Item, self.item_type.model_validate_json(entry.value))
                except ValidationError:
                    continue
                found[str(item.name)] = item
        return found


class ModelRegistry(Registry[ModelInfo]):
    bucket = MODELS_BUCKET
    ttl_s = MODELS_TTL_S
    item_type = ModelInfo


class SoundFontRegistry(Registry[SoundFontInfo]):
    bucket = SOUNDFONTS_BUCKET
    ttl_s = SOUNDFONTS_TTL_S
    item_type = SoundFontInfo
