"""`cadenza-composition train`: the dataset (built once, cached), the training run, the held-out
figures, the weights and their manifest, and the model card."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from cadenza.composition.learned.card import write_card
from cadenza.composition.learned.corpus_index import CORPUS_FILE
from cadenza.composition.learned.dataset import Dataset, pieces_from_corpus
from cadenza.composition.learned.evaluate import model_likelihood
from cadenza.composition.learned.train import TrainConfig, describe_training, train
from cadenza.composition.learned.weights import WEIGHTS_DIR, save_composer, vocabulary_digest

DEFAULT_CARD = Path("docs/composer-model-card.md")


def load_or_build_dataset(
    folder: Path, limit: int | None, collections: list[str] | None, workers: int
) -> Dataset:
    path = folder / "corpus.npz"
    stamp = {"vocabulary_sha256": vocabulary_digest(), "limit": limit, "collections": collections}
    stamp_path = folder / "corpus.stamp.json"
    if path.exists() and stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        return Dataset.load(path)
    began = time.monotonic()
    print(f"building the dataset from the music21 corpus into {folder} …", flush=True)
    data = Dataset.of(list(pieces_from_corpus(limit, collections, workers)))
    data.save(path)
    stamp_path.write_text(json.dumps(stamp))
    print(
        f"{len(data)} pieces, {len(data.tokens):,} tokens in {time.monotonic() - began:.0f} s",
        flush=True,
    )
    return data


def dataset_digest(data: Dataset) -> str:
    digest = hashlib.sha256()
    for array in (data.tokens, data.offsets, data.styles, data.splits):
        digest.update(array.tobytes())
    return digest.hexdigest()


def run_training(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    data = load_or_build_dataset(
        Path(args.data), args.limit, args.collections, max(args.threads, 1)
    )
    config = TrainConfig(seed=args.seed, threads=args.threads)
    if args.steps is not None:
        config = replace(
            config, steps=args.steps, evaluate_every=min(config.evaluate_every, args.steps)
        )
    print(f"training {config} on {len(data.indices('train'))} pieces", flush=True)

    def report(point: dict[str, float]) -> None:
        print(
            f"step {point['step']:>6}  train {point['train_loss']:.4f}"
            f"  held-out {point['held_out_loss']:.4f}  {point['seconds']:.0f} s",
            flush=True,
        )

    result = train(data, config, report)
    held = model_likelihood(result.model, data, data.indices("held_out"))
    about = describe_training(config, result, data)
    about["dataset_sha256"] = dataset_digest(data)
    about["held_out"] = {
        "pieces": len(data.indices("held_out")),
        "notes": held.notes,
        "nll_per_note": round(held.per_note, 4),
        "nll_per_token": round(held.per_token, 4),
    }
    out = Path(args.out) if args.out else WEIGHTS_DIR
    manifest = save_composer(result.model, out, about)
    data.save(out / CORPUS_FILE)  # the memorisation check's corpus ships beside the weights
    card = Path(args.card) if args.card else DEFAULT_CARD
    write_card(card, manifest)
    print(
        f"held-out NLL {held.per_note:.3f} nats per note; weights {out} "
        f"({manifest['bytes']:,} bytes, sha256 {manifest['sha256'][:16]}…); card {card}",
        flush=True,
    )
    return 0
