"""`cadenza-render`: run the render worker (render, mix and master commands)."""

from __future__ import annotations

from cadenza.render.app import install
from cadenza.render.settings import Settings
from cadenza.runtime.service import run_worker


def main() -> None:
    run_worker(Settings(), "render", install)


if __name__ == "__main__":
    main()
