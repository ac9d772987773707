"""all-MiniLM-L6-v2 sentence embeddings as a numpy BERT forward pass (no torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from batchsearch.embeddings.batching import embed_bucketed
from batchsearch.embeddings.model_files import load_tensors, load_tokenizer, packaged_model_dir

EMBEDDING_DIM = 384
_LAYERS = 6
_HEADS = 12
_HEAD_DIM = EMBEDDING_DIM // _HEADS
_MAX_POSITIONS = 512
_LN_EPS = np.float32(1e-12)
_NORM_EPS = np.float32(1e-12)

# Abramowitz-Stegun 7.1.26: erfc(z) ~ poly(t) * exp(-z^2), t = 1 / (1 + P z), |err| < 1.5e-7.
_AS_P = 0.3275911
_AS_COEFFS = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_SQRT_HALF = np.float32(math.sqrt(0.5))
# GELU's tail |x| * erfc(z) / 2 with |x| = sqrt(2) z: fold sqrt(2) / 2 into the coefficients.
_TAIL_COEFFS = tuple(np.float32(c * math.sqrt(0.5)) for c in _AS_COEFFS)
# Beyond z = 9 the tail is < 1e-35 (invisible next to x); clipping keeps exp() out of denormals.
_Z_CLIP = np.float32(9.0)
_GELU_BLOCK_ROWS = 64
# With every |score| below this, exp() can neither overflow (summed over 512 keys) nor reach
# denormals, so softmax may skip subtracting the row maximum (it is shift-invariant).
_EXP_SAFE = 80.0


@dataclass(frozen=True, slots=True)
class _Layer:
    """One transformer layer's weights, pre-transposed to (in, out) and C-contiguous."""

    qkv_w: np.ndarray
    qkv_b: np.ndarray
    attn_out_w: np.ndarray
    attn_out_b: np.ndarray
    attn_ln_g: np.ndarray
    attn_ln_b: np.ndarray
    ffn_in_w: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    ffn_ln_g: np.ndarray
    ffn_ln_b: np.ndarray


@dataclass(frozen=True, slots=True)
class _Weights:
    """The whole model: embedding tables and six layers, read-only after loading."""

    word_emb: np.ndarray
    pos_type_emb: np.ndarray
    emb_ln_g: np.ndarray
    emb_ln_b: np.ndarray
    layers: tuple[_Layer, ...]


class MiniLMEmbedder:
    """Sentence embeddings from all-MiniLM-L6-v2 (mean pooling, unit length), numpy only."""

    def __init__(
        self,
        model_dir: Path | None = None,
        max_tokens: int = 256,
        batch_tokens: int = 4096,
    ) -> None:
        if not 2 < max_tokens <= _MAX_POSITIONS:
            raise ValueError(f"max_tokens must be in 3..{_MAX_POSITIONS}, got {max_tokens}")
        if batch_tokens < 1:
            raise ValueError(f"batch_tokens must be positive, got {batch_tokens}")
        folder = model_dir if model_dir is not None else packaged_model_dir()
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self._tokenizer = load_tokenizer(folder, max_tokens)
        self._counter = load_tokenizer(folder, None)
        self._weights = _load_weights(load_tensors(folder))

    @property
    def dim(self) -> int:
        """Length of every embedding vector (384)."""
        return EMBEDDING_DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 (len(texts), 384) array of unit rows, in input order."""
        return embed_bucketed(self._tokenizer, texts, EMBEDDING_DIM, self.batch_tokens, self._encode)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Wordpiece tokens per text, without [CLS]/[SEP] and without truncation."""
        if isinstance(texts, str):
            raise TypeError("count_tokens() takes a sequence of texts, not a single str")
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]

    def _encode(self, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Unit-length sentence vectors for one padded micro-batch."""
        batch, seq = ids.shape
        x = _embed_tokens(self._weights, ids)
        bias = _key_padding_bias(lengths, seq)
        for layer in self._weights.layers:
            x = _attention_block(x, layer, batch, seq, bias)
            x = _feed_forward_block(x, layer)
        return _normalise(_mean_pool(x.reshape(batch, seq, EMBEDDING_DIM), lengths))


def _load_weights(tensors: dict[str, np.ndarray]) -> _Weights:
    """Embedding tables plus the per-layer fused, transposed weights."""
    # token_type_ids are always 0, so the segment embedding folds into the positions.
    segment_0 = tensors["embeddings.token_type_embeddings.weight"][0]
    return _Weights(
        word_emb=_f32(tensors["embeddings.word_embeddings.weight"]),
        pos_type_emb=_f32(tensors["embeddings.position_embeddings.weight"] + segment_0),
        emb_ln_g=_f32(tensors["embeddings.LayerNorm.weight"]),
        emb_ln_b=_f32(tensors["embeddings.LayerNorm.bias"]),
        layers=tuple(_load_layer(tensors, f"encoder.layer.{i}.") for i in range(_LAYERS)),
    )


def _load_layer(tensors: dict[str, np.ndarray], prefix: str) -> _Layer:
    """Fuse Q, K, V into one (384, 1152) matmul and transpose every dense weight."""
    attn = prefix + "attention."
    # The 1/sqrt(head_dim) score scale is folded into the query projection.
    scales = (np.float32(1.0 / math.sqrt(_HEAD_DIM)), np.float32(1.0), np.float32(1.0))
    names = [f"{attn}self.{part}" for part in ("query", "key", "value")]
    qkv_w = np.concatenate([tensors[f"{n}.weight"] * c for n, c in zip(names, scales)])
    qkv_b = np.concatenate([tensors[f"{n}.bias"] * c for n, c in zip(names, scales)])
    return _Layer(
        qkv_w=_f32(qkv_w.T),
        qkv_b=_f32(qkv_b),
        attn_out_w=_f32(tensors[attn + "output.dense.weight"].T),
        attn_out_b=_f32(tensors[attn + "output.dense.bias"]),
        attn_ln_g=_f32(tensors[attn + "output.LayerNorm.weight"]),
        attn_ln_b=_f32(tensors[attn + "output.LayerNorm.bias"]),
        ffn_in_w=_f32(tensors[prefix + "intermediate.dense.weight"].T),
        ffn_in_b=_f32(tensors[prefix + "intermediate.dense.bias"]),
        ffn_out_w=_f32(tensors[prefix + "output.dense.weight"].T),
        ffn_out_b=_f32(tensors[prefix + "output.dense.bias"]),
        ffn_ln_g=_f32(tensors[prefix + "output.LayerNorm.weight"]),
        ffn_ln_b=_f32(tensors[prefix + "output.LayerNorm.bias"]),
    )


def _f32(array: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy."""
    return np.array(array, dtype=np.float32, order="C")


def _embed_tokens(weights: _Weights, ids: np.ndarray) -> np.ndarray:
    """Word + position + segment embeddings, layer-normed, as (batch*seq, 384)."""
    x = np.take(weights.word_emb, ids, axis=0)
    x += weights.pos_type_emb[: ids.shape[1]]
    x = x.reshape(-1, EMBEDDING_DIM)
    _layer_norm_(x, weights.emb_ln_g, weights.emb_ln_b)
    return x


def _key_padding_bias(lengths: np.ndarray, seq: int) -> np.ndarray | None:
    """Additive (batch, 1, 1, seq) mask hiding padded keys, or None without padding."""
    if bool((lengths == seq).all()):
        return None
    is_pad = np.arange(seq) >= lengths[:, None]
    bias = np.where(is_pad, np.float32(-1e30), np.float32(0.0)).astype(np.float32)
    return bias[:, None, None, :]


def _attention_block(
    x: np.ndarray, layer: _Layer, batch: int, seq: int, bias: np.ndarray | None
) -> np.ndarray:
    """Multi-head self-attention, residual and layer norm over (batch*seq, 384) states."""
    qkv = x @ layer.qkv_w
    qkv += layer.qkv_b
    weights, row_sums = _attention_weights(qkv, batch, seq, bias)
    # A strided (batch, heads, seq, head_dim) view of V: matmul hands it to BLAS without a copy.
    v = qkv.reshape(batch, seq, 3, _HEADS, _HEAD_DIM)[:, :, 2].transpose(0, 2, 1, 3)
    context = np.empty((batch, seq, _HEADS, _HEAD_DIM), dtype=np.float32)
    np.matmul(weights, v, out=context.transpose(0, 2, 1, 3))
    # Normalising after the matmul touches seq*head_dim values instead of seq*seq.
    context /= row_sums.transpose(0, 2, 1)[..., None]
    out: np.ndarray = context.reshape(batch * seq, EMBEDDING_DIM) @ layer.attn_out_w
    out += layer.attn_out_b
    out += x
    _layer_norm_(out, layer.attn_ln_g, layer.attn_ln_b)
    return out


def _attention_weights(
    qkv: np.ndarray, batch: int, seq: int, bias: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised softmax weights exp(q.k + bias - shift) (batch, heads, seq, seq), row sums."""
    heads = qkv.reshape(batch, seq, 3, _HEADS, _HEAD_DIM)
    q = heads[:, :, 0].transpose(0, 2, 1, 3)
    k = heads[:, :, 1].transpose(0, 2, 1, 3)
    scores = np.matmul(q, k.swapaxes(-1, -2))
    if bias is not None:
        scores += bias
    if _score_bound(qkv) >= _EXP_SAFE:
        scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    return scores, np.einsum("bhst->bhs", scores)


def _score_bound(qkv: np.ndarray) -> float:
    """Upper bound on |q.k| over all query/key pairs (Cauchy-Schwarz on the largest norms)."""
    qk = qkv[:, : 2 * EMBEDDING_DIM].reshape(-1, 2 * _HEADS, _HEAD_DIM)
    squared_norms = np.einsum("nhd,nhd->nh", qk, qk)
    q_max, k_max = squared_norms[:, :_HEADS].max(), squared_norms[:, _HEADS:].max()
    return math.sqrt(float(q_max) * float(k_max))


def _feed_forward_block(x: np.ndarray, layer: _Layer) -> np.ndarray:
    """GELU feed-forward, residual and layer norm over (tokens, 384) states."""
    hidden = x @ layer.ffn_in_w
    for start in range(0, hidden.shape[0], _GELU_BLOCK_ROWS):
        # Row blocks keep GELU's many elementwise passes inside the CPU cache.
        block = hidden[start : start + _GELU_BLOCK_ROWS]
        block += layer.ffn_in_b
        _gelu_(block)
    out: np.ndarray = hidden @ layer.ffn_out_w
    out += layer.ffn_out_b
    out += x
    _layer_norm_(out, layer.ffn_ln_g, layer.ffn_ln_b)
    return out


def _gelu_(x: np.ndarray) -> None:
    """Exact (erf) GELU in place: x * Phi(x) = relu(x) - |x| * erfc(|x| / sqrt 2) / 2."""
    z = np.abs(x)
    z *= _SQRT_HALF
    np.minimum(z, _Z_CLIP, out=z)
    t = z * np.float32(_AS_P)
    t += 1.0
    np.reciprocal(t, out=t)
    tail = t * _TAIL_COEFFS[4]
    for coeff in reversed(_TAIL_COEFFS[:4]):
        tail += coeff
        tail *= t
    np.square(z, out=t)
    np.negative(t, out=t)
    np.exp(t, out=t)
    tail *= t
    tail *= z
    np.maximum(x, 0.0, out=x)
    x -= tail


def _layer_norm_(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> None:
    """Layer norm over the last axis of a (rows, 384) array, in place."""
    x -= x.mean(axis=1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)
    var *= np.float32(1.0 / x.shape[1])
    var += _LN_EPS
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= gamma
    x += beta


def _mean_pool(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Average of the real (unpadded) token states: (batch, seq, 384) -> (batch, 384)."""
    mask = (np.arange(x.shape[1]) < lengths[:, None]).astype(np.float32)
    pooled: np.ndarray = np.matmul(mask[:, None, :], x)[:, 0, :]
    pooled /= lengths[:, None].astype(np.float32)
    return pooled


def _normalise(x: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm, in place."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    np.maximum(norms, _NORM_EPS, out=norms)
    x /= norms[:, None]
    return x
