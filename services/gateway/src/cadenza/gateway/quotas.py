"""Per-account quotas: bytes stored and jobs at once.

Storage counts every file an account keeps (the storage ledger: uploads, job outputs, its
songs' files) plus what its queued and running jobs are expected to write (their estimate,
reserved from acceptance until they end). Decisions for one account are serialised by a
transaction-scoped lock, so two requests at once cannot both take the last free bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from cadenza.contracts.limits import describe_bytes
from cadenza.gateway import quota_repository
from cadenza.gateway.settings import Settings


class QuotaExceededError(Exception):
    """The request would take the account past a quota; the message is for people."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Usage:
    stored_bytes: int
    reserved_bytes: int
    storage_quota_bytes: int  # 0: no quota
    active_jobs: int
    max_active_jobs: int  # 0: no limit

    @property
    def used_bytes(self) -> int:
        return self.stored_bytes + self.reserved_bytes

    @property
    def remaining_bytes(self) -> int | None:
        if not self.storage_quota_bytes:
            return None
        return max(0, self.storage_quota_bytes - self.used_bytes)


class Quotas:
    def __init__(self, settings: Settings) -> None:
        self.storage_quota_bytes = settings.storage_quota_bytes
        self.max_active_jobs = settings.max_active_jobs

    async def usage(self, conn: asyncpg.Connection | asyncpg.Pool, owner: str) -> Usage:
        stored, reserved, active = await quota_repository.use(conn, owner)
        return Usage(
            stored_bytes=stored,
            reserved_bytes=reserved,
            storage_quota_bytes=self.storage_quota_bytes,
            active_jobs=active,
            max_active_jobs=self.max_active_jobs,
        )

    @staticmethod
    def check_fits(usage: Usage, adding: int, what: str = "the file takes") -> None:
        """QuotaExceededError unless `adding` bytes fit in what `usage` leaves."""
        remaining = usage.remaining_bytes
        if remaining is not None and adding > remaining:
            raise QuotaExceededError(
                403,
                f"{what} about {describe_bytes(adding)}, but only "
                f"{describe_bytes(remaining)} of your storage quota of "
                f"{describe_bytes(usage.storage_quota_bytes)} is left (stored "
                f"{describe_bytes(usage.stored_bytes)}, reserved by running jobs "
                f"{describe_bytes(usage.reserved_bytes)}); remove files, or let retention "
                "remove old ones",
            )

    async def admit_job(self, conn: asyncpg.Connection, owner: str, reserve_bytes: int) -> None:
        """Inside the transaction that accepts the job: QuotaExceededError unless the
        account has room for one more job and for what it is expected to write."""
        await quota_repository.lock_account(conn, owner)
        usage = await self.usage(conn, owner)
        if self.max_active_jobs and usage.active_jobs >= self.max_active_jobs:
            raise QuotaExceededError(
                429,
                f"you have {usage.active_jobs} jobs queued or running, the most one account "
                "may have at once; wait for one to finish or cancel one",
                retry_after=5,
            )
        self.check_fits(usage, reserve_bytes, "the job would write")

    async def admit_file(self, conn: asyncpg.Connection, owner: str, size: int) -> None:
        """Inside the transaction that records a stored file: QuotaExceededError unless
        it fits."""
        await quota_repository.lock_account(conn, owner)
        self.check_fits(await self.usage(conn, owner), size)
