"""Print the torch version uv.lock pins for a package, if the package needs torch at all.

The Dockerfile runs it (the base image's Python, no dependencies) to decide whether an image
gets torch, in the build TORCH_VARIANT names, from PyTorch's index: uv.lock's torch is the CPU
build from a local folder a Docker build does not have, so the syncs leave it out.

    python3 locked_torch.py uv.lock cadenza-separation          -> 2.13.0
    python3 locked_torch.py uv.lock cadenza-render               -> (nothing: no torch)
    python3 locked_torch.py uv.lock cadenza-render --all-extras  -> 2.13.0 (its `gpu` extra)

Extras are followed for the package itself (as `uv sync --all-extras` installs them) and, for
its dependencies, where a dependency asks for one (`uvicorn[standard]`).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any


def locked_torch(lock: dict[str, Any], package: str, *, all_extras: bool = False) -> str | None:
    packages = {p["name"]: p for p in lock["package"]}
    if package not in packages:
        raise SystemExit(f"uv.lock has no package {package!r}")
    root = packages[package]
    wanted = list(root.get("dependencies", []))
    if all_extras:
        for deps in root.get("optional-dependencies", {}).values():
            wanted += deps
    seen: set[tuple[str, str]] = set()
    while wanted:
        dep = wanted.pop()
        for extra in ["", *dep.get("extra", [])]:
            if (dep["name"], extra) in seen:
                continue
            seen.add((dep["name"], extra))
            entry = packages.get(dep["name"], {})
            more = entry.get("optional-dependencies", {}).get(extra, []) if extra else None
            wanted += more if more is not None else entry.get("dependencies", [])
    if ("torch", "") not in seen:
        return None
    version: str = packages["torch"]["version"]
    return version.split("+")[0]


def main() -> None:
    lock_path, package, *flags = sys.argv[1:]
    lock = tomllib.loads(Path(lock_path).read_text(encoding="utf-8"))
    version = locked_torch(lock, package, all_extras="--all-extras" in flags)
    if version:
        print(version)


if __name__ == "__main__":
    main()
