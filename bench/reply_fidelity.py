"""Reply-language fidelity with a real model: share of replies in the requested language and script,
without the policy, with only its instruction (first attempt) and after the full policy.

    .venv/bin/python bench/reply_fidelity.py --engine-url http://127.0.0.1:8021/v1 [--max-tokens 120]

Prompts are written here (Cantonese, Standard Written Chinese in Traditional, English, Mandarin in
Simplified, plus two with an explicit override); the target is the user's language unless overridden.
"A reply is right" = ``check_reply(...).ok``: right language (unmarked Chinese passes for yue and zh)
and no character of the wrong script; the strict column asks for the exact label. "before localizing"
counts a reply that needed the word-by-word SWC -> Cantonese rewrite as wrong. For Cantonese targets a
second, independent judge reads the final replies: cantonesedetect (cantonese / mixed / neutral = agrees;
swc = disagrees), when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from hkllm.engine import ChatMessage, ChatRequest, OpenAICompatibleEngine, completion_text
from hkllm.lang.policy import check_reply, generate_with_policy, resolve_target

PROMPTS: list[tuple[str, str | None]] = [
    # Cantonese
    ("你可唔可以介紹吓香港有咩好玩嘅地方？", None),
    ("我聽日要去面試，有咩要注意呀？", None),
    ("點樣先可以瞓得好啲？", None),
    ("落雨天喺屋企可以做啲咩？", None),
    ("你覺得學寫程式難唔難？", None),
    ("我想煮個簡單嘅晚餐，有冇建議？", None),
    ("搭港鐵由中環去沙田要點搭？", None),
    ("點解啲人咁鍾意飲奶茶？", None),
    ("我部電腦好慢，點算好？", None),
    ("可唔可以教我點樣儲錢？", None),
    ("有冇方法可以記住啲英文生字？", None),
    ("佢哋話聽日會打風，我應該準備啲咩？", None),
    # Standard Written Chinese, Traditional
    ("請介紹香港的歷史。", None),
    ("如何準備求職面試？", None),
    ("請解釋甚麼是通脹。", None),
    ("請問怎樣提高睡眠質素？", None),
    ("請簡述香港的交通系統。", None),
    ("學習程式設計有甚麼好處？", None),
    ("請提供一些節省開支的建議。", None),
    ("為甚麼運動對健康很重要？", None),
    ("請說明電子支付的優點和缺點。", None),
    ("颱風來臨前應該做哪些準備？", None),
    ("請解釋人工智能是甚麼。", None),
    # English
    ("What are some good places to visit in Hong Kong?", None),
    ("How should I prepare for a job interview?", None),
    ("Explain what inflation is in simple terms.", None),
    ("How can I sleep better?", None),
    ("What is the best way to learn programming?", None),
    ("Give me three tips for saving money.", None),
    ("Why is exercise important for health?", None),
    ("What should I do before a typhoon arrives?", None),
    ("Describe the public transport system in Hong Kong.", None),
    ("What is artificial intelligence?", None),
    ("Please recommend a simple recipe for dinner.", None),
    # Mandarin, Simplified
    ("请介绍一下上海的美食。", None),
    ("如何学习编程？", None),
    ("为什么要多喝水？", None),
    ("请给我一些省钱的建议。", None),
    # explicit override (API field / CLI --lang)
    ("What is Hong Kong famous for?", "yue"),
    ("請介紹香港的茶餐廳文化。", "en"),
]


def interleaved(prompts: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """Round-robin over the target groups, so that a run cut short still covers every language."""
    groups: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for prompt, override in prompts:
        key = override and "override" or resolve_target([ChatMessage(role="user", content=prompt)])
        groups[key].append((prompt, override))
    order = []
    while any(groups.values()):
        for key in list(groups):
            if groups[key]:
                order.append(groups[key].pop(0))
    return order


async def run(url: str, max_tokens: int, limit: int | None, out: Path | None, resume: bool = False,
              rerun: bool = False, rerun_targets: tuple[str, ...] = ()) -> int:
    engine = OpenAICompatibleEngine(url, timeout_s=600)
    health = await engine.health()
    if not health.ok:
        print(f"engine not reachable: {health.detail}")
        return 1
    rows: list[dict] = []
    if resume and out and out.is_file():  # continue a run that was cut short
        rows = [r for r in json.loads(out.read_text(encoding="utf-8"))
                if not (rerun and r["regenerated"]) and r["target"] not in rerun_targets]
    done = {(r["prompt"], r["override"]) for r in rows}
    prompts = interleaved(PROMPTS)[:limit] if limit else interleaved(PROMPTS)
    prompts = [p for p in prompts if p not in done]
    t0 = time.perf_counter()
    for n, (prompt, override) in enumerate(prompts, 1):
        request = ChatRequest(messages=[ChatMessage(role="user", content=prompt)], max_tokens=max_tokens,
                              temperature=0.2, seed=7)
        target = resolve_target(request.messages, override)
        plain = completion_text(await engine.complete(request))
        result = await generate_with_policy(engine, request, override)
        first = completion_text(result.completions[0])
        row = {
            "prompt": prompt, "target": target, "override": override,
            "plain": plain, "plain_ok": check_reply(plain, target).ok,
            "plain_label": check_reply(plain, target).guess.label,
            "first": first, "first_ok": check_reply(first, target).ok,
            "final": result.text, "final_ok": result.ok, "final_label": result.detected,
            "converted": result.converted, "regenerated": result.regenerated, "localized": result.localized,
            "judge": independent_judge(result.text) if target == "yue" else None,
        }
        rows.append(row)
        if out:  # written after every prompt: a run cut short keeps what it measured
            out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"[{len(rows)}/{len(rows) + len(prompts) - n} {time.perf_counter() - t0:.0f}s] {target:<7} plain={row['plain_label']:<7} "
              f"{'ok' if row['plain_ok'] else '--'}  first {'ok' if row['first_ok'] else '--'}  final="
              f"{row['final_label']:<7} {'ok' if row['final_ok'] else '--'}"
              f"{' converted' if result.converted else ''}{' regenerated' if result.regenerated else ''}"
              f"{' localized' if result.localized else ''}  {prompt[:30]}",
              flush=True)
    await engine.aclose()
    summarize(rows)
    print(f"({time.perf_counter() - t0:.0f} s, max_tokens={max_tokens})")
    return 0


_detector: list = []


def independent_judge(text: str) -> str | None:
    """cantonesedetect's verdict on a reply (None when the package is missing)."""
    if not _detector:
        try:
            from cantonesedetect import CantoneseDetector
        except ImportError:
            return None
        _detector.append(CantoneseDetector())
    return str(_detector[0].judge(text))


def summarize(rows: list[dict]) -> None:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups["override" if row["override"] else row["target"]].append(row)
    groups["all"] = rows
    print(f"\n{'target':<9}{'n':>4}{'plain':>9}{'instructed':>12}{'before localizing':>19}{'policy':>9}"
          f"{'strict':>9}{'converted':>11}{'regen':>7}{'localized':>11}{'cantonesedetect agrees':>24}")
    for name in ("yue", "zh-Hant", "zh-Hans", "en", "override", "all"):
        g = groups.get(name, [])
        if not g:
            continue
        def share(key: str, g: list[dict] = g) -> str:
            return f"{sum(r[key] for r in g) / len(g):.0%}"
        strict = sum(r["final_label"] == r["target"] for r in g) / len(g)
        unlocalized = sum(r["final_ok"] and not r.get("localized") for r in g) / len(g)
        judged = [r["judge"] for r in g if r.get("judge")]
        agree = (f"{sum(j in ('cantonese', 'mixed', 'neutral') for j in judged)}/{len(judged)}" if judged else "-")
        print(f"{name:<9}{len(g):>4}{share('plain_ok'):>9}{share('first_ok'):>12}{unlocalized:>19.0%}"
              f"{share('final_ok'):>9}{strict:>9.0%}{sum(r['converted'] for r in g):>11}"
              f"{sum(r['regenerated'] for r in g):>7}{sum(bool(r.get('localized')) for r in g):>11}{agree:>24}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine-url", default="http://127.0.0.1:8021/v1", help="OpenAI-compatible base URL ending in /v1")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    parser.add_argument("--out", type=Path, default=None, help="write every reply to this JSON file")
    parser.add_argument("--resume", action="store_true", help="skip the prompts already in the --out file")
    parser.add_argument("--rerun-regenerated", action="store_true",
                        help="with --resume: run again the prompts whose reply was regenerated (after a policy change)")
    parser.add_argument("--rerun-target", action="append", default=[],
                        help="with --resume: run again the prompts of this target (after changing its instruction)")
    parser.add_argument("--summarize", type=Path, default=None, help="only print the table of a saved --out file")
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(json.loads(args.summarize.read_text(encoding="utf-8")))
        return 0
    return asyncio.run(run(args.engine_url, args.max_tokens, args.limit, args.out, args.resume,
                           args.rerun_regenerated, tuple(args.rerun_target)))


if __name__ == "__main__":
    sys.exit(main())
