"""Text in, token tensors out: a model folder's `tokenizer.json` (Hugging Face tokenizers) in front of
a transformer graph that takes input_ids, attention_mask and token_type_ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from serving.model_folder import TOKENIZER_FILE

TEXT_INPUT = "text"  # the one column a client sends to a model with a tokenizer
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
PAD_TOKENS = ("[PAD]", "<pad>")


class TokenizerError(Exception):
    """The tokenizer or the graph's token inputs cannot be served; the message says how to fix it."""


@dataclass(frozen=True)
class TokenInput:
    """A graph input the tokenizer fills: its name, integer dtype and fixed sequence length (or None)."""

    name: str
    dtype: np.dtype[Any]
    length: int | None


class TextEncoder:
    """Tokenizes a batch of strings into the graph's token inputs, padded and truncated to one length."""

    def __init__(self, tokenizer: Tokenizer, inputs: list[TokenInput], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.inputs = inputs
        self.max_length = max_length
        fixed = next((i.length for i in inputs if i.length is not None), None)
        pad_id, pad_token = padding_token(tokenizer)
        tokenizer.enable_truncation(max_length)
        # A graph with a free sequence dimension gets each batch padded to its longest row only.
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token, length=fixed)

    def encode(self, texts: Sequence[str] | np.ndarray) -> dict[str, np.ndarray]:
        """The graph's feeds for a batch of strings."""
        encodings = self.tokenizer.encode_batch(list(texts))
        fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {
            spec.name: np.asarray([getattr(e, fields[spec.name]) for e in encodings], dtype=spec.dtype)
            for spec in self.inputs
        }

    def describe(self) -> dict[str, Any]:
        """The /metadata entry: the file, the graph inputs it fills, the length it truncates to."""
        return {
            "file": TOKENIZER_FILE,
            "inputs": [i.name for i in self.inputs],
            "max_length": self.max_length,
        }


def padding_token(tokenizer: Tokenizer) -> tuple[int, str]:
    """The pad id and token: tokenizer.json's padding settings, else its [PAD] or <pad> token."""
    if tokenizer.padding is not None:
        return int(tokenizer.padding["pad_id"]), str(tokenizer.padding["pad_token"])
    for token in PAD_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id, token
    raise TokenizerError(
        f"{TOKENIZER_FILE} has no padding settings and no {' or '.join(PAD_TOKENS)} token; "
        "save the tokenizer with padding enabled"
    )


def token_inputs(graph_inputs: Sequence[tuple[str, np.dtype[Any] | None, Any]]) -> list[TokenInput]:
    """The graph's inputs as token inputs: each must be one of TOKEN_INPUTS, integer, [batch, sequence]."""
    names = [name for name, _, _ in graph_inputs]
    if "input_ids" not in names:
        raise TokenizerError(
            f"the model folder has a {TOKENIZER_FILE}, but the graph takes {', '.join(names)}, "
            "not input_ids; "
            f"export the transformer with inputs named {', '.join(TOKEN_INPUTS)} or remove {TOKENIZER_FILE}"
        )
    found = []
    for name, dtype, shape in graph_inputs:
        if name not in TOKEN_INPUTS:
            raise TokenizerError(
                f"graph input '{name}' is not one a tokenizer fills ({', '.join(TOKEN_INPUTS)}); "
                f"a model with a {TOKENIZER_FILE} takes text only"
            )
        if dtype is None or dtype.kind != "i" or shape is None or len(shape) != 2:
            raise TokenizerError(f"graph input '{name}' must be an int64 or int32 tensor [batch, sequence]")
        found.append(TokenInput(name, dtype, shape[1]))
    lengths = {i.length for i in found if i.length is not None}
    if len(lengths) > 1:
        raise TokenizerError(f"the token inputs have different fixed sequence lengths {sorted(lengths)}")
    return found


def max_length(configured: Any, graph_length: int | None, tokenizer: Tokenizer, where: Path) -> int:
    """Truncation length: modelship.json "tokenizer.max_length", else the graph's, else tokenizer.json's."""
    if configured is not None:
        if type(configured) is not int or configured < 2:
            raise TokenizerError(f'{where}: "tokenizer.max_length" must be an integer of at least 2')
        if graph_length is not None and configured > graph_length:
            raise TokenizerError(
                f'{where}: "tokenizer.max_length" is {configured}, but the graph takes {graph_length} tokens'
            )
        return configured
    if graph_length is not None:
        return graph_length
    if tokenizer.truncation is not None:
        return int(tokenizer.truncation["max_length"])
    raise TokenizerError(
        f'neither the graph, {TOKENIZER_FILE} nor {where} sets a maximum length; add "tokenizer": '
        '{"max_length": N} to modelship.json (the model\'s max_position_embeddings at most)'
    )


def load_text_encoder(
    model_dir: Path,
    graph_inputs: Sequence[tuple[str, np.dtype[Any] | None, Any]],
    config: dict[str, Any],
    where: Path,
) -> TextEncoder | None:
    """The folder's text encoder, or None when it has no tokenizer.json."""
    path = model_dir / TOKENIZER_FILE
    if not path.is_file():
        return None
    settings = config.get("tokenizer", {})
    if not isinstance(settings, dict):
        raise TokenizerError(f'{where}: "tokenizer" must be an object such as {{"max_length": 256}}')
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises a bare Exception for unreadable files
        raise TokenizerError(
            f"{path} is not a Hugging Face tokenizer ({exc}); save it with tokenizer.save()"
        ) from None
    inputs = token_inputs(graph_inputs)
    length = max_length(settings.get("max_length"), inputs[0].length, tokenizer, where)
    return TextEncoder(tokenizer, inputs, length)
