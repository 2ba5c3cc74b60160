"""One decoding step of the composer in numpy, for sampling on a CPU.

Why a second forward pass: drawing a piece is a few thousand steps of one position each, for
two or three rows, and at that size torch's matrix products (MKL, tuned for large matrices)
cost three times what numpy's do, and its per-operation overhead as much again. This step
reads the same weights and the same key/value buffers as `Composer` (the cache's tensors and
these arrays share memory), so a prompt is run by torch and each new position here; a test
holds the two to the same logits.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from cadenza.composition.learned.model import Block, Composer, KVCache

EPSILON = 1e-5  # nn.LayerNorm's


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().numpy())


class DecodeStep:
    def __init__(self, model: Composer) -> None:
        config = model.config
        self.heads = config.heads
        self.width = config.width
        self.scale = np.float32((config.width // config.heads) ** -0.5)
        self.embed = _array(model.embed.weight)
        self.position = _array(model.position.weight)
        self.head = np.ascontiguousarray(self.embed.T)
        self.final = (_array(model.norm.weight), _array(model.norm.bias))
        self.blocks = []
        for block in model.blocks:
            assert isinstance(block, Block)
            up, down = block.mlp[0], block.mlp[2]
            assert isinstance(up, nn.Linear) and isinstance(down, nn.Linear)
            self.blocks.append(
                {
                    "norm1": (_array(block.norm1.weight), _array(block.norm1.bias)),
                    "qkv": _linear(block.qkv),
                    "out": _linear(block.out),
                    "norm2": (_array(block.norm2.weight), _array(block.norm2.bias)),
                    "up": _linear(up),
                    "down": _linear(down),
                }
            )

    def __call__(self, tokens: np.ndarray, position: int, cache: KVCache) -> np.ndarray:
        """Logits (rows, vocabulary) after one new token per row at `position`, whose keys
        and values are written into `cache`."""
        x = self.embed[tokens] + self.position[position]
        rows = x.shape[0]
        for layer, block in enumerate(self.blocks):
            keys, values = cache.keys[layer].numpy(), cache.values[layer].numpy()
            h = _norm(x, *block["norm1"])
            qkv = h @ block["qkv"][0] + block["qkv"][1]
            q, k, v = qkv.reshape(rows, 3, self.heads, -1).transpose(1, 0, 2, 3)
            keys[:, :, position] = k
            values[:, :, position] = v
            seen_k, seen_v = keys[:, :, : position + 1], values[:, :, : position + 1]
            scores = np.matmul(seen_k, q[:, :, :, None])[..., 0] * self.scale  # (rows, heads, n)
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            attended = np.matmul(weights[:, :, None, :], seen_v)[:, :, 0].reshape(rows, -1)
            x = x + attended @ block["out"][0] + block["out"][1]
            h = _norm(x, *block["norm2"])
            up = h @ block["up"][0] + block["up"][1]
            up = F.gelu(torch.from_numpy(up)).numpy()  # exact GELU, as the model's
            x = x + up @ block["down"][0] + block["down"][1]
        logits: np.ndarray = _norm(x, *self.final) @ self.head
        return logits


def _linear(layer: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """Its weight transposed (x @ w) and its bias."""
    return np.ascontiguousarray(_array(layer.weight).T), _array(layer.bias)


def _norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # np.add.reduce rather than .mean(): a few microseconds less, nine times a step.
    share = np.float32(1.0 / x.shape[-1])
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * share
    variance = np.add.reduce(centred * centred, axis=-1, keepdims=True) * share
    normed: np.ndarray = centred / np.sqrt(variance + EPSILON) * gain + bias
    return normed
