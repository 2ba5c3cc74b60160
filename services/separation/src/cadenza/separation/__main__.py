"""`cadenza-separation`: run the separation worker; `cadenza-separation models …`: list and
fetch known models (`model_cli`)."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) > 1:
        from cadenza.separation.model_cli import main as models_main

        sys.exit(models_main(sys.argv[1:]))
    # Imported here: the worker loads torch, which the model commands do not need.
    from cadenza.runtime.service import run_worker
    from cadenza.separation.app import install
    from cadenza.separation.settings import Settings

    run_worker(Settings(), "separation", install)


if __name__ == "__main__":
    main()
