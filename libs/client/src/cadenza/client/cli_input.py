"""What the `cadenza` command line takes in, checked before anything is sent: effect chains
(--effect, --chain), stems (--stems), the audio FILE; and the server's problem said back."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cadenza.client.errors import CadenzaError
from cadenza.client.sync_client import Cadenza
from cadenza.client.vocabulary import EFFECTS


class UsageError(Exception):
    """A command line that cannot be run as given (exit 2, like argparse's own)."""


def checked_stems(api: Cadenza, values: Sequence[str]) -> list[str]:
    """--stems as given (space- or comma-separated), each a stem some model writes; checked
    before a file is uploaded for nothing. Whether the chosen model writes it, the server
    says."""
    stems = [s.strip() for value in values for s in value.split(",") if s.strip()]
    listed = api.models()
    known = sorted(
        {stem for m in listed.models for stem in m.stems}
        | {stem for m in listed.pullable for stem in m.stems}
    )
    unknown = [s for s in stems if s not in known]
    if unknown:
        looks_like_a_file = any(Path(s).exists() or "/" in s or "." in s for s in unknown)
        raise UsageError(
            f"--stems: {', '.join(map(repr, unknown))} is not a stem ({', '.join(known)})"
            + ("; give FILE before --stems" if looks_like_a_file else "")
        )
    return stems


def parse_chain(chain: str | None, effects: Sequence[str] | None) -> list[dict[str, Any]]:
    """--chain JSON (or @file.json), or --effect TYPE[:name=value,…] repeated."""
    if chain:
        text = Path(chain[1:]).read_text() if chain.startswith("@") else chain
        try:
            parsed = json.loads(text)
        except ValueError as e:
            raise UsageError(f"--chain is not JSON: {e}") from e
        if not isinstance(parsed, list):
            raise UsageError("--chain must be a JSON list of effects")
        return parsed
    if not effects:
        raise UsageError("give --effect TYPE[:param=value,…] (repeatable) or --chain JSON")
    return [parse_effect(spec) for spec in effects]


def parse_effect(spec: str) -> dict[str, Any]:
    """Names are checked here (before a file is uploaded for nothing); values by the server,
    which names any it refuses."""
    kind, _, rest = spec.partition(":")
    effect: dict[str, Any] = {"type": kind.strip()}
    params = EFFECTS.get(effect["type"])
    if params is None:
        raise UsageError(f"--effect {spec}: no effect {effect['type']!r} ({', '.join(EFFECTS)})")
    for pair in filter(None, (p.strip() for p in rest.split(","))):
        name, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--effect {spec}: {pair!r} is not name=value")
        if name.strip() not in params:
            known = ", ".join(params) or "none"
            raise UsageError(f"--effect {spec}: {kind} has no {name.strip()!r} (it has: {known})")
        effect[name.strip()] = _number(value.strip())
    return effect


def _number(value: str) -> Any:
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(value.lower(), value)


def unreadable_input(args: argparse.Namespace) -> str | None:
    """A FILE that cannot be read, said before anything is sent."""
    file = getattr(args, "file", None)
    if not file or file == "-" or getattr(args, "upload", None):
        return None
    path = Path(file)
    if not path.exists():
        return f"{file}: no such file"
    if not path.is_file():
        return f"{file}: not a file"
    if not os.access(path, os.R_OK):
        return f"{file}: not readable (permission denied)"
    return None


def api_problem(e: CadenzaError) -> str:
    """The server's sentence; a field problem it does not already name is added to it."""
    said = [e.detail]
    for problem in e.errors:
        field = f"{problem.get('field')}: {problem.get('message')}"
        if field not in e.detail and str(problem.get("message")) not in e.detail:
            said.append(field)
    return "; ".join(said)
