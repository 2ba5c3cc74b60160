"""The one error the engine raises for input it cannot use."""

from __future__ import annotations


class BlendError(ValueError):
    """Sources or parameters a blend cannot use; the message is one sentence a person reads."""
