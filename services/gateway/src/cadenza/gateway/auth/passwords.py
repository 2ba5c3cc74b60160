"""Password hashing with argon2id (RFC 9106 low-memory parameters, argon2-cffi's default).

Hashing costs ~64 MiB and tens of milliseconds, so it runs in a thread and at most
`MAX_CONCURRENT_HASHES` at once: a login flood queues instead of exhausting memory.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_CONCURRENT_HASHES = 2
MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
# Verified against when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots.clear()  # one serving loop per process; tests start new ones
        _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
    return _slots[loop]


async def hash_password(password: str) -> str:
    async with _slot():
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    async with _slot():
        return await asyncio.to_thread(check)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if password.strip() == "" or len(set(password)) < 4:
        return "the password is too simple; use a phrase or a password manager"
    return None
