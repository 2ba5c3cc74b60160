"""`cadenza-effects`: run the effects worker."""

from __future__ import annotations

from cadenza.effects.app import install
from cadenza.effects.settings import Settings
from cadenza.runtime.service import run_worker


def main() -> None:
    run_worker(Settings(), "effects", install)


if __name__ == "__main__":
    main()
