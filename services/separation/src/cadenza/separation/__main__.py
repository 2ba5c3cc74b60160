"""`cadenza-separation`: run the separation worker."""

from __future__ import annotations

from cadenza.runtime.service import run_worker
from cadenza.separation.app import install
from cadenza.separation.settings import Settings


def main() -> None:
    run_worker(Settings(), "separation", install)


if __name__ == "__main__":
    main()
