"""Chooses and builds the sentence encoder that the settings ask for."""

from __future__ import annotations

from batchsearch.config import Settings
from batchsearch.embeddings.minilm import MiniLMEmbedder
from batchsearch.embeddings.onnx_encoder import OnnxEmbedder
from batchsearch.embeddings.onnx_models import ONNX_INSTALL_HINT


def build_embedder(settings: Settings) -> MiniLMEmbedder | OnnxEmbedder:
    """The encoder of settings.embed_backend ("auto": ONNX Runtime when installed, else numpy) and
    settings.embed_precision."""
    backend = settings.embed_backend
    if backend == "auto":
        backend = "onnx" if is_onnx_available() else "numpy"
    if backend == "numpy":
        if settings.embed_precision == "int8" or settings.embed_provider != "cpu":
            raise ValueError(
                f"embed_precision={settings.embed_precision} and embed_provider={settings.embed_provider} need "
                f"the ONNX encoder (embed_backend=onnx, {ONNX_INSTALL_HINT}); the numpy encoder is fp32 on cpu only"
            )
        return MiniLMEmbedder()
    if not is_onnx_available():
        raise ImportError(f"embed_backend=onnx needs onnxruntime and onnx; install them with `{ONNX_INSTALL_HINT}`")
    return OnnxEmbedder.from_cache(
        settings.embed_cache_dir or settings.data_dir / "models",
        precision=onnx_precision(settings),
        threads=settings.blas_threads,
        provider=settings.embed_provider,
    )


def onnx_precision(settings: Settings) -> str:
    """The ONNX encoder's precision: as set, or for auto int8 on cpu and fp32 on cuda (dynamic int8 products
    have no GPU kernels)."""
    if settings.embed_precision != "auto":
        return settings.embed_precision
    return "int8" if settings.embed_provider == "cpu" else "fp32"


def is_onnx_available() -> bool:
    """Whether onnxruntime and onnx (the `onnx` extra) can be imported."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
