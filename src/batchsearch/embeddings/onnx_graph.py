"""The all-MiniLM-L6-v2 sentence encoder as an ONNX graph, written from the safetensors weights.

It computes what the numpy encoder computes (minilm.py): word + position embeddings (segment 0
folded into the positions), six post-norm BERT layers whose self-attention is one fused Q/K/V
weight product and onnxruntime's `MultiHeadAttention` node (com.microsoft: scaled, masked softmax
and context in one kernel), exact erf GELU, mean pooling over the real tokens and L2
normalisation. Inputs are `input_ids` and `attention_mask` (int64, batch x seq, right padded); the
output is `embeddings` (float32, batch x 384, unit rows). Node names carry the layer
(`layer3/ffn_in`), so quantisation can keep chosen nodes in fp32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization; ReduceL2 still takes its axes as an attribute
CONTRIB_DOMAIN = "com.microsoft"  # onnxruntime's fused transformer operators
GRAPH_VERSION = 2  # bump when the graph changes: it is part of the cache key
HIDDEN = 384
LAYERS = 6
HEADS = 12
HEAD_DIM = HIDDEN // HEADS
DENSE_NODES = ("qkv", "attn_out", "ffn_in", "ffn_out")  # the weight products of a layer, by node name
_LN_EPS = 1e-12
_NORM_EPS = 1e-12


class _GraphBuilder:
    """Collects nodes and initializers; every helper returns the name of its output."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, array: np.ndarray) -> str:
        """Add an initializer and return its name."""
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str, **attrs: Any) -> str:
        """Add one node with a single output named after the node."""
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    def dense(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ weight + bias, with weight given as (in, out)."""
        w = self.const(f"{name}.weight", _f32(weight))
        b = self.const(f"{name}.bias", _f32(bias))
        return self.op("Add", [self.op("MatMul", [x, w], name), b], f"{name}/bias")

    def layer_norm(self, x: str, gamma: np.ndarray, beta: np.ndarray, name: str) -> str:
        """Layer norm over the hidden axis."""
        g = self.const(f"{name}.weight", _f32(gamma))
        b = self.const(f"{name}.bias", _f32(beta))
        return self.op("LayerNormalization", [x, g, b], name, axis=-1, epsilon=_LN_EPS)


def build_model(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The fp32 encoder graph over these safetensors weights, checked by onnx.checker."""
    g = _GraphBuilder()
    x = _embeddings(g, tensors)
    key_mask, mask = _masks(g)
    for i in range(LAYERS):
        x = _layer(g, tensors, f"encoder.layer.{i}.", f"layer{i}", x, key_mask)
    _pool_and_normalise(g, x, mask)
    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", HIDDEN])],
        g.initializers,
    )
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(CONTRIB_DOMAIN, 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="batchsearch")
    model.ir_version = 8  # readable by every onnxruntime the onnx extra allows
    onnx.checker.check_model(model)
    return model


def without_key_mask(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose attention nodes take no key mask, for batches without padding: onnxruntime runs its
    flash attention kernel (tiled, no score matrix in memory) only when no mask is given. Pooling still
    reads `attention_mask`, so the inputs stay the same."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in copy.graph.node:
        if node.op_type == "MultiHeadAttention" and node.domain == CONTRIB_DOMAIN:
            del node.input[4:]
    return copy


def _embeddings(g: _GraphBuilder, t: dict[str, np.ndarray]) -> str:
    """Word + position (+ segment 0) embeddings, layer-normed: (batch, seq, 384)."""
    word_table = g.const("embeddings.word", _f32(t["embeddings.word_embeddings.weight"]))
    positions = t["embeddings.position_embeddings.weight"] + t["embeddings.token_type_embeddings.weight"][0]
    pos_table = g.const("embeddings.position", _f32(positions))
    words = g.op("Gather", [word_table, "input_ids"], "embeddings/words", axis=0)
    seq = g.op("Shape", ["input_ids"], "embeddings/seq", start=1, end=2)
    zero = g.const("embeddings/zero", np.array([0], dtype=np.int64))
    pos = g.op("Slice", [pos_table, zero, seq, zero], "embeddings/positions")
    summed = g.op("Add", [words, pos], "embeddings/sum")
    return g.layer_norm(summed, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], "embeddings/norm")


def _masks(g: _GraphBuilder) -> tuple[str, str]:
    """The int32 (batch, seq) key mask the Attention nodes take and the float one pooling weighs by."""
    key_mask = g.op("Cast", ["attention_mask"], "mask/int32", to=TensorProto.INT32)
    return key_mask, g.op("Cast", ["attention_mask"], "mask/float", to=TensorProto.FLOAT)


def _layer(g: _GraphBuilder, t: dict[str, np.ndarray], prefix: str, name: str, x: str, key_mask: str) -> str:
    """One post-norm transformer layer: attention block, then GELU feed-forward block."""
    attn = prefix + "attention."
    context = _self_attention(g, t, attn + "self.", name, x, key_mask)
    out = g.dense(context, t[attn + "output.dense.weight"].T, t[attn + "output.dense.bias"], f"{name}/attn_out")
    out = g.op("Add", [out, x], f"{name}/attn_residual")
    x = g.layer_norm(out, t[attn + "output.LayerNorm.weight"], t[attn + "output.LayerNorm.bias"], f"{name}/attn_norm")
    hidden = g.dense(x, t[prefix + "intermediate.dense.weight"].T, t[prefix + "intermediate.dense.bias"],
                     f"{name}/ffn_in")
    hidden = _gelu(g, hidden, f"{name}/gelu")
    out = g.dense(hidden, t[prefix + "output.dense.weight"].T, t[prefix + "output.dense.bias"], f"{name}/ffn_out")
    out = g.op("Add", [out, x], f"{name}/ffn_residual")
    return g.layer_norm(out, t[prefix + "output.LayerNorm.weight"], t[prefix + "output.LayerNorm.bias"],
                        f"{name}/ffn_norm")


def _self_attention(g: _GraphBuilder, t: dict[str, np.ndarray], prefix: str, name: str, x: str, mask: str) -> str:
    """Multi-head self-attention: one Q/K/V weight product, then onnxruntime's MultiHeadAttention node
    (masked softmax and context in one kernel): (batch, seq, 384)."""
    parts = ("query", "key", "value")
    qkv_w = np.concatenate([t[f"{prefix}{p}.weight"] for p in parts]).T
    qkv_b = np.concatenate([t[f"{prefix}{p}.bias"] for p in parts])
    qkv = g.dense(x, qkv_w, qkv_b, f"{name}/qkv")
    split = g.const(f"{name}/split", np.array([HIDDEN] * 3, dtype=np.int64))
    q, k, v = (f"{name}/{p}" for p in ("q", "k", "v"))
    g.nodes.append(helper.make_node("Split", [qkv, split], [q, k, v], name=f"{name}/split_qkv", axis=-1))
    out = f"{name}/attention"
    g.nodes.append(helper.make_node("MultiHeadAttention", [q, k, v, "", mask], [out], name=out,
                                    domain=CONTRIB_DOMAIN, num_heads=HEADS))
    return out


def _gelu(g: _GraphBuilder, x: str, name: str) -> str:
    """Exact GELU x * (1 + erf(x / sqrt 2)) / 2 (onnxruntime fuses this pattern into one kernel)."""
    sqrt2 = g.const(f"{name}/sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = g.const(f"{name}/one", np.array(1.0, dtype=np.float32))
    half = g.const(f"{name}/half", np.array(0.5, dtype=np.float32))
    erf = g.op("Erf", [g.op("Div", [x, sqrt2], f"{name}/scaled")], f"{name}/erf")
    phi = g.op("Add", [erf, one], f"{name}/phi")
    return g.op("Mul", [g.op("Mul", [x, phi], f"{name}/x_phi"), half], f"{name}/out")


def _pool_and_normalise(g: _GraphBuilder, x: str, mask: str) -> str:
    """Mean of the real token states, scaled to unit length: the `embeddings` output."""
    axis1 = g.const("pool/axis1", np.array([1], dtype=np.int64))
    weights = g.op("Unsqueeze", [mask, axis1], "pool/mask3d")
    summed = g.op("Squeeze", [g.op("MatMul", [weights, x], "pool/sum"), axis1], "pool/sum2d")
    count = g.op("ReduceSum", [mask, axis1], "pool/count", keepdims=1)
    mean = g.op("Div", [summed, count], "pool/mean")
    norm = g.op("ReduceL2", [mean], "norm/l2", axes=[1], keepdims=1)
    eps = g.const("norm/eps", np.array(_NORM_EPS, dtype=np.float32))
    safe = g.op("Max", [norm, eps], "norm/safe")
    return g.op("Div", [mean, safe], "embeddings")


def _f32(array: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy."""
    return np.array(array, dtype=np.float32, order="C")
