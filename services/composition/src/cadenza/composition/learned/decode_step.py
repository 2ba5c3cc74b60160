"""One decoding step of the composer in numpy, for sampling on a CPU.

Why a second forward pass: drawing a piece is a few thousand steps of one position each, for
two or three rows, and at that size torch's matrix products (MKL, tuned for large matrices)
cost three times what numpy's do, and its per-operation overhead as much again. This step
reads the same weights and the same key/value buffers as `Composer` (the cache's tensors and
these arrays share memory), so a prompt is run by torch and each new position here; a test
holds the two to the same logits. Each layer norm's gain and bias are folded into the
linear layer that reads it (x·g + b, then @ W + c, is x @ (g·W) + (b @ W + c)): two fewer
passes over the activations per norm, nine norms a step.
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
        head = (np.ascontiguousarray(self.embed.T), np.zeros(len(self.embed), np.float32))
        self.head = _folded(model.norm, head)
        self.blocks = []
        for block in model.blocks:
            assert isinstance(block, Block)
            up, down = block.mlp[0], block.mlp[2]
            assert isinstance(up, nn.Linear) and isinstance(down, nn.Linear)
            self.blocks.append(
                {
                    "qkv": _folded(block.norm1, _linear(block.qkv)),
                    "out": _linear(block.out),
                    "up": _folded(block.norm2, _linear(up)),
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
            qkv = _affine(_standardised(x), block["qkv"])
            q, k, v = qkv.reshape(rows, 3, self.heads, -1).transpose(1, 0, 2, 3)
            keys[:, :, position] = k
            values[:, :, position] = v
            seen_k, seen_v = keys[:, :, : position + 1], values[:, :, : position + 1]
            weights = np.matmul(seen_k, q[:, :, :, None])[..., 0]  # (rows, heads, n)
            weights *= self.scale
            weights -= weights.max(axis=-1, keepdims=True)
            np.exp(weights, out=weights)
            weights /= weights.sum(axis=-1, keepdims=True)
            attended = np.matmul(weights[:, :, None, :], seen_v)[:, :, 0].reshape(rows, -1)
            x = x + _affine(attended, block["out"])
            up = _affine(_standardised(x), block["up"])
            up = F.gelu(torch.from_numpy(up)).numpy()  # exact GELU, as the model's
            x += _affine(up, block["down"])
        logits: np.ndarray = _affine(_standardised(x), self.head)
        return logits


def _linear(layer: nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    """Its weight transposed (x @ w) and its bias."""
    return np.ascontiguousarray(_array(layer.weight).T), _array(layer.bias)


def _folded(
    norm: nn.LayerNorm, linear: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """`linear` (x @ w + c) applied after `norm`'s gain and bias, as one affine map."""
    gain, bias = _array(norm.weight), _array(norm.bias)
    weight, offset = linear
    return np.ascontiguousarray(gain[:, None] * weight), (offset + bias @ weight).astype(np.float32)


def _affine(x: np.ndarray, layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    y: np.ndarray = x @ layer[0]
    y += layer[1]
    return y


def _standardised(x: np.ndarray) -> np.ndarray:
    """Layer norm without its gain and bias (folded into the next layer). np.add.reduce
    rather than .mean(): a few microseconds less, nine times a step."""
    share = np.float32(1.0 / x.shape[-1])
    centred = x - np.add.reduce(x, axis=-1, keepdims=True) * share
    variance = np.add.reduce(centred * centred, axis=-1, keepdims=True) * share
    centred /= np.sqrt(variance + EPSILON)
    return centred
