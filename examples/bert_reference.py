"""A plain numpy (float64) BERT encoder with mean pooling and L2 normalization: the reference that the
exported ONNX graph is checked against. Written from the BERT paper's equations, not from the graph."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf

from examples.minilm import BertConfig


def layer_norm(x: NDArray[Any], weight: NDArray[Any], bias: NDArray[Any], eps: float) -> NDArray[Any]:
    """Normalize over the last axis, then scale and shift."""
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias


def sentence_embeddings(
    weights: dict[str, NDArray[Any]], config: BertConfig, feeds: dict[str, NDArray[Any]]
) -> NDArray[np.float64]:
    """Normalized mean-pooled last hidden states [N, hidden] for token feeds of one padded batch."""
    w = {name: value.astype(np.float64) for name, value in weights.items()}
    ids, mask, types = feeds["input_ids"], feeds["attention_mask"].astype(np.float64), feeds["token_type_ids"]
    length = ids.shape[1]
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:length]
        + w["embeddings.token_type_embeddings.weight"][types]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], config.eps)
    head_dim = config.hidden // config.heads
    bias = (1.0 - mask)[:, None, None, :] * -10000.0

    def dense(h: NDArray[Any], prefix: str) -> NDArray[Any]:
        return h @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]

    def heads(h: NDArray[Any]) -> NDArray[Any]:
        return h.reshape(h.shape[0], length, config.heads, head_dim).transpose(0, 2, 1, 3)

    for index in range(config.layers):
        p = f"encoder.layer.{index}"
        q, k, v = (heads(dense(x, f"{p}.attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        context = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(x.shape)
        attended = dense(context, f"{p}.attention.output.dense") + x
        x1 = layer_norm(
            attended,
            w[f"{p}.attention.output.LayerNorm.weight"],
            w[f"{p}.attention.output.LayerNorm.bias"],
            config.eps,
        )
        inner = dense(x1, f"{p}.intermediate.dense")
        gelu = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))
        x = layer_norm(
            dense(gelu, f"{p}.output.dense") + x1,
            w[f"{p}.output.LayerNorm.weight"],
            w[f"{p}.output.LayerNorm.bias"],
            config.eps,
        )
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
