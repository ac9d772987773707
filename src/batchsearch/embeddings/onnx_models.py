"""The cache of built ONNX encoder files: build once, verify against the numpy encoder, reuse.

A model file is named after a key over everything it is made from (graph version, the weights'
sha256, the precision recipe), so a new model package or graph never reuses a stale file. Beside
it a manifest records the file's sha256 and the cosine it reached at verification; the file is
used only when its sha256 still matches, otherwise it is rebuilt and verified again. Files are
written to a temporary name and renamed, under a lock, so concurrent processes never read half a file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from batchsearch.embeddings.minilm import MiniLMEmbedder
from batchsearch.embeddings.model_files import WEIGHTS_FILE, load_tensors, model_file

log = logging.getLogger(__name__)

ONNX_INSTALL_HINT = "pip install 'batchsearch[onnx]'"
_PREFIX = "minilm"


class ModelParityError(RuntimeError):
    """A built ONNX model does not reproduce the numpy reference encoder."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one precision is made: fp32 as built, or int8 by dynamic quantisation of the fp32 file."""

    name: str
    min_cosine: float  # the least cosine to the numpy encoder over PROBE_TEXTS
    is_quantized: bool = False
    matmul_weights_only: bool = True  # never quantize activation x activation products (attention)
    fp32_layers: tuple[int, ...] = ()  # transformer layers whose dense products stay in fp32


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe("fp32", min_cosine=0.9999),
        # int8 matmul weights (per output channel), activations quantized per batch; attention stays fp32.
        Recipe("int8", min_cosine=0.95, is_quantized=True),
        # onnxruntime's defaults: every MatMul (attention's too) and the embedding Gather in int8.
        Recipe("int8-all", min_cosine=0.95, is_quantized=True, matmul_weights_only=False),
        # like int8, but the first and the last layer keep fp32 weights.
        Recipe("int8-keep-ends", min_cosine=0.95, is_quantized=True, fp32_layers=(0, 5)),
        # one end only (bench/encoder_quality.py compares them; none beat int8 by more than the noise).
        Recipe("int8-keep-first", min_cosine=0.95, is_quantized=True, fp32_layers=(0,)),
        Recipe("int8-keep-last", min_cosine=0.95, is_quantized=True, fp32_layers=(5,)),
    )
}

# Verification texts: short, long enough to be truncated at 256 tokens, empty, non-English.
PROBE_TEXTS = (
    "rates",
    "Microsoft reports record cloud revenue in fiscal third quarter",
    "",
    "Émission d'obligations vertes pour financer la transition énergétique",
    "The central bank left its policy rate unchanged and signalled patience on future cuts.",
    "Oil prices jumped after a pipeline outage in the Gulf of Mexico cut supply. " * 30,
)

# Files this process built or checked, by name (the name holds the cache key): a second data folder
# gets a hard link to one of them instead of a rebuild (many short-lived data folders in tests).
_verified: dict[str, Path] = {}


def ensure_model(cache_dir: Path, model_dir: Path, precision: str = "fp32") -> Path:
    """Path of a verified model file for `precision`, building it on first use."""
    recipe = _recipe(precision)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{_PREFIX}-{recipe.name}-{_cache_key(model_dir, recipe)}.onnx"
    with FileLock(str(path.with_suffix(".lock"))):
        if not _is_intact(path) and not _link_verified(path):
            source = ensure_model(cache_dir, model_dir, "fp32") if recipe.is_quantized else None
            _build(path, model_dir, recipe, source)
    _verified[path.name] = path
    return path


def _link_verified(path: Path) -> bool:
    """Give `path` the bytes of an intact file of the same key verified earlier; False if there is none."""
    source = _verified.get(path.name)
    if source is None or source == path or not _is_intact(source):
        return False
    for src, dst in ((source, path), (_manifest_path(source), _manifest_path(path))):
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:  # another file system
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    return True


def _recipe(precision: str) -> Recipe:
    """The recipe of a precision name, or ValueError listing the known ones."""
    try:
        return RECIPES[precision]
    except KeyError:
        raise ValueError(f"unknown precision {precision!r}; known: {', '.join(RECIPES)}") from None


def _cache_key(model_dir: Path, recipe: Recipe) -> str:
    """Short hash over the graph version, the weights and the recipe (and the quantizer's version)."""
    from batchsearch.embeddings.onnx_graph import GRAPH_VERSION

    parts: dict[str, object] = {
        "graph": GRAPH_VERSION,
        "weights": _weights_sha256(model_file(model_dir, WEIGHTS_FILE)),
        "recipe": [recipe.name, recipe.matmul_weights_only, list(recipe.fp32_layers)],
    }
    if recipe.is_quantized:
        import onnxruntime

        parts["onnxruntime"] = onnxruntime.__version__
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _weights_sha256(path: Path) -> str:
    """sha256 of the weights file, hashed once per process while its size and mtime stay the same."""
    stat = path.stat()
    return _sha256_of_version(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _sha256_of_version(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of one version of a file (size and mtime are part of the cache key)."""
    return _sha256(path)


def _is_intact(path: Path) -> bool:
    """Whether the file and its manifest exist and the file's sha256 is the one recorded at build."""
    manifest_path = _manifest_path(path)
    if not path.is_file() or not manifest_path.is_file():
        return False
    try:
        recorded = json.loads(manifest_path.read_text(encoding="utf-8"))["sha256"]
    except (ValueError, KeyError, TypeError):
        recorded = None
    if recorded == _sha256(path):
        return True
    log.warning("cached encoder %s does not match its manifest (damaged or half written): rebuilding", path)
    return False


def _build(path: Path, model_dir: Path, recipe: Recipe, source: Path | None) -> None:
    """Write the model file, verify it, then publish it and its manifest (never an unverified file)."""
    log.info("building the %s ONNX encoder %s (once; it is reused afterwards)", recipe.name, path.name)
    _manifest_path(path).unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if source is None:
            _write_fp32(tmp, model_dir)
        else:
            _write_quantized(tmp, source, recipe)
        min_cosine = verify_model(tmp, model_dir, recipe)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {"file": path.name, "sha256": _sha256(path), "precision": recipe.name,
                "min_cosine_vs_numpy": round(min_cosine, 7), "probe_texts": len(PROBE_TEXTS)}
    _write_atomic(_manifest_path(path), json.dumps(manifest, indent=2).encode())


def _write_fp32(target: Path, model_dir: Path) -> None:
    """Write the fp32 graph built from the safetensors weights."""
    import onnx

    from batchsearch.embeddings.onnx_graph import build_model

    onnx.save(build_model(load_tensors(model_dir)), str(target))


def _write_quantized(target: Path, source: Path, recipe: Recipe) -> None:
    """Write int8 dynamic quantisation (per-channel int8 weights) of the fp32 file."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from batchsearch.embeddings.onnx_graph import DENSE_NODES

    op_types = ["MatMul"] if recipe.matmul_weights_only else None
    excluded = [f"layer{i}/{node}" for i in recipe.fp32_layers for node in DENSE_NODES]
    quantize_dynamic(
        source, target, per_channel=True, weight_type=QuantType.QInt8,
        op_types_to_quantize=op_types, nodes_to_exclude=excluded,
        # shape inference cannot type the outputs of onnxruntime's own operators (MultiHeadAttention): they are float
        extra_options={"MatMulConstBOnly": recipe.matmul_weights_only, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def verify_model(path: Path, model_dir: Path, recipe: Recipe) -> float:
    """Least cosine between this file's and the numpy encoder's vectors; ModelParityError below the bar."""
    from batchsearch.embeddings.onnx_encoder import OnnxEmbedder

    numpy_encoder = MiniLMEmbedder(model_dir=model_dir)
    # One text at a time for the reference (no padding); the candidate gets one padded batch (its attention
    # masks the padding) and every text alone (long ones run without a mask): both must match.
    reference = np.vstack([numpy_encoder.embed([text]) for text in PROBE_TEXTS])
    candidate = OnnxEmbedder(path, model_dir=model_dir, threads=None)
    batched = _cosines(candidate.embed(PROBE_TEXTS), reference)
    alone = _cosines(np.vstack([candidate.embed([text]) for text in PROBE_TEXTS]), reference)
    cosines = np.minimum(batched, alone)
    worst = float(cosines.min()) if np.isfinite(cosines).all() else float("nan")
    if not worst >= recipe.min_cosine:
        detail = ", ".join(f"{text[:30]!r}: {c:.6f}" for text, c in zip(PROBE_TEXTS, cosines))
        raise ModelParityError(
            f"the {recipe.name} ONNX encoder built at {path} does not reproduce the numpy encoder "
            f"(least cosine {worst:.6f} < {recipe.min_cosine}; {detail}); it was not cached"
        )
    return worst


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity in float64."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    sims: np.ndarray = (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))
    return sims


def _manifest_path(path: Path) -> Path:
    """The manifest beside a model file."""
    return path.with_suffix(".json")


def _sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Flush a file's bytes to disk before it is renamed into place."""
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a small file through a temporary name and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    _fsync(tmp)
    os.replace(tmp, path)

