"""Domain errors: what a use case can refuse, as types. `cadenza.gateway.errors` maps
each to its HTTP status and problem document in one place."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a caller can act on; `str(error)` is the sentence they read."""

    def __init__(self, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


class NotFoundError(DomainError):
    """No such thing for this caller (someone else's is reported the same way)."""


class ConflictError(DomainError):
    """The thing exists but is in a state that does not allow this (a finished job)."""


class GoneError(DomainError):
    """It existed, and retention removed it."""


class ForbiddenError(DomainError):
    """The caller's role or quota does not allow this."""


class UnavailableError(DomainError):
    """A service this needs is not answering; trying again later may work."""


class UnprocessableError(Exception):
    """A request that parsed but cannot be done; each problem names its field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['message']}" for p in problems))
        self.problems = problems

    @classmethod
    def one(cls, field: str, message: str) -> UnprocessableError:
        return cls([{"field": field, "message": message}])


class InvalidError(DomainError):
    """Well-formed, but cannot be done (a file that cannot be analysed); no single field."""


class UnsupportedError(DomainError):
    """A file of a kind this does not take."""


class TooLargeError(DomainError):
    """Larger than this kind of thing may be."""
