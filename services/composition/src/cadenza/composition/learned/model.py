"""The learned model: a small decoder-only transformer over the event tokens.

Written here rather than taken from a library because it is forty lines of standard torch
(pre-norm blocks, `scaled_dot_product_attention`) and the two things it needs beyond a
textbook GPT are ours: a key/value cache for fast sampling on a CPU, and a blend of style
embeddings at the style position (a mix of several sources' styles is one point between
theirs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812 (torch's own convention)

STYLE_POSITION = 1  # BOS, then STYLE


@dataclass(frozen=True)
class ModelConfig:
    vocabulary: int
    context: int = 512
    width: int = 192
    layers: int = 4
    heads: int = 6
    dropout: float = 0.1

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


class KVCache:
    """Keys and values of the positions seen so far, per layer, in buffers as long as the
    window (batch, heads, context, head width): a new position is written in place, never
    copied with the old ones."""

    def __init__(self, config: ModelConfig, batch: int) -> None:
        shape = (batch, config.heads, config.context, config.width // config.heads)
        self.keys = [torch.zeros(shape) for _ in range(config.layers)]
        self.values = [torch.zeros(shape) for _ in range(config.layers)]


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.norm1 = nn.LayerNorm(config.width)
        self.qkv = nn.Linear(config.width, 3 * config.width)
        self.out = nn.Linear(config.width, config.width)
        self.norm2 = nn.LayerNorm(config.width)
        self.mlp = nn.Sequential(
            nn.Linear(config.width, 4 * config.width),
            nn.GELU(),
            nn.Linear(4 * config.width, config.width),
        )
        self.dropout = config.dropout
        self.scale = (config.width // config.heads) ** -0.5

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None, start: int) -> Tensor:
        batch, time, width = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(batch, time, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        )
        if cache is not None:
            keys, values = cache
            keys[:, :, start : start + time] = k
            values[:, :, start : start + time] = v
            k, v = keys[:, :, : start + time], values[:, :, : start + time]
        drop = self.dropout if self.training else 0.0
        # Causal within the new positions; every cached position is in the past of all of them.
        if start == 0:
            attended = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        elif time == 1:  # one new position: plain matrix products beat the fused kernel here
            weights = torch.softmax((q @ k.transpose(-1, -2)) * self.scale, dim=-1)
            attended = weights @ v
        else:
            mask = torch.ones(time, start + time, dtype=torch.bool).tril(diagonal=start)
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        attended = attended.transpose(1, 2).reshape(batch, time, width)
        if self.training:
            x = x + F.dropout(self.out(attended), drop)
            x = x + F.dropout(self.mlp(self.norm2(x)), drop)
        else:
            x = x + self.out(attended)
            x = x + self.mlp(self.norm2(x))
        return x


class Composer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocabulary, config.width)
        self.position = nn.Embedding(config.context, config.width)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, config.vocabulary, bias=False)
        self.head.weight = self.embed.weight  # tied: fewer weights to ship
        self.apply(self._initialise)
        for name, p in self.named_parameters():  # GPT-2's scaled residual projections
            if name.endswith(("out.weight", "mlp.2.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.layers))

    @staticmethod
    def _initialise(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(
        self,
        tokens: Tensor,
        *,
        style_mix: Tensor | None = None,
        cache: KVCache | None = None,
        start: int = 0,
    ) -> Tensor:
        """Logits for the next token at each position of `tokens` (batch, time), which
        continue the `start` positions already in `cache` (and are written into it).
        `style_mix` (batch, vocabulary weights over the STYLE tokens) replaces the embedding
        at the style position."""
        x = self.embed(tokens)
        if style_mix is not None and start <= STYLE_POSITION < start + tokens.shape[1]:
            mixed = style_mix.to(x.dtype) @ self.embed.weight
            x = x.clone()
            x[:, STYLE_POSITION - start] = mixed
        positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
        x = x + self.position(positions)
        for i, block in enumerate(self.blocks):
            x = block(x, (cache.keys[i], cache.values[i]) if cache else None, start)
        logits: Tensor = self.head(self.norm(x))
        return logits

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
