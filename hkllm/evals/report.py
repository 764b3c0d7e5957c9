"""A self-contained HTML report of the stored evaluation runs.

Tables and matplotlib plots (embedded as base64 PNG; no scripts, no CDN, no network), the latest run of
every (model, engine, shots) configuration side by side, and published anchor figures in their own,
clearly labelled columns: they were measured by others, not by this harness.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hkllm.evals import store
from hkllm.evals.task import all_tasks
from hkllm.store.db import Database


@dataclass(frozen=True)
class Anchor:
    task: str
    model: str
    setting: str
    value: float  # percent, as published
    source: str


YUE_PAPER = "Yue-Benchmark paper (Jiang et al. 2024, arXiv:2408.16756)"
ANCHORS: tuple[Anchor, ...] = (
    Anchor("yue-arc-c", "GPT-4o", "0-shot", 92.06, YUE_PAPER),
    Anchor("yue-gsm8k", "GPT-4o", "0-shot", 81.80, YUE_PAPER),
    Anchor("yue-arc-c", "Qwen-2-7B", "0-shot", 78.74, YUE_PAPER),
    Anchor("yue-gsm8k", "Qwen-2-7B", "0-shot", 50.72, YUE_PAPER),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK TC","Noto Sans TC",sans-serif;margin:24px;
color:#1b1f24;max-width:1400px}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
th.pub,td.pub{background:#fff6e0;font-style:italic;color:#6b4e00}.note{color:#555;font-size:.9em}
.ok{color:#116329}.bad{color:#a40e26}img{max-width:100%;border:1px solid #eee}
pre{white-space:pre-wrap;margin:0;font-size:.85em;max-width:520px}details{margin:.4em 0}
.legend-pub{display:inline-block;width:1em;height:1em;background:#fff6e0;border:1px solid #c9a227;
vertical-align:middle}
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}"


def _short(text: str, n: int = 40) -> str:
    text = text.rsplit("/", 1)[-1] if text.endswith(".gguf") else text
    return text if len(text) <= n else text[: n - 1] + "…"


def _config(run: store.EvalRun) -> tuple[str, str, int]:
    return (run.model, run.engine, run.shots)


def _config_label(cfg: tuple[str, str, int]) -> str:
    model, engine, shots = cfg
    return f"{_short(model, 32)} · {shots}-shot · {_short(engine, 36)}"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(task_ids: Sequence[str], configs: Sequence[tuple[str, str, int]],
           latest: dict[tuple[str, tuple[str, str, int]], store.EvalRun],
           runs: Sequence[store.EvalRun]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    anchor_models = sorted({a.model for a in ANCHORS})
    series = len(configs) + len(anchor_models)
    width = 0.8 / max(series, 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(task_ids)), 4.2))
    xs = range(len(task_ids))
    for i, cfg in enumerate(configs):
        vals = [(latest[(t, cfg)].score or 0) * 100 if (t, cfg) in latest else 0 for t in task_ids]
        ax.bar([x + i * width for x in xs], vals, width, label=f"ours: {_config_label(cfg)}")
    greys = ["#bbbbbb", "#888888", "#dddddd"]
    for j, model in enumerate(anchor_models):
        vals = [next((a.value for a in ANCHORS if a.task == t and a.model == model), 0) for t in task_ids]
        ax.bar([x + (len(configs) + j) * width for x in xs], vals, width, color=greys[j % len(greys)],
               hatch="//", edgecolor="#555", label=f"published: {model} (Yue-Benchmark paper, 0-shot)")
    ax.set_xticks([x + width * (series - 1) / 2 for x in xs], task_ids, rotation=20, ha="right")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Latest score per task (ours) and published anchors (hatched)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    out.append(("Scores", _png(fig)))

    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(task_ids)), 3.6))
    for i, cfg in enumerate(configs):
        vals = [latest[(t, cfg)].wall_s if (t, cfg) in latest else 0 for t in task_ids]
        ax.bar([x + i * (0.8 / max(len(configs), 1)) for x in xs], vals, 0.8 / max(len(configs), 1),
               label=_config_label(cfg))
    ax.set_xticks(list(xs), task_ids, rotation=20, ha="right")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Wall time of the latest run per task")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=2, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    out.append(("Wall time", _png(fig)))

    history = {t: [r for r in runs if r.task == t and r.score is not None] for t in task_ids}
    if any(len(v) > 1 for v in history.values()):
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for t, rs in history.items():
            if len(rs) > 1:
                # matplotlib's unit converters plot datetimes; its stubs accept only numbers and arrays
                when: Any = [r.created_at for r in rs]
                ax.plot(when, [(r.score or 0) * 100 for r in rs], marker="o", label=t)
        ax.set_ylabel("score (%)")
        ax.set_title("Score over runs (all configurations)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        out.append(("History", _png(fig)))
    return out


def _flat_metrics(metrics: dict[str, Any]) -> str:
    parts = [f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
             for k, v in metrics.items() if isinstance(v, int | float)]
    return ", ".join(parts)


def build_report(db: Database, *, title: str = "hkllm evaluation report") -> str:
    """The report as one HTML string."""
    with db.session() as session:
        runs = store.list_runs(session)
        done = [r for r in runs if r.status == "done"]
        latest: dict[tuple[str, tuple[str, str, int]], store.EvalRun] = {}
        for r in done:
            latest[(r.task, _config(r))] = r  # list_runs is oldest first: the last one wins
        samples = {r.id: store.items_of(session, r.id)[:8] for r in latest.values()}

    known = {t.id: t for t in all_tasks()}
    anchored = {a.task for a in ANCHORS}
    task_ids = [t for t in known if t in anchored or any(k[0] == t for k in latest)] + sorted(
        {r.task for r in done} - set(known))
    configs = sorted({k[1] for k in latest}, key=lambda c: (c[0], c[1], c[2]))
    anchor_models = sorted({a.model for a in ANCHORS})
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    h: list[str] = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>",
                    f"<style>{CSS}</style></head><body>", f"<h1>{_esc(title)}</h1>",
                    f"<p class='note'>Generated {now} from {len(runs)} stored run(s) ({len(done)} finished). "
                    "Scores are 0–100 (accuracy in %, BLEU/ROUGE-L ×100). Columns shaded "
                    "<span class='legend-pub'></span> are <b>published figures from the papers, not measured "
                    "here</b>; they use the full test sets and other prompts, so compare with care.</p>"]
    if not done:
        h.append("<p>No finished runs yet: <code>hkllm eval run --tasks all --data-dir PATH</code>.</p>")

    h.append("<h2>Latest scores</h2><table><tr><th>task</th><th>metric</th>")
    h += [f"<th>{_esc(_config_label(c))}</th>" for c in configs]
    h += [f"<th class='pub'>Published: {_esc(m)}<br>(Yue-Benchmark paper, 0-shot)</th>" for m in anchor_models]
    h.append("</tr>")
    for t in task_ids:
        metric = known[t].metric if t in known else ""
        h.append(f"<tr><td>{_esc(t)}</td><td class='note'>{_esc(metric)}</td>")
        for c in configs:
            cell = latest.get((t, c))
            h.append(f"<td class='num'>{_pct(cell.score)} <span class='note'>(n={cell.n})</span></td>" if cell
                     else "<td>–</td>")
        for m in anchor_models:
            a = next((a for a in ANCHORS if a.task == t and a.model == m), None)
            h.append(f"<td class='pub num'>{a.value:.2f}</td>" if a else "<td class='pub'>–</td>")
        h.append("</tr>")
    h.append("</table>")
    h.append("<p class='note'>Published anchors: " + "; ".join(
        f"{_esc(a.model)} {_esc(a.task)} {a.value:.2f} ({_esc(a.setting)}, {_esc(a.source)})" for a in ANCHORS) + "</p>")

    if done:
        for name, uri in _plots(task_ids, configs, latest, done):
            h.append(f"<h2>{_esc(name)}</h2><img alt='{_esc(name)} plot' src='{uri}'>")

    h.append("<h2>All runs</h2><table><tr><th>#</th><th>date (UTC)</th><th>task</th><th>model</th><th>engine</th>"
             "<th>prompt</th><th>shots</th><th>limit</th><th>max_tokens</th><th>n</th><th>score</th>"
             "<th>wall s</th><th>status</th><th>other metrics</th></tr>")
    for r in reversed(runs):
        h.append(
            f"<tr><td>{r.id}</td><td>{r.created_at:%Y-%m-%d %H:%M}</td><td>{_esc(r.task)}</td>"
            f"<td>{_esc(_short(r.model, 48))}</td><td>{_esc(r.engine)}</td><td>{_esc(r.prompt_version)}</td>"
            f"<td class='num'>{r.shots}</td><td class='num'>{_esc(r.item_limit or 'all')}</td>"
            f"<td class='num'>{r.max_tokens}</td><td class='num'>{r.n}</td><td class='num'>{_pct(r.score)}</td>"
            f"<td class='num'>{r.wall_s:.1f}</td><td>{_esc(r.status)}</td>"
            f"<td class='note'>{_esc(_flat_metrics(r.metrics or {}))}</td></tr>")
    h.append("</table>")

    if latest:
        h.append("<h2>Sample outputs (first items of each latest run)</h2>")
    for (t, c), r in latest.items():
        h.append(f"<details><summary>{_esc(t)} — {_esc(_config_label(c))} — run #{r.id}</summary>")
        breakdown = {k: v for k, v in (r.metrics or {}).items() if isinstance(v, dict)}
        if breakdown:
            h.append(f"<pre>{_esc(json.dumps(breakdown, ensure_ascii=False, indent=1)[:4000])}</pre>")
        h.append("<table><tr><th>item</th><th>output</th><th>extracted</th><th>reference</th><th>score</th></tr>")
        for it in samples.get(r.id, []):
            mark = "ok" if (it.correct or (it.correct is None and it.value >= 0.5)) else "bad"
            h.append(f"<tr><td>{_esc(it.item_id)}</td><td><pre>{_esc(it.output[:400])}</pre></td>"
                     f"<td><pre>{_esc((it.prediction or '')[:200])}</pre></td><td><pre>{_esc(it.reference[:300])}</pre></td>"
                     f"<td class='num {mark}'>{it.value:.2f}{' ⚠ ' + _esc(it.error) if it.error else ''}</td></tr>")
        h.append("</table></details>")
    h.append("</body></html>")
    return "\n".join(h)


def write_report(db: Database, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(db), encoding="utf-8")
    return out
