"""Classifier post-processing of a graph output, as a modelship.json field asks for it (pure):
"softmax" (class probabilities), "argmax" (class index, or its name from "labels"), "score" (the top
class's probability)."""

from __future__ import annotations

from typing import Any

import numpy as np

STEPS = ("softmax", "argmax", "score")


def check(step: Any, labels: Any) -> str | None:
    """Why a field's "postprocess" and "labels" cannot be used (None when they can)."""
    if step is not None and step not in STEPS:
        return f'"postprocess" is {step!r}; use one of {", ".join(STEPS)}'
    if labels is not None:
        if step != "argmax":
            return '"labels" names the classes of "postprocess": "argmax" only'
        if not isinstance(labels, list) or not labels or not all(isinstance(n, str) for n in labels):
            return '"labels" must be a non-empty list of class names (strings), in class-index order'
    return None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis, computed stably in float64."""
    shifted = logits.astype(np.float64) - np.max(logits, axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / np.sum(exp, axis=-1, keepdims=True)


def apply(value: Any, step: str, labels: tuple[str, ...] | None) -> np.ndarray:
    """The post-processed output: one row per batch row."""
    if not isinstance(value, np.ndarray) or value.ndim < 2 or value.dtype.kind != "f":
        shape = list(value.shape) if isinstance(value, np.ndarray) else type(value).__name__
        raise ValueError(f'"postprocess": "{step}" needs float scores of shape [batch, classes], got {shape}')
    if step == "softmax":
        return softmax(value)
    if step == "score":
        return np.max(softmax(value), axis=-1)
    index = np.argmax(value, axis=-1)
    if labels is None:
        return index
    if value.shape[-1] != len(labels):
        raise ValueError(f'the output has {value.shape[-1]} classes but "labels" names {len(labels)}')
    return np.asarray(labels, dtype=object)[index]


def schema(step: str, labels: tuple[str, ...] | None) -> dict[str, Any]:
    """The JSON Schema of one row's post-processed value."""
    if step == "softmax":
        return {"type": "array", "items": {"type": "number"}}
    if step == "score":
        return {"type": "number"}
    return {"type": "string", "enum": list(labels)} if labels else {"type": "integer"}
