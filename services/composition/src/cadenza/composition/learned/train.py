"""Training the composer: windows of the corpus's tokens, style-balanced, next-token loss.

Deterministic given the seed and the thread count: the batches come from one numpy
Generator, torch's initial weights and dropout from `torch.manual_seed`, and torch is held to
its deterministic algorithms. Each window starts at a bar line and is preceded by its piece's
header, so the model always knows the style, metre, mode and number of voices it writes in.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from cadenza.composition.learned.dataset import Dataset
from cadenza.composition.learned.model import Composer, ModelConfig
from cadenza.composition.learned.tokens import BAR, HEADER_LENGTH, PAD, STYLES, token_id, vocabulary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 17
    steps: int = 2000
    batch: int = 16
    learning_rate: float = 2e-3
    warmup: int = 150
    weight_decay: float = 0.05
    context: int = 384
    width: int = 192
    layers: int = 4
    heads: int = 6
    dropout: float = 0.1
    evaluate_every: int = 250
    threads: int = 2


@dataclass
class TrainResult:
    model: Composer
    curve: list[dict[str, float]]  # step, train loss, held-out loss per token
    seconds: float


class WindowSampler:
    """Training windows: a piece drawn with its style balanced against the others (each
    style's share grows with the square root of its tokens), a bar line drawn in it."""

    def __init__(self, data: Dataset, pieces: np.ndarray, context: int, seed: int) -> None:
        self.data, self.pieces, self.context = data, pieces, context
        self.rng = np.random.default_rng(seed)
        lengths = (data.offsets[pieces + 1] - data.offsets[pieces]).astype(np.float64)
        styles = data.styles[pieces]
        weights = np.zeros(len(pieces))
        for style in np.unique(styles):
            chosen = styles == style
            share = math.sqrt(lengths[chosen].sum())
            weights[chosen] = share * lengths[chosen] / lengths[chosen].sum()
        self.weights = weights / weights.sum()
        self.bar = token_id(BAR)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.full((size, self.context + 1), token_id(PAD), dtype=np.int64)
        for row, i in enumerate(self.rng.choice(self.pieces, size=size, p=self.weights)):
            piece = self.data.piece(int(i)).astype(np.int64)
            head, body = piece[:HEADER_LENGTH], piece[HEADER_LENGTH:]
            room = self.context + 1 - HEADER_LENGTH
            starts = np.flatnonzero(body[: max(len(body) - room // 4, 1)] == self.bar)
            start = int(self.rng.choice(starts)) if len(starts) else 0
            window = np.concatenate([head, body[start : start + room]])
            rows[row, : len(window)] = window
        batch = torch.from_numpy(rows)
        return batch[:, :-1], batch[:, 1:]


def loss_of(model: Composer, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss over the body tokens (the header is given, never predicted)."""
    logits = model(inputs)
    targets = targets.clone()
    targets[:, : HEADER_LENGTH - 1] = token_id(PAD)
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=token_id(PAD)
    )


def train(
    data: Dataset,
    config: TrainConfig,
    on_progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train a model; torch's thread count and determinism are set for the run and put back
    after it."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(data, config, on_progress)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(
    data: Dataset,
    config: TrainConfig,
    on_progress: Callable[[dict[str, float]], None] | None,
) -> TrainResult:
    torch.manual_seed(config.seed)
    model = Composer(
        ModelConfig(
            vocabulary=len(vocabulary()), context=config.context, width=config.width,
            layers=config.layers, heads=config.heads, dropout=config.dropout,
        )
    )  # fmt: skip
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(0.9, 0.98),
    )  # fmt: skip
    sampler = WindowSampler(data, data.indices("train"), config.context, config.seed)
    held_out = WindowSampler(data, data.indices("held_out"), config.context, config.seed + 1)
    probe = [held_out.batch(config.batch) for _ in range(4)]  # the same windows every time
    curve: list[dict[str, float]] = []
    began = time.monotonic()
    running = 0.0
    for step in range(1, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = _learning_rate(step, config)
        model.train()
        loss = loss_of(model, *sampler.batch(config.batch))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        running = loss.item() if step == 1 else 0.98 * running + 0.02 * loss.item()
        if step % config.evaluate_every == 0 or step == config.steps:
            model.eval()
            with torch.no_grad():
                held = float(np.mean([loss_of(model, x, y).item() for x, y in probe]))
            point = {
                "step": step,
                "train_loss": round(running, 4),
                "held_out_loss": round(held, 4),
                "seconds": round(time.monotonic() - began, 1),
            }
            curve.append(point)
            if on_progress:
                on_progress(point)
    model.eval()
    return TrainResult(model, curve, time.monotonic() - began)


def _learning_rate(step: int, config: TrainConfig) -> float:
    if step <= config.warmup:
        return config.learning_rate * step / config.warmup
    progress = (step - config.warmup) / max(config.steps - config.warmup, 1)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def describe_training(config: TrainConfig, result: TrainResult, data: Dataset) -> dict[str, object]:
    """What the model card and the weights' manifest say about the run."""
    train_pieces, held_pieces = data.indices("train"), data.indices("held_out")
    per_style = {
        style: int(np.sum(data.styles[train_pieces] == i)) for i, style in enumerate(STYLES)
    }
    return {
        "train_config": asdict(config),
        "parameters": result.model.parameter_count(),
        "training_seconds": round(result.seconds, 1),
        "curve": result.curve,
        "pieces": {"train": len(train_pieces), "held_out": len(held_pieces)},
        "tokens": len(data.tokens),
        "train_pieces_per_style": per_style,
    }


def save_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")
