"""all-MiniLM-L6-v2 sentence embeddings run by ONNX Runtime (CPU, or CUDA with onnxruntime-gpu)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from batchsearch.embeddings.batching import embed_bucketed
from batchsearch.embeddings.model_files import load_tokenizer, packaged_model_dir
from batchsearch.embeddings.minilm import EMBEDDING_DIM
from batchsearch.embeddings.onnx_models import ONNX_INSTALL_HINT, RECIPES, ensure_model

Provider = Literal["cpu", "cuda"]
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
# fp32: batches of rows this long or longer, none padded, run on a second session whose attention takes no
# key mask (onnxruntime's flash attention kernel: about 1.2x the chunks/s at 256 tokens); shorter ones gain
# nothing, so an fp32 process that only embeds queries never loads it.
UNPADDED_MIN_TOKENS = 64
_QUANTIZED_OPS = {"DynamicQuantizeMatMul", "MatMulInteger", "DynamicQuantizeLinear", "QAttention"}


class ProviderUnavailableError(RuntimeError):
    """The requested execution provider (CUDA) cannot run here."""


class OnnxEmbedder:
    """Sentence embeddings from a built MiniLM ONNX file (mean pooling, unit length).

    A quantized (int8) model embeds every text in a run of its own: its activations are quantized over
    the whole run, so in a batch a text's vector would depend on its neighbours (an ingest on two actors
    would differ from one on a single process, and a batch line from the same search made alone). Alone,
    no row is padded, so it always runs on the session without a key mask; on 2 cores that is as fast as
    batches of 16 for 256-token chunks.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        model_dir: Path | None = None,
        max_tokens: int = 256,
        batch_tokens: int = 4096,
        threads: int | None = None,
        provider: Provider = "cpu",
        quantized: bool | None = None,
    ) -> None:
        if not 2 < max_tokens <= 512:
            raise ValueError(f"max_tokens must be in 3..512, got {max_tokens}")
        if batch_tokens < 1:
            raise ValueError(f"batch_tokens must be positive, got {batch_tokens}")
        folder = model_dir if model_dir is not None else packaged_model_dir()
        self.max_tokens = max_tokens
        self.batch_tokens = batch_tokens
        self.model_path = model_path
        self._tokenizer = load_tokenizer(folder, max_tokens)
        self._counter = load_tokenizer(folder, None)
        self._threads = threads
        self._provider = provider
        # `quantized`: whether the file holds int8 products (None: read the file to find out).
        self.one_text_per_run = _is_quantized(model_path) if quantized is None else quantized
        self._lock = threading.Lock()
        self._masked: Any = None if self.one_text_per_run else _session(str(model_path), threads, provider)
        self._unpadded: Any = None  # the int8 encoder's only session; fp32's on first use
        if self.one_text_per_run:
            self._unpadded_session()

    @classmethod
    def from_cache(
        cls,
        cache_dir: Path,
        *,
        precision: str = "fp32",
        threads: int | None = None,
        provider: Provider = "cpu",
    ) -> OnnxEmbedder:
        """The encoder of `precision` from cache_dir, built and verified there on first use."""
        folder = packaged_model_dir()
        path = ensure_model(cache_dir, folder, precision)
        quantized = RECIPES[precision].is_quantized
        return cls(path, model_dir=folder, threads=threads, provider=provider, quantized=quantized)

    @property
    def dim(self) -> int:
        """Length of every embedding vector (384)."""
        return EMBEDDING_DIM

    @property
    def providers(self) -> list[str]:
        """The execution providers the session runs on, preferred first."""
        names: list[str] = (self._masked or self._unpadded).get_providers()
        return names

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a float32 (len(texts), 384) array of unit rows, in input order."""
        if self.one_text_per_run:
            return embed_bucketed(self._tokenizer, texts, EMBEDDING_DIM, 1, self._run)
        unpadded_from = UNPADDED_MIN_TOKENS if self._provider == "cpu" else None
        return embed_bucketed(self._tokenizer, texts, EMBEDDING_DIM, self.batch_tokens, self._run, unpadded_from)

    def _run(self, batch_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The session's embeddings of one padded batch."""
        seq = batch_ids.shape[1]
        mask = (np.arange(seq) < lengths[:, None]).astype(np.int64)
        session = self._masked
        if self.one_text_per_run or (self._provider == "cpu" and seq >= UNPADDED_MIN_TOKENS
                                     and bool((lengths == seq).all())):
            session = self._unpadded_session()
        result: np.ndarray = session.run(["embeddings"], {"input_ids": batch_ids, "attention_mask": mask})[0]
        return result

    def _unpadded_session(self) -> Any:
        """The session for batches without padding (the same model, its attention without a key mask)."""
        with self._lock:
            if self._unpadded is None:
                import onnx

                from batchsearch.embeddings.onnx_graph import without_key_mask

                model = without_key_mask(onnx.load(str(self.model_path)))
                self._unpadded = _session(model.SerializeToString(), self._threads, self._provider)
            return self._unpadded

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Wordpiece tokens per text, without [CLS]/[SEP] and without truncation."""
        if isinstance(texts, str):
            raise TypeError("count_tokens() takes a sequence of texts, not a single str")
        encodings = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(encoding.ids) for encoding in encodings]


def _is_quantized(model_path: Path) -> bool:
    """Whether the model file computes with int8 products (what quantize_dynamic writes)."""
    import onnx

    return any(node.op_type in _QUANTIZED_OPS for node in onnx.load(str(model_path)).graph.node)


def _session(model: str | bytes, threads: int | None, provider: Provider) -> Any:
    """An inference session on the requested provider; ProviderUnavailableError if it cannot run."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(f"the ONNX encoder needs onnxruntime; install it with `{ONNX_INSTALL_HINT}`") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: one per core
    options.inter_op_num_threads = 1
    if provider == "cpu":
        return onnxruntime.InferenceSession(model, options, providers=[_CPU])
    if _CUDA not in onnxruntime.get_available_providers():
        raise ProviderUnavailableError(
            f"embed_provider=cuda needs onnxruntime-gpu (pip install onnxruntime-gpu instead of onnxruntime); "
            f"this onnxruntime offers {onnxruntime.get_available_providers()}"
        )
    session = onnxruntime.InferenceSession(model, options, providers=[_CUDA, _CPU])
    if session.get_providers()[0] != _CUDA:  # onnxruntime falls back to CPU quietly when no GPU works
        raise ProviderUnavailableError("embed_provider=cuda, but onnxruntime found no usable CUDA GPU")
    return session
