"""The ONNX Runtime all-MiniLM-L6-v2 encoder: reference parity, the model cache, the backend factory."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from batchsearch.config import Settings
from batchsearch.embeddings import EMBEDDING_DIM, MiniLMEmbedder, build_embedder, onnx_models
from batchsearch.embeddings.factory import onnx_precision
from batchsearch.embeddings.onnx_encoder import OnnxEmbedder, ProviderUnavailableError, _session
from batchsearch.embeddings.onnx_models import ModelParityError, ensure_model

from test_embeddings import MIXED_TEXTS, cosines


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder with the fp32 and int8 models, built (and verified) once per session."""
    cache = tmp_path_factory.mktemp("models")
    OnnxEmbedder.from_cache(cache, precision="int8")  # builds fp32 first, then quantizes it
    return cache


@pytest.fixture(scope="session")
def fp32(model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder.from_cache(model_cache, precision="fp32", threads=1)


@pytest.fixture(scope="session")
def int8(model_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder.from_cache(model_cache, precision="int8", threads=1)


@pytest.fixture(scope="session")
def numpy_encoder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> tuple[list[str], np.ndarray]:
    with (shared_data / "minilm-reference.json").open(encoding="utf-8") as handle:
        items = json.load(handle)["items"]
    return [str(item["text"]) for item in items], np.array([item["embedding"] for item in items])


def model_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("minilm-*.onnx"))


def test_fp32_reproduces_reference_vectors(fp32: OnnxEmbedder, reference: tuple[list[str], np.ndarray]) -> None:
    texts, expected = reference

    sims = cosines(fp32.embed(texts), expected)

    assert len(texts) == 11
    assert sims.min() >= 0.9999, dict(zip(texts, sims.round(7)))


def test_fp32_reference_texts_one_at_a_time(fp32: OnnxEmbedder, reference: tuple[list[str], np.ndarray]) -> None:
    texts, expected = reference

    got = np.vstack([fp32.embed([text]) for text in texts])

    assert cosines(got, expected).min() >= 0.9999


def test_int8_stays_close_to_reference(
    int8: OnnxEmbedder, reference: tuple[list[str], np.ndarray], record_property: pytest.RecordProperty
) -> None:
    texts, expected = reference

    sims = cosines(int8.embed(texts), expected)

    # int8 vectors differ measurably (about 0.98 at worst); retrieval quality is judged by
    # bench/encoder_quality.py, this only bounds the damage.
    record_property("int8_min_cosine", round(float(sims.min()), 5))
    assert sims.min() >= 0.97, dict(zip(texts, sims.round(5)))
    assert sims.mean() >= 0.985


def test_numpy_and_onnx_agree_on_mixed_lengths(fp32: OnnxEmbedder, numpy_encoder: MiniLMEmbedder) -> None:
    texts = [*MIXED_TEXTS, " ", "a", "Revenue grew in every region. " * 200]

    got, want = fp32.embed(texts), numpy_encoder.embed(texts)

    assert got.shape == (len(texts), EMBEDDING_DIM) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert cosines(got, want).min() >= 0.9999


def test_order_is_restored_after_bucketing(model_cache: Path, fp32: OnnxEmbedder) -> None:
    small_batches = OnnxEmbedder(fp32.model_path, batch_tokens=64, threads=1)
    texts = [*MIXED_TEXTS, "short", "a somewhat longer sentence about quarterly earnings"]

    together = small_batches.embed(texts)
    alone = np.vstack([fp32.embed([text]) for text in texts])
    shuffled = [texts[i] for i in (4, 0, 8, 2, 6, 1, 7, 3, 5)]

    assert cosines(together, alone).min() > 0.99999
    np.testing.assert_allclose(small_batches.embed(shuffled), together[[4, 0, 8, 2, 6, 1, 7, 3, 5]], atol=1e-5)


LONG_TEXTS = [f"{name} reported quarterly revenue above guidance as cloud demand held up. " * 30
              for name in ("Acme", "Globex", "Initech", "Umbrella")]  # every one truncated at 256 tokens


def test_unpadded_batches_run_without_a_key_mask_and_match_numpy(
    model_cache: Path, numpy_encoder: MiniLMEmbedder
) -> None:
    encoder = OnnxEmbedder.from_cache(model_cache, precision="fp32", threads=1)

    encoder.embed(["a short query", "another short query"])
    loaded_for_short = encoder._unpadded is not None
    got = encoder.embed(LONG_TEXTS)

    assert not loaded_for_short  # queries never load the second session
    assert encoder._unpadded is not None
    assert cosines(got, numpy_encoder.embed(LONG_TEXTS)).min() >= 0.9999


@pytest.mark.parametrize(("precision", "least"), [("fp32", 0.99999), ("int8", 0.995)])
def test_with_and_without_key_mask_agree(
    request: pytest.FixtureRequest, precision: str, least: float
) -> None:
    encoder: OnnxEmbedder = request.getfixturevalue(precision)
    masked = _session(str(encoder.model_path), 1, "cpu")  # the model file as built: attention with a key mask

    def feed(row: np.ndarray) -> dict[str, np.ndarray]:
        return {"input_ids": row[None], "attention_mask": np.ones_like(row[None])}

    ids = np.array([encoding.ids for encoding in encoder._tokenizer.encode_batch(LONG_TEXTS)], dtype=np.int64)

    unpadded = encoder.embed(LONG_TEXTS)
    with_mask = np.vstack([masked.run(["embeddings"], feed(row))[0] for row in ids])

    # in int8 the flash kernel's different summation order can tip a few roundings, hence the looser bound
    assert ids.shape == (len(LONG_TEXTS), 256)
    assert cosines(unpadded, with_mask).min() > least


def test_int8_vectors_do_not_depend_on_the_batch(int8: OnnxEmbedder, fp32: OnnxEmbedder) -> None:
    texts = [*LONG_TEXTS, *MIXED_TEXTS, "rates", "Revenue grew."]

    together = int8.embed(texts)
    alone = np.vstack([int8.embed([text]) for text in texts])
    reordered = int8.embed(texts[::-1])[::-1]

    assert int8.one_text_per_run and not fp32.one_text_per_run
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, reordered)


def test_truncates_like_the_numpy_encoder(fp32: OnnxEmbedder) -> None:
    long_text = "Revenue grew in every region while margins held steady. " * 40
    longer_text = long_text + "But the final paragraph says something else entirely. " * 10

    vectors = fp32.embed([long_text, longer_text])

    assert cosines(vectors[:1], vectors[1:])[0] > 0.99999
    assert fp32.count_tokens(["", "hello world", "growth " * 600]) == [0, 2, 600]
    assert fp32.max_tokens == 256 and fp32.dim == EMBEDDING_DIM


def test_empty_and_single_string_inputs(fp32: OnnxEmbedder) -> None:
    assert fp32.embed([]).shape == (0, EMBEDDING_DIM)
    with pytest.raises(TypeError):
        fp32.embed("not a list")


def test_concurrent_calls_match_sequential(fp32: OnnxEmbedder) -> None:
    texts = [text[:200] for text in MIXED_TEXTS]
    batches = [texts[i:] + texts[:i] for i in range(4)]
    sequential = [fp32.embed(batch) for batch in batches]

    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(fp32.embed, batches))

    for want, got in zip(sequential, concurrent):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_cached_model_is_reused_without_rebuilding(model_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {path: path.stat().st_mtime_ns for path in model_files(model_cache)}
    monkeypatch.setattr(onnx_models, "_build", lambda *args: pytest.fail("rebuilt a cached model"))

    encoder = OnnxEmbedder.from_cache(model_cache, precision="int8")

    assert encoder.model_path in before
    assert {path: path.stat().st_mtime_ns for path in model_files(model_cache)} == before
    manifest = json.loads(encoder.model_path.with_suffix(".json").read_text())
    assert manifest["precision"] == "int8" and manifest["min_cosine_vs_numpy"] >= 0.95


def test_a_new_data_folder_links_the_verified_file(model_cache: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_models, "_build", lambda *args: pytest.fail("rebuilt a model verified before"))

    path = ensure_model(tmp_path, _model_dir(), "fp32")

    assert path.read_bytes() == (model_cache / path.name).read_bytes()
    assert path.with_suffix(".json").is_file()


def test_a_damaged_cached_model_is_detected_and_replaced(fp32: OnnxEmbedder, tmp_path: Path) -> None:
    path = ensure_model(tmp_path, _model_dir(), "fp32")
    path.unlink()  # a damaged copy, not the shared hard link
    damaged = bytearray(fp32.model_path.read_bytes())
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(damaged))

    again = ensure_model(tmp_path, _model_dir(), "fp32")

    assert again == path
    assert path.read_bytes() == fp32.model_path.read_bytes()


def test_a_damaged_manifest_is_detected(tmp_path: Path) -> None:
    path = ensure_model(tmp_path, _model_dir(), "fp32")
    path.with_suffix(".json").write_text("{not json")

    assert not onnx_models._is_intact(path)
    assert onnx_models._is_intact(ensure_model(tmp_path, _model_dir(), "fp32"))


def test_a_model_that_misses_the_reference_fails_loudly_and_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_load = onnx_models.load_tensors

    def damaged_weights(folder: Path) -> dict[str, np.ndarray]:
        tensors = real_load(folder)
        tensors["encoder.layer.3.intermediate.dense.weight"] = tensors["encoder.layer.3.intermediate.dense.weight"] * 3
        return tensors

    monkeypatch.setattr(onnx_models, "load_tensors", damaged_weights)
    monkeypatch.setattr(onnx_models, "_verified", {})  # nothing to link: build for real

    with pytest.raises(ModelParityError, match="does not reproduce the numpy encoder"):
        ensure_model(tmp_path, _model_dir(), "fp32")
    assert model_files(tmp_path) == [] and not list(tmp_path.glob("*.json"))
    assert not list(tmp_path.glob(".*tmp"))


def test_factory_picks_onnx_when_installed(
    model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BATCHSEARCH_EMBED_CACHE_DIR", raising=False)  # the default folder, not the session's
    encoder = build_embedder(Settings(data_dir=tmp_path, blas_threads=1))
    reference = build_embedder(Settings(data_dir=tmp_path, embed_backend="onnx", embed_precision="fp32"))

    assert isinstance(encoder, OnnxEmbedder) and encoder.model_path.parent == tmp_path / "models"
    assert encoder.model_path.name.startswith("minilm-int8-")  # auto: int8 on cpu
    assert isinstance(reference, OnnxEmbedder) and reference.model_path.name.startswith("minilm-fp32-")
    assert isinstance(build_embedder(Settings(data_dir=tmp_path, embed_backend="numpy")), MiniLMEmbedder)


def test_factory_falls_back_to_numpy_without_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now raises ImportError

    assert isinstance(build_embedder(Settings(data_dir=tmp_path)), MiniLMEmbedder)
    with pytest.raises(ImportError, match=r"batchsearch\[onnx\]"):
        build_embedder(Settings(data_dir=tmp_path, embed_backend="onnx"))
    with pytest.raises(ValueError, match="embed_precision=int8"):
        build_embedder(Settings(data_dir=tmp_path, embed_precision="int8"))
    assert not (tmp_path / "models").exists()


def test_auto_precision_is_fp32_on_cuda() -> None:
    assert onnx_precision(Settings(embed_provider="cuda")) == "fp32"
    assert onnx_precision(Settings(embed_provider="cpu")) == "int8"
    assert onnx_precision(Settings(embed_provider="cuda", embed_precision="int8")) == "int8"


def test_unknown_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        ensure_model(tmp_path, _model_dir(), "int4")


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                    reason="this onnxruntime has the CUDA provider")
def test_cuda_without_onnxruntime_gpu_fails_with_the_fix(fp32: OnnxEmbedder) -> None:
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu"):
        OnnxEmbedder(fp32.model_path, provider="cuda")


def test_cuda_vectors_match_cpu_vectors(fp32: OnnxEmbedder, reference: tuple[list[str], np.ndarray]) -> None:
    try:
        gpu = OnnxEmbedder(fp32.model_path, provider="cuda")
    except ProviderUnavailableError as exc:
        pytest.skip(f"no CUDA GPU here: {exc}")
    texts, expected = reference
    texts = [*texts, *MIXED_TEXTS]

    got, want = gpu.embed(texts), fp32.embed(texts)

    assert gpu.providers[0] == "CUDAExecutionProvider"
    assert cosines(got, want).min() >= 0.9999  # interchangeable in one index
    assert cosines(got[: len(expected)], expected).min() >= 0.9999


def _model_dir() -> Path:
    from batchsearch.embeddings.model_files import packaged_model_dir

    return packaged_model_dir()
