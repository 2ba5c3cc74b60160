"""The one error the analysis raises, and the wording helpers its messages share."""

from __future__ import annotations


class AnalysisError(ValueError):
    """A file the analysis cannot use; the message is one sentence a person understands."""


def describe_seconds(seconds: float) -> str:
    """A duration the way a person says it: "45 seconds", "12 minutes", "9 hours"."""
    if seconds < 120:
        text = f"{seconds:.1f}".removesuffix(".0")
        return f"{text} second" if text == "1" else f"{text} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"
