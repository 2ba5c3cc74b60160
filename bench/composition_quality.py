"""Does the learned engine make music in its sources' styles? Five measurements on the corpus
with its fixed held-out split (`cadenza.composition.learned.dataset`):

1. Held-out negative log-likelihood per note: the shipped model against the Markov baseline
   (an n-gram over the same tokens, its best order) — same pieces, same tokens.
2. A style classifier (`bench.composition_style`, trained on the training split; its
   held-out accuracy reported), then blends of three pieces of one style, 20 seeds per style
   (a new trio each seed): the share classified as that style; mixed trios reported.
3. Voice leading and harmony: parallel fifths/octaves between the outer voices per 100 notes,
   in-key rate, final cadence on the tonic, chord changes per bar, bass leaps — blends
   against their sources.
4. Originality: the longest run copied from the sources and from the corpus, with and
   without rhythm, over every blend.
5. Generation time on this CPU (one thread for torch, as the worker runs).

    .venv/bin/python -m bench.composition_quality [--seeds 20] [--bars 32] [--styles reel …]

Targets: the model's held-out NLL below the Markov baseline's; ≥ 80 % style agreement per
style; parallels in chorale blends ≤ 2× the chorales' own; no run above the limit (8 notes);
a 32-bar four-voice blend in ≤ 3 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from typing import Any

import numpy as np
import torch

from bench.common import save
from bench.composition_ngram import best_ngram
from bench.composition_style import StyleClassifier, corpus_scores
from cadenza.composition.engine.theory import Key
from cadenza.composition.learned import analysis
from cadenza.composition.learned.blend import LearnedSource, compose_learned
from cadenza.composition.learned.corpus_index import CORPUS_FILE
from cadenza.composition.learned.dataset import Dataset
from cadenza.composition.learned.evaluate import model_likelihood
from cadenza.composition.learned.quotes import LIMIT
from cadenza.composition.learned.tokens import STYLES, Note, Score, decode
from cadenza.composition.learned.weights import WEIGHTS_DIR, shipped_composer

STYLE_TRIOS = ("chorale", "reel", "jig", "hornpipe", "folksong")
MIXED_TRIO = ("chorale", "reel", "folksong")


def _source(data: Dataset, index: int) -> LearnedSource:
    score = decode(data.piece(index))
    style = STYLES[int(data.styles[index])]
    score = Score(style, score.meter, score.mode, score.voices, score.notes)
    return LearnedSource(data.sources[index], score, style, "tags", 100.0, Key(0, score.mode))


def _trio(data: Dataset, styles: tuple[str, ...], rng: np.random.Generator) -> list[LearnedSource]:
    chosen = []
    for style in styles:
        pool = np.flatnonzero(data.styles == STYLES.index(style))
        chosen.append(_source(data, int(rng.choice(pool))))
    return chosen


def _outer_parallels(score: Score, bass: list[Note] | None = None) -> tuple[int, int]:
    lines = analysis.voice_lines(score)
    lower = bass if bass is not None else lines[-1]
    if not lower or lower is lines[0]:
        return 0, len(score.notes)
    return analysis.parallel_perfects(lines[0], lower), len(score.notes)


def blend_figures(piece: Any, sources: list[LearnedSource]) -> dict[str, Any]:
    """The blend's measures beside the same measures of its sources (their mean)."""
    score = piece.score
    bass = next((sorted(p.notes) for p in piece.parts if p.role == "bass"), None)
    lowest = bass or analysis.voice_lines(score)[-1]
    parallels, notes = _outer_parallels(score, bass)
    harmonic = score.voices > 1

    def mean(values: Any) -> float:
        return float(statistics.mean(values))

    return {
        "parallels_per_100": 100.0 * parallels / max(notes, 1),
        "in_key": analysis.in_key_rate(score),
        "ends_on_tonic": float(analysis.ends_on_tonic(score)),
        "chord_changes_per_bar": analysis.chord_changes_per_bar(score) if harmonic else None,
        "bass_leaps_per_100": 100.0 * analysis.bass_leaps(lowest) / max(len(lowest), 1),
        "source_parallels_per_100": mean(
            100.0 * p / max(n, 1) for p, n in (_outer_parallels(s.score) for s in sources)
        ),
        "source_in_key": mean(analysis.in_key_rate(s.score) for s in sources),
        "source_ends_on_tonic": mean(float(analysis.ends_on_tonic(s.score)) for s in sources),
        "source_chord_changes_per_bar": (
            mean(analysis.chord_changes_per_bar(s.score) for s in sources) if harmonic else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument(
        "--styles", nargs="+", choices=[*STYLE_TRIOS, "mixed"], default=[*STYLE_TRIOS, "mixed"],
        help="which trios to blend (the targets of the others are left out)",
    )  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Dataset.load(WEIGHTS_DIR / CORPUS_FILE)
    composer = shipped_composer()
    results: dict[str, Any] = {"model_sha256": composer.sha256}

    # 1. Held-out likelihood.
    began = time.monotonic()
    learned = model_likelihood(composer.model, data, data.indices("held_out"))
    order, by_order = best_ngram(data)
    results["nll_per_note"] = {
        "learned": round(learned.per_note, 4),
        "markov": round(by_order[order], 4),
        "markov_order": order,
        "markov_by_order": {str(k): round(v, 4) for k, v in by_order.items()},
        "held_out_pieces": len(data.indices("held_out")),
        "held_out_notes": learned.notes,
    }
    print(f"NLL per note: learned {learned.per_note:.3f}, Markov (order {order}) "
          f"{by_order[order]:.3f}  ({time.monotonic() - began:.0f} s)", flush=True)  # fmt: skip

    # 2. The style classifier.
    train_scores, train_styles = corpus_scores(data, "train", per_style=400, seed=0)
    held_scores, held_styles = corpus_scores(data, "held_out", per_style=None, seed=0)
    classifier = StyleClassifier().fit(train_scores, train_styles)
    predicted = classifier.predict(held_scores)
    accuracy = float(np.mean([p == t for p, t in zip(predicted, held_styles, strict=True)]))
    pairs = list(zip(predicted, held_styles, strict=True))
    per_style_accuracy = {
        s: round(float(np.mean([p == s for p, t in pairs if t == s])), 3)
        for s in STYLES
        if s in held_styles
    }
    results["classifier"] = {
        "held_out_accuracy": round(accuracy, 4),
        "per_style": per_style_accuracy,
    }
    print(f"style classifier held-out accuracy {accuracy:.3f} {per_style_accuracy}", flush=True)

    # 2–5. Blends.
    agreement: dict[str, Any] = {}
    figures: dict[str, list[dict[str, Any]]] = {}
    times: dict[str, list[float]] = {}
    longest = {"with_rhythm": {"sources": 0, "corpus": 0}, "pitches": {"sources": 0, "corpus": 0}}
    blends = 0
    trios = [(style, (style,) * 3) for style in STYLE_TRIOS] + [("mixed", MIXED_TRIO)]
    trios = [(name, styles) for name, styles in trios if name in args.styles]
    for name, styles in trios:
        labels = []
        seeds = args.seeds if name != "mixed" else max(args.seeds // 2, 1)
        for seed in range(seeds):
            sources = _trio(data, styles, np.random.default_rng(1000 * seed + len(name)))
            began = time.perf_counter()
            piece = compose_learned(
                sources, key=Key(0, sources[0].score.mode), tempo_bpm=100.0, bars=args.bars,
                seconds=None, creativity=0.5, seed=seed, ensemble="auto", composer=composer,
            )  # fmt: skip
            times.setdefault(name, []).append(time.perf_counter() - began)
            labels.append(classifier.predict([piece.score])[0])
            figures.setdefault(name, []).append(blend_figures(piece, sources))
            originality = piece.summary["originality"]
            for kind in ("with_rhythm", "pitches"):
                for against in ("sources", "corpus"):
                    found = originality[kind].get(against, {})
                    longest[kind][against] = max(longest[kind][against], int(found.get("notes", 0)))
            blends += 1
        counts = Counter(labels)
        agreement[name] = {
            "classified": dict(counts),
            "share": round(counts.get(name, 0) / len(labels), 3) if name != "mixed" else None,
        }
        print(f"{name}: {dict(counts)}; median {statistics.median(times[name]):.2f} s", flush=True)
    results["style_agreement"] = agreement
    passed = all(v <= LIMIT for runs in longest.values() for v in runs.values())
    results["originality"] = {
        "limit": LIMIT,
        "blends": blends,
        "longest": longest,
        "passed": passed,
    }

    def mean_of(name: str, key: str) -> float | None:
        values = [f[key] for f in figures[name] if f[key] is not None]
        return round(float(statistics.mean(values)), 4) if values else None

    results["measures"] = {
        name: {key: mean_of(name, key) for key in figures[name][0]} for name in figures
    }
    results["seconds_per_blend"] = {
        name: {"median": round(statistics.median(t), 3), "max": round(max(t), 3)}
        for name, t in times.items()
    }
    chorale = results["measures"].get("chorale")
    results["targets"] = {
        "nll_below_markov": learned.per_note < by_order[order],
        "style_agreement_at_least_0.8": {
            n: agreement[n]["share"] >= 0.8 for n in STYLE_TRIOS if n in agreement
        },
        "chorale_parallels_at_most_twice_the_chorales": chorale["parallels_per_100"]
        <= 2 * max(chorale["source_parallels_per_100"], 1e-9) if chorale else None,
        "no_run_above_limit": results["originality"]["passed"],
        "four_voice_32_bars_within_3_s": results["seconds_per_blend"]["chorale"]["median"] <= 3.0
        if chorale else None,
    }  # fmt: skip
    save("composition_quality", results)
    print(results["measures"])
    print(results["targets"])


if __name__ == "__main__":
    main()
