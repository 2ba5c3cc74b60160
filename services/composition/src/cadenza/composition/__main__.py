"""`cadenza-composition`: run the composition worker (blend commands)."""

from __future__ import annotations

from cadenza.composition.app import install
from cadenza.composition.settings import Settings
from cadenza.runtime.service import run_worker


def main() -> None:
    run_worker(Settings(), "composition", install)


if __name__ == "__main__":
    main()
