"""`cadenza-composition`: run the composition worker, or train the composer.

cadenza-composition                       the worker (blend commands)
cadenza-composition train [--seed 17] [--steps 2000] [--data DIR] [--out DIR]
                          [--collections bach ryansMammoth …]
                                          build the corpus dataset (cached in DIR) and
                                          train the learned model; writes composer.pt,
                                          composer.json and the model card
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cadenza-composition", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("worker", help="run the worker (the default)")
    training = sub.add_parser("train", help="train the learned model on the music21 corpus")
    training.add_argument("--seed", type=int, default=17)
    training.add_argument("--steps", type=int, default=None, help="optimiser steps")
    training.add_argument(
        "--threads", type=int, default=2, help="torch threads (results depend on it)"
    )
    training.add_argument("--data", default="var/composer-data", help="the dataset's cache folder")
    training.add_argument(
        "--out", default=None, help="where the weights go (default: the package's)"
    )
    training.add_argument("--card", default=None, help="where the model card goes (default: docs/)")
    training.add_argument("--limit", type=int, default=None, help="corpus works (default: all)")
    training.add_argument(
        "--collections", nargs="+", default=None,
        help="music21 corpus collections (default: all the catalog seeds)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "train":
        from cadenza.composition.learned.cli import run_training

        sys.exit(run_training(args))
    from cadenza.composition.app import install
    from cadenza.composition.settings import Settings
    from cadenza.runtime.service import run_worker

    run_worker(Settings(), "composition", install)


if __name__ == "__main__":
    main()
