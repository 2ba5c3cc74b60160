"""S3 backend (aioboto3). A multipart upload becomes visible only when it completes."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cadenza.runtime.hashing import sha256_file
from cadenza.runtime.storage.base import (
    ListedObject,
    ObjectNotFoundError,
    ObjectStore,
    PendingObject,
    StoredObject,
)
from cadenza.runtime.storage.keys import validate_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

READ_BLOCK = 1 << 18
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        create_bucket: bool = False,
        scratch_dir: Path | None = None,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self._client_args: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region,
            "config": Config(retries={"max_attempts": 5, "mode": "standard"}),
        }
        if access_key_id and secret_access_key:
            self._client_args["aws_access_key_id"] = access_key_id
            self._client_args["aws_secret_access_key"] = secret_access_key
        self.create_bucket = create_bucket
        self.scratch_dir = scratch_dir
        # Download URLs are signed for the host clients reach, which may not be the one this
        # process uses (a signature covers the host); SigV4, the only one every region takes.
        self._signer_args: dict[str, Any] = {
            **self._client_args,
            "endpoint_url": public_endpoint_url or endpoint_url,
            "config": Config(signature_version="s3v4"),
        }
        self._stack = AsyncExitStack()
        self._client: S3Client | None = None
        self._signer: S3Client | None = None

    async def start(self) -> None:
        session = aioboto3.Session()
        self._client = await self._stack.enter_async_context(
            session.client("s3", **self._client_args)
        )
        self._signer = await self._stack.enter_async_context(
            session.client("s3", **self._signer_args)
        )
        if self.create_bucket:
            try:
                await self._client.head_bucket(Bucket=self.bucket)
            except ClientError:
                await self._client.create_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = self._signer = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("S3ObjectStore used before start()")
        return self._client

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{validate_key(key)}"

    def key_for(self, uri: str) -> str:
        prefix = f"s3://{self.bucket}/"
        if not uri.startswith(prefix):
            raise ValueError(f"{uri!r} is not in bucket {self.bucket}")
        return validate_key(uri[len(prefix) :])

    async def put_file(
        self, key: str, path: Path, media_type: str, *, move: bool = False
    ) -> StoredObject:
        validate_key(key)
        digest = await asyncio.to_thread(sha256_file, path)
        size = (await asyncio.to_thread(path.stat)).st_size
        await self.client.upload_file(
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": media_type, "Metadata": {"sha256": digest}},
        )
        if move:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        return StoredObject(key, self.uri_for(key), size, digest, media_type)

    async def copy(self, source_key: str, dest_key: str, media_type: str) -> StoredObject:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=validate_key(source_key))
        except ClientError as e:
            if _is_not_found(e):
                raise ObjectNotFoundError(source_key) from e
            raise
        await self.client.copy(
            {"Bucket": self.bucket, "Key": source_key}, self.bucket, validate_key(dest_key)
        )
        return StoredObject(
            dest_key,
            self.uri_for(dest_key),
            int(head["ContentLength"]),
            str(head.get("Metadata", {}).get("sha256", "")),
            media_type,
        )

    def _scratch(self) -> Path:
        base = Path(self.scratch_dir or tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        return base / f"cadenza-{uuid.uuid4().hex}"

    @asynccontextmanager
    async def writer(self, key: str, media_type: str) -> AsyncIterator[PendingObject]:
        validate_key(key)
        pending = PendingObject(key, media_type, self._scratch())
        try:
            yield pending
            pending.stored = await self.put_file(key, pending.path, media_type)
        finally:
            pending.path.unlink(missing_ok=True)

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        path = self._scratch()
        try:
            try:
                await self.client.download_file(self.bucket, validate_key(key), str(path))
            except ClientError as e:
                if _is_not_found(e):
                    raise ObjectNotFoundError(key) from e
                raise
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def size(self, key: str) -> int:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as e:
            if _is_not_found(e):
                raise ObjectNotFoundError(key) from e
            raise
        return int(head["ContentLength"])

    async def read_range(
        self, key: str, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        byte_range = f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"
        try:
            response = await self.client.get_object(
                Bucket=self.bucket, Key=validate_key(key), Range=byte_range
            )
        except ClientError as e:
            if _is_not_found(e):
                raise ObjectNotFoundError(key) from e
            raise
        body = response["Body"]
        try:
            while block := await body.read(READ_BLOCK):
                yield block
        finally:
            body.close()

    async def download_url(
        self, key: str, *, media_type: str, disposition: str, expires_s: int
    ) -> str:
        if self._signer is None:
            raise RuntimeError("S3ObjectStore used before start()")
        params = {
            "Bucket": self.bucket,
            "Key": validate_key(key),
            "ResponseContentType": media_type,
            "ResponseContentDisposition": disposition,
        }
        url: str = await self._signer.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_s
        )
        return url

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except ObjectNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    async def list_objects(self, prefix: str = "") -> AsyncIterator[ListedObject]:
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield ListedObject(item["Key"], int(item["Size"]), item["LastModified"].timestamp())

    async def ping(self) -> None:
        await self.client.head_bucket(Bucket=self.bucket)
