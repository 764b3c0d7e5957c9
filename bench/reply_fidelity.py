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

Cantonese strategies (issue 10): 44 everyday Cantonese questions under the reply strategies of
``hkllm.services.reply_language`` (instruction only, few-shot exemplars, regenerate, localize), with each
reply's latency, the model server's CPU seconds and the detector's verdict, one JSON line per reply:

    .venv/bin/python bench/reply_fidelity.py --engine-url http://127.0.0.1:8141/v1 --max-tokens 90 \
        --strategies runs.jsonl --llama-pid <pid of the llama_cpp.server process>

A person then reads every reply and fills ``rating`` / ``why`` (final text) and ``raw_rating`` / ``raw_why``
(the model's own text) with the four classes of ``RUBRIC``; ``bench/reply_fidelity_ratings.jsonl`` is such a
rated file. ``--ratings FILE`` prints the rubric and the per-strategy table from it, as run and with the
same raw replies through today's lexicon (a changed final needs ``final_now`` / ``rating_now`` / ``why_now``;
the unrated ones are listed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from hkllm.engine import ChatMessage, ChatRequest, OpenAICompatibleEngine, completion_text
from hkllm.lang.reply import check_reply, resolve_target
from hkllm.services.reply_language import generate_reply, strategy_for

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
        key = override and "override" or resolve_target([prompt])
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
        target = resolve_target([prompt], override)
        plain = completion_text(await engine.complete(request))
        result = await generate_reply(engine, request, override, strategy=strategy_for(True))
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


# -- Cantonese strategies: latency and an independent rating (issue 10) ----------------------------------

# Everyday questions written as a Hong Kong resident would ask them (Cantonese target, auto-detected).
CANTONESE_QUESTIONS = [
    "今晚想食火鍋，有冇邊區啲火鍋店值得推介？", "八號風球嗰陣要準備啲咩？", "我想由旺角去機場，搭咩車最方便？",
    "點樣申請續領身份證？", "屋企個冷氣機漏水，我自己可以點整？", "周末想帶阿仔去郊遊，有冇啲易行嘅行山徑？",
    "八達通唔見咗，應該點做？", "我想轉工，但係驚搵唔到，點算好？", "點樣可以慳啲電費？",
    "強積金可唔可以提早攞返？", "我成日瞓唔著，有冇咩方法？", "第一次去日本旅行，要準備啲咩？",
    "點樣教細路仔做功課先唔會嬲？", "租樓要留意啲咩？", "我想學整蛋撻，難唔難？", "點解最近啲菜咁貴？",
    "喺香港開銀行戶口要帶咩文件？", "我部手機成日無啦啦熄機，係咪要換？", "有咩方法可以練好英文口語？",
    "同事成日搶我功勞，我應該點處理？", "聖誕節有咩地方影相靚？", "我想養貓，要準備啲咩嘢？",
    "點樣揀一部適合自己嘅手提電腦？", "返工好攰，放工可以做啲咩放鬆吓？", "阿媽生日，送咩禮物好？",
    "去醫院睇急症通常要等幾耐？", "點樣整一個簡單嘅家庭預算？", "我想報夜校讀會計，有冇建議？",
    "喺屋企做運動，有咩動作可以練腹肌？", "點樣分辨啲電話係咪詐騙？", "搬屋之前要執啲咩？",
    "飲咖啡會唔會影響瞓覺？", "天氣咁潮濕，點樣防止衫發霉？", "我想考車牌，要幾耐先考到？",
    "新年逗利是有咩要注意？", "點樣幫屋企老人家申請長者咭？", "我份報告聽日要交，但係仲未寫完，點算？",
    "去長洲一日遊有咩好玩？", "點樣煲一煲好飲嘅老火湯？", "細路仔發燒幾多度先要睇醫生？",
    "我想換新雪櫃，邊個牌子好啲？", "搭的士去迪士尼大概要幾多錢？", "點樣可以記得住人哋個名？",
    "我啱啱畢業，應該先儲錢定係去旅行？",
]

# "plain" = no instruction at all: the single generation every strategy is compared with.
FULL_RUNS = ["plain", "instruct+regenerate+localize", "fewshot+regenerate+localize"]
STRATEGY_ORDER = ["plain", "instruct", "instruct+localize", "fewshot", "fewshot+localize",
                  "instruct+regenerate+localize", "fewshot+regenerate+localize"]

RUBRIC = """\
natural  natural Cantonese: what a Hong Kong person would say, written down: Cantonese words or sentence
         shapes beyond the grammar words (好多, 影相, 睇急症, 攞返, 啲, 點樣 ...) and no written-Chinese wording a
         speaker would not use. 係/嘅/唔/咗 swapped into an SWC sentence do not make "natural". Short is fine.
stiff    stiff but correct Cantonese: a Hong Kong reader accepts it as Cantonese, but it is formal or
         translated: an SWC sentence shape with Cantonese grammar words (what the rewrite produces), or a
         mostly Cantonese text with some SWC left (一些, 和, 還, 拿到, one 的).
swc      Standard Written Chinese: mostly 書面語 (是/的/不/了/在/他/這/什麼 ...), even with a Cantonese word or two
         in it (often echoed from the question).
broken   wrong or broken, whatever the variety: a clause that is ungrammatical in both (「你可以嘅嘢」,
         「嘅話係」, 「唔，」 for "No,", 「是唔是」, 「呢包括」), a rewrite that changes the meaning (不用的電器 →
         「唔使嘅」, 不等 → 「唔等」), degenerate repetition, a copy of the question or of a prompt exemplar
         instead of an answer, another language.
Not rated: factual accuracy; script (Simplified characters in a raw reply: every strategy converts them).
"""
RATINGS = ("natural", "stiff", "swc", "broken")


def _p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fit(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares y = a + b * x."""
    if len(pairs) < 2:
        return 0.0, float("nan")
    mx, my = statistics.fmean(x for x, _ in pairs), statistics.fmean(y for _, y in pairs)
    sxx = sum((x - mx) ** 2 for x, _ in pairs) or 1.0
    b = sum((x - mx) * (y - my) for x, y in pairs) / sxx
    return my - b * mx, b


def _family(name: str) -> str:
    return name.split("+")[0]


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (all its threads); 0 without a pid."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class TimedEngine:
    """An engine that records each ``complete`` call's wall time and the model server's CPU time."""

    def __init__(self, engine: OpenAICompatibleEngine, llama_pid: int | None) -> None:
        self.engine, self.llama_pid, self.name = engine, llama_pid, engine.name
        self.calls: list[tuple[float, float]] = []

    async def complete(self, request: ChatRequest) -> dict:
        started, cpu = time.perf_counter(), _cpu_s(self.llama_pid)
        completion = await self.engine.complete(request)
        self.calls.append((time.perf_counter() - started, _cpu_s(self.llama_pid) - cpu))
        return completion

    def stream(self, request: ChatRequest):  # noqa: ANN201 - not used by the bench
        return self.engine.stream(request)

    async def list_models(self) -> list[dict]:
        return await self.engine.list_models()

    async def health(self):  # noqa: ANN201
        return await self.engine.health()

    async def aclose(self) -> None:
        await self.engine.aclose()


def _row(prompt: str, name: str, raw: str, final: str, latency: float, cpu: float, tokens: int,
         all_tokens: int, regenerated: bool = False, localized: bool = False) -> dict:
    return {"prompt": prompt, "strategy": name, "raw": raw, "final": final,
            "raw_detector_ok": check_reply(raw, "yue").ok, "detector_ok": check_reply(final, "yue").ok,
            "latency_s": round(latency, 3), "model_cpu_s": round(cpu, 2), "completion_tokens": tokens,
            "all_completion_tokens": all_tokens, "regenerated": regenerated, "localized": localized,
            "load": round(os.getloadavg()[0], 2), "rating": None, "why": None, "raw_rating": None, "raw_why": None}


async def run_strategies(url: str, max_tokens: int, out: Path, runs: list[str], limit: int | None,
                         llama_pid: int | None = None) -> int:
    """Every question under ``plain`` and under each full workflow in ``runs`` (``instruct+regenerate+
    localize``, ``fewshot+regenerate+localize``), one run after the other (a run's instruction and
    exemplars stay in llama.cpp's prompt cache, as in serving). The shorter strategies are the first steps
    of a full run, so their rows come from its steps: ``X`` = the first attempt + the script fix,
    ``X+localize`` = that + the Cantonese rewrite (each local step timed here), ``X+regenerate+localize`` =
    the whole run. One JSON line per reply, written as it comes; a run cut short resumes. With
    ``llama_pid`` each row also has the model server's CPU seconds (not stretched by other jobs)."""
    from hkllm.lang.reply import fix_script, localize_reply
    from hkllm.services.reply_language import STRATEGIES

    engine = TimedEngine(OpenAICompatibleEngine(url, timeout_s=900), llama_pid)
    health = await engine.health()
    if not health.ok:
        print(f"engine not reachable: {health.detail}")
        return 1
    localize_reply("他們在這裏等了很久。", "yue")  # load jieba, OpenCC and the detector before timing
    questions = CANTONESE_QUESTIONS[:limit] if limit else CANTONESE_QUESTIONS
    done = set()
    if out.is_file():  # resume
        done = {(r["strategy"], r["prompt"]) for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    with out.open("a", encoding="utf-8") as sink:
        for name in runs:
            print(f"-- {name}  load {os.getloadavg()[0]:.2f}", flush=True)
            for prompt in questions:
                if (name, prompt) in done:
                    continue
                request = ChatRequest(messages=[ChatMessage(role="user", content=prompt)], max_tokens=max_tokens,
                                      temperature=0.2, seed=7)
                engine.calls.clear()
                started = time.perf_counter()
                if name == "plain":
                    completion = await engine.complete(request)
                    text, tokens = completion_text(completion), completion["usage"]["completion_tokens"]
                    rows = [_row(prompt, name, text, text, *engine.calls[0], tokens, tokens)]
                else:
                    result = await generate_reply(engine, request, "yue", strategy=STRATEGIES[name])
                    latency = time.perf_counter() - started
                    base = name.split("+")[0]
                    first_raw, (first_s, first_cpu) = completion_text(result.completions[0]), engine.calls[0]
                    first_tokens = result.completions[0]["usage"]["completion_tokens"]
                    t0 = time.perf_counter()
                    fixed = fix_script(first_raw, "yue") if not check_reply(first_raw, "yue").script_ok else first_raw
                    fix_s = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    localized = localize_reply(fixed, "yue")
                    localize_s = time.perf_counter() - t0
                    rows = [
                        _row(prompt, base, first_raw, fixed, first_s + fix_s, first_cpu, first_tokens, first_tokens),
                        _row(prompt, f"{base}+localize", first_raw, localized, first_s + fix_s + localize_s,
                             first_cpu, first_tokens, first_tokens, localized=localized != fixed),
                        _row(prompt, name, result.raw_text, result.text, latency, sum(c for _, c in engine.calls),
                             result.completion["usage"]["completion_tokens"], result.usage["completion_tokens"],
                             result.regenerated, result.localized),
                    ]
                for row in rows:
                    sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                sink.flush()
                print(f"{name:<30}{rows[-1]['latency_s']:6.1f}s {rows[-1]['completion_tokens']:>4} tok  "
                      f"{rows[-1]['final'][:40]!r}", flush=True)
    await engine.aclose()
    return 0


def final_today(row: dict) -> str:
    """What today's code makes of the row's raw text for the row's strategy (script fix, then the
    Cantonese rewrite for a localizing strategy): differs from ``final`` once the lexicon has changed."""
    from hkllm.lang.reply import fix_script, localize_reply

    text = row["raw"] if check_reply(row["raw"], "yue").script_ok else fix_script(row["raw"], "yue")
    return localize_reply(text, "yue") if row["strategy"].endswith("+localize") else text


def with_todays_lexicon(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """The rows with ``final`` replaced by ``final_today`` (rated by ``rating_now`` where the file has it),
    and the rows whose new text has no rating yet."""
    out, unrated = [], []
    for row in rows:
        if row["strategy"] == "plain" or (now := final_today(row)) == row["final"]:
            out.append(row)
        elif row.get("final_now") == now and row.get("rating_now"):
            out.append({**row, "final": now, "rating": row["rating_now"], "why": row.get("why_now"),
                        "localized": now != row["raw"]})
        else:
            unrated.append({**row, "final_now": now})
            out.append({**row, "final": now, "rating": None})
    return out, unrated


def strategy_table(rows: list[dict]) -> str:
    """The per-strategy table (Markdown) from measured rows; ratings where the rows carry them.

    A single generation of a given length is fitted (seconds = a + b x completion tokens) over the first
    attempts of the same run (the plain rows, the ``instruct`` rows, the ``fewshot`` rows): same load,
    same prompt cache. "wall ratio" = a reply's latency over that fit at its own length. "CPU ratio" = the
    model server's CPU seconds for the reply over the plain rows' CPU fit at its length (load-independent,
    and it counts the exemplars' extra prompt against plain generation). "before localizing" = the
    ratings of the rows' raw text (the model's own)."""
    fits = {f: _fit([(r["completion_tokens"], r["latency_s"]) for r in rows if r["strategy"] == f])
            for f in {_family(r["strategy"]) for r in rows}}
    cpu_a, cpu_b = _fit([(r["completion_tokens"], r["model_cpu_s"]) for r in rows if r["strategy"] == "plain"])
    lines = ["single generation, wall s = " + "; ".join(f"{f}: {a:.2f} + {b:.3f} x tokens" for f, (a, b) in
                                                     sorted(fits.items()))
             + f"; plain model CPU s = {cpu_a:.2f} + {cpu_b:.3f} x tokens", "",
             "| strategy | n | generations | detector ok | natural | stiff | SWC | broken | **Cantonese** (natural+"
             "stiff) | before localizing: Cantonese | localized | p50 latency s | p50 wall ratio | p50 CPU ratio | "
             "Cantonese share per p50 second |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in [s for s in STRATEGY_ORDER if any(r["strategy"] == s for r in rows)]:
        g = [r for r in rows if r["strategy"] == name]
        n = len(g)
        a, b = fits[_family(name)]
        latency = _p50([r["latency_s"] for r in g])
        wall = _p50([r["latency_s"] / (a + b * r["completion_tokens"]) for r in g])
        cpu = _p50([r["model_cpu_s"] / (cpu_a + cpu_b * r["completion_tokens"]) for r in g])
        rated = [r["rating"] for r in g if r.get("rating")]
        raw = [r["raw_rating"] for r in g if r.get("raw_rating")]
        counts = {k: sum(x == k for x in rated) for k in RATINGS}

        def share(k: int, m: int) -> str:
            return f"{k}/{m} ({k / m:.0%})" if m else "-"
        canto = counts["natural"] + counts["stiff"]
        raw_canto = sum(x in ("natural", "stiff") for x in raw)
        per_s = f"{canto / len(rated) / latency:.3f}" if rated else "-"
        lines.append(f"| {name} | {n} | {n + sum(r['regenerated'] for r in g)} | "
                     f"{share(sum(r['detector_ok'] for r in g), n)} | "
                     + " | ".join(share(counts[k], len(rated)) for k in RATINGS)
                     + f" | **{share(canto, len(rated))}** | {share(raw_canto, len(raw))} | "
                     f"{sum(r['localized'] for r in g)} | {latency:.2f} | {wall:.2f} | {cpu:.2f} | {per_s} |")
    return "\n".join(lines)


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
    parser.add_argument("--strategies", type=Path, default=None, metavar="OUT.jsonl",
                        help="Cantonese questions under each --strategy; one JSON line per reply (resumes)")
    parser.add_argument("--strategy", action="append", default=[], help=f"runs; default: {FULL_RUNS}")
    parser.add_argument("--llama-pid", type=int, default=None,
                        help="with --strategies: the llama.cpp server's pid, to record its CPU seconds per reply")
    parser.add_argument("--ratings", type=Path, default=None, metavar="RATED.jsonl",
                        help="only print the strategy table (with the rubric) of a rated --strategies file")
    args = parser.parse_args(argv)
    if args.ratings:
        rows = [json.loads(line) for line in args.ratings.read_text(encoding="utf-8").splitlines() if line.strip()]
        print("Rubric (each reply read and rated by hand):\n" + RUBRIC)
        print("As run:\n" + strategy_table(rows))
        today, unrated = with_todays_lexicon(rows)
        changed = sum(a["final"] != b["final"] for a, b in zip(rows, today, strict=True))
        print(f"\nThe same raw replies through today's lexicon ({changed} finals differ from the run):\n"
              + strategy_table(today))
        for row in unrated:
            print(f"unrated (add rating_now/why_now): {row['strategy']} {row['prompt']}\n  {row['final_now']}")
        return 0
    if args.strategies:
        return asyncio.run(run_strategies(args.engine_url, args.max_tokens, args.strategies,
                                          args.strategy or FULL_RUNS, args.limit, args.llama_pid))
    if args.summarize:
        summarize(json.loads(args.summarize.read_text(encoding="utf-8")))
        return 0
    return asyncio.run(run(args.engine_url, args.max_tokens, args.limit, args.out, args.resume,
                           args.rerun_regenerated, tuple(args.rerun_target)))


if __name__ == "__main__":
    sys.exit(main())
