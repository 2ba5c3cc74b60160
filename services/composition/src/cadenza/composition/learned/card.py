"""The model card, written by the training run from the manifest it just saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

LICENCE = """\
The training data is the corpus that ships with music21 (BSD-licensed software) and that the
catalog seeds: Bach's chorales, Palestrina's masses, the Essen folk-song collection and the
O'Neill's 1850, Ryan's Mammoth, Aird's Airs and other ABC fiddle-tune collections. The
compositions are out of copyright; the encodings are distributed with music21 by permission of
their encoders (see `music21/corpus/license.txt`). The Essen encodings are distributed for
**non-commercial** use only (`music21/corpus/essenFolksong/license.txt`): weights trained on
them inherit that restriction: a commercial deployment should retrain without them
(`cadenza-composition train --collections bach palestrina oneills1850 ryansMammoth airdsAirs
miscFolk`)."""

LIMITS = """\
- Symbolic only: four voices at most, one note at a time per voice, on a sixteenth-note grid
  (triplets are rounded to it); dynamics, articulation, tempo changes and lyrics are not
  modelled.
- The styles are the corpus's: chorale, renaissance polyphony, German folk song and the
  Irish/Scottish dance forms. Anything else (pop, jazz, rock) is outside what it learnt; a
  blend of such songs leans on the sources' own notes given as prompts.
- Keys are normalised to C before training, so the model has no sense of absolute key colour;
  modes other than major and minor are read as one of the two.
- Phrase structure beyond the window (384 tokens, about five chorale bars or twelve reel bars)
  comes from the blending plan (repeats, returning sections), not from the model.
- Small (two million weights, an hour of two CPU cores): it writes idiomatic local detail
  and cadences, not long-range development.
- Held-out pieces are whole works, but the corpus has near-duplicates (the same tune in two
  collections, a chorale harmonised twice), so the held-out figure is a little optimistic.
- Reels and hornpipes share their metres (2/2, 2/4) and most of their rhythm in this corpus
  (only one hornpipe in five is written dotted): it tells them apart weakly (their style
  embeddings are each other's nearest). Blends draw with style guidance away from the
  nearest other style (a hornpipe blend away from the reel, a reel blend away from the
  hornpipe), which makes both heard as their style in 17–18 of 20 seeds; over 40 seeds
  hornpipe blends are heard as hornpipes in 31 (78 %), about the judge's own rate for unseen
  hornpipes (docs/benchmarks.md).

## Reproducing
`cadenza-composition train` (seed 17, 2 threads) rebuilds the dataset from the music21 corpus
and retrains; with the same seed, thread count, torch and corpus it writes the same weights
(the tests train a small model twice and compare the bytes). Sampling in the worker runs
each new position through a numpy copy of the forward pass
(`cadenza.composition.learned.decode_step`), equal to torch's to 1e-4 (tested)."""


def write_card(path: Path, manifest: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    config = manifest.get("train_config", {})
    model = manifest.get("model", {})
    held = manifest.get("held_out", {})
    curve = manifest.get("curve", [])
    styles = manifest.get("train_pieces_per_style", {})
    lines = [
        "# Model card: Cadenza's composer",
        "",
        "Written by `cadenza-composition train`; the figures below are that run's. The weights"
        " ship inside the composition package"
        " (`services/composition/src/cadenza/composition/learned/weights/`).",
        "",
        "## What it is",
        f"A decoder-only transformer ({manifest.get('parameters', 0):,} weights: "
        f"{model.get('layers')} layers, width {model.get('width')}, {model.get('heads')} heads,"
        f" a window of {model.get('context')} tokens) over an event encoding of"
        " multi-voice music: a header (style, metre, mode, voices), then per bar its onset"
        " positions and, per note, the voice's pitch and the duration"
        " (`cadenza.composition.learned.tokens`). A blend conditions it on the mean of the"
        " sources' style embeddings and prompts it with the sources' own bars.",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        f"| {manifest.get('file')} | {manifest.get('bytes', 0):,} | `{manifest.get('sha256')}` |",
        "",
        "## Data and licence",
        LICENCE,
        "",
        f"Pieces: {manifest.get('pieces', {}).get('train', 0):,} for training,"
        f" {manifest.get('pieces', {}).get('held_out', 0):,} held out (a fixed 5 % chosen by a"
        f" hash of each work's corpus path, never trained on); {manifest.get('tokens', 0):,}"
        f" tokens in all. Dataset sha256 `{manifest.get('dataset_sha256', '')}`.",
        "",
        "| style | training pieces |",
        "|---|---|",
        *[f"| {style} | {count:,} |" for style, count in styles.items()],
        "",
        "## Training",
        "Deterministic given the seed and the thread count (torch's deterministic algorithms,"
        " one numpy Generator for the batches). Windows start at a bar line and carry their"
        " piece's header; styles are balanced (a style's share grows with the square root of"
        " its tokens). AdamW, linear warm-up then cosine decay to a tenth.",
        "",
        "| hyper-parameter | value |",
        "|---|---|",
        *[f"| {name} | {value} |" for name, value in config.items()],
        "",
        f"Trained in {manifest.get('training_seconds', 0) / 60:.1f} minutes on this CPU.",
        "",
        "### Training curve (loss in nats per token; held-out: the same held-out windows each"
        " time)",
        "",
        "| step | train | held-out | seconds |",
        "|---|---|---|---|",
        *[
            f"| {p['step']} | {p['train_loss']:.4f} | {p['held_out_loss']:.4f} |"
            f" {p['seconds']:.0f} |"
            for p in curve
        ],
        "",
        "## Held-out figures",
        f"On all {held.get('pieces', 0):,} held-out pieces ({held.get('notes', 0):,} notes):"
        f" {held.get('nll_per_note', float('nan')):.3f} nats per note"
        f" ({held.get('nll_per_token', float('nan')):.3f} per token). The comparison with the"
        " Markov engine on the same tokens, the style agreement of blends, voice leading and"
        " originality are in docs/benchmarks.md (`python -m bench.composition_quality`).",
        "",
        "## Known limits",
        LIMITS,
        "",
    ]
    path.write_text("\n".join(lines))
