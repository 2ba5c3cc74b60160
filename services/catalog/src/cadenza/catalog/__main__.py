"""`python -m cadenza.catalog`: run the catalog worker."""

from __future__ import annotations

from cadenza.catalog.app import install
from cadenza.catalog.settings import Settings
from cadenza.runtime.service import run_worker


def main() -> None:
    run_worker(Settings(), "catalog", install)


if __name__ == "__main__":
    main()
