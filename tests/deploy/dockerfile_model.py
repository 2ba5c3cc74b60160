"""The one Dockerfile as each service's build sees it: build arguments substituted, the stage
that `FROM service-${SERVICE}` picks, and the chain of stages the image inherits from.

Docker's own rules, as far as the checks need them: a global ARG (before the first FROM) is
usable in FROM lines; a stage sees an ARG only after it declares it, with the build's value
when one is given, else the declared default; ENV accumulates along the chain of stages.
"""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
EXPANDED = {"ADD", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}


def expand(text: str, values: dict[str, str]) -> str:
    """${NAME} and $NAME replaced; an unknown name is an error (a build argument nobody set)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"{name} is used in {text!r} but not declared there")
        return values[name]

    return VARIABLE.sub(value, text)


@dataclass
class Stage:
    base: str  # an image, or the name of an earlier stage
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (INSTRUCTION, value)


@cache
def instructions() -> tuple[tuple[str, str], ...]:
    """(instruction, value) pairs, continuation lines joined, comments dropped."""
    parser = DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))
    return tuple(
        (i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"
    )


def global_args() -> dict[str, str | None]:
    declared: dict[str, str | None] = {}
    for instruction, value in instructions():
        if instruction == "FROM":
            break
        if instruction == "ARG":
            name, sep, default = value.partition("=")
            declared[name] = default if sep else None
    return declared


def stages(build_args: dict[str, str]) -> list[Stage]:
    """Every stage, its FROM resolved with the global arguments, its other lines expanded with
    what the stage has declared."""
    top = {k: build_args.get(k, v) for k, v in global_args().items()}
    known = {k: v for k, v in top.items() if v is not None}
    result: list[Stage] = []
    scope: dict[str, str] = {}
    env: dict[str, str] = {}
    for instruction, value in instructions():
        if instruction == "FROM":
            words = value.split()
            base = expand(words[0], known)
            name = words[2] if len(words) == 3 and words[1].lower() == "as" else None
            result.append(Stage(base, name))
            parent = next((s for s in result[:-1] if s.name == base), None)
            env = dict(stage_env(parent, result)) if parent else {}
            scope = {}
            continue
        if not result:
            continue  # the global ARGs
        if instruction == "ARG":
            name, sep, default = value.partition("=")
            given = build_args.get(name, top.get(name) if name in top else None)
            resolved = given if given is not None else (default if sep else "")
            scope[name] = resolved
            result[-1].instructions.append((instruction, value))
            continue
        # Docker substitutes variables in these; RUN, CMD and HEALTHCHECK are the shell's.
        expanded = value
        if instruction in EXPANDED:
            expanded = expand(value, {**env, **scope} | {"PATH": "$PATH"})
        if instruction == "ENV":
            env.update(parse_env(expanded))
        result[-1].instructions.append((instruction, expanded))
    return result


def parse_env(value: str) -> dict[str, str]:
    pairs = shlex.split(value.replace("\\\n", " "))
    return dict(pair.split("=", 1) for pair in pairs)


def stage_env(stage: Stage, all_stages: list[Stage]) -> dict[str, str]:
    parent = next((s for s in all_stages if s.name == stage.base and s is not stage), None)
    env = stage_env(parent, all_stages) if parent else {}
    for instruction, value in stage.instructions:
        if instruction == "ENV":
            env.update(parse_env(value))
    return env


@dataclass(frozen=True)
class Image:
    """One service's build: its stages, and the chain the image inherits, base first."""

    service: str
    stages: list[Stage]
    chain: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def builder(self) -> Stage:
        return self.stage("builder")

    @property
    def final(self) -> list[tuple[str, str]]:
        """The image's own instructions, in order, along the chain."""
        return [pair for stage in self.chain for pair in stage.instructions]

    @property
    def env(self) -> dict[str, str]:
        return stage_env(self.chain[-1], self.stages)

    @property
    def base_image(self) -> str:
        return self.chain[0].base


def image(service: str, **build_args: str) -> Image:
    every = stages({"SERVICE": service, **build_args})
    chain = [every[-1]]
    while (parent := next((s for s in every if s.name == chain[0].base), None)) is not None:
        chain.insert(0, parent)
    return Image(service, every, chain)
