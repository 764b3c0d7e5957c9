"""Language-identification accuracy: hkllm.lang.detect against cantonesedetect, on the same items.

Sets (read from ../shared/data; skipped when absent):
  * UD Cantonese-HK / Chinese-HK parallel pairs: each pair gives one ``yue`` and one ``zh-Hant`` item;
    pairs whose sides are equal after ``normalize_for_search`` are left out (counted).
  * Yue-TRANS (yue-benchmark): ``Yue-TRANS-zh-yue.json`` gives ``yue`` items and, in its field named
    ``en``, Mandarin in Simplified script (``zh-Hans``); ``Yue-TRANS-en-yue.json`` gives ``en`` and ``yue``.
  * Script: the UD sentences as they are (Traditional) and converted with OpenCC ``t2s`` (Simplified);
    sentences that ``t2s`` leaves unchanged carry no script evidence and are left out (counted).
  * HKCanto-Eval canto-nlp translation pairs (small, extra).

cantonesedetect (1.1.2, default settings) answers cantonese / swc / mixed / neutral; for yue-vs-zh it is
scored as cantonese|mixed -> yue, swc|neutral -> zh-Hant (ours labels unmarked Chinese zh-Hant too).

    .venv/bin/python bench/lang_accuracy.py [--data ../shared/data] [--errors 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from hkllm.lang import detect, normalize_for_search, to_hans

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data"

Item = tuple[str, str, str]  # (text, gold label, source)


def load_ud(data: Path) -> tuple[list[Item], int, int]:
    path = data / "ud-hk-yue-zh-parallel" / "yue_zh_pairs.jsonl"
    items: list[Item] = []
    pairs = left_out = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        pairs += 1
        if normalize_for_search(row["yue"]) == normalize_for_search(row["zh"]):
            left_out += 1
            continue
        domain = "legco" if "Legislative" in row.get("domain", "") or row["sent_id"] > 650 else "film"
        items.append((row["yue"], "yue", f"ud-{domain}"))
        items.append((row["zh"], "zh-Hant", f"ud-{domain}"))
    return items, pairs, left_out


def load_yue_trans(data: Path) -> list[Item]:
    base = data / "yue-benchmark" / "Yue-TRANS"
    items: list[Item] = []
    for row in json.loads((base / "Yue-TRANS-zh-yue.json").read_text(encoding="utf-8")):
        items.append((row["en"], "zh-Hans", "trans-zh"))  # field named en holds Mandarin (Simplified)
        items.append((row["yue"], "yue", "trans-zh"))
    for row in json.loads((base / "Yue-TRANS-en-yue.json").read_text(encoding="utf-8")):
        items.append((row["en"], "en", "trans-en"))
        items.append((row["yue"], "yue", "trans-en"))
    return items


def load_canto_nlp(data: Path) -> list[Item]:
    items: list[Item] = []
    base = data / "hkcanto-eval" / "canto-nlp"
    codes = {"yue": "yue", "zh": "zh-Hant", "eng": "en"}
    for path in sorted(base.glob("*_test.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                items.append((row["SourceText"], codes[row["SourceL"]], "canto-nlp"))
                items.append((row["TargetText"], codes[row["TargetL"]], "canto-nlp"))
    seen: set[str] = set()
    return [it for it in items if not (it[0] in seen or seen.add(it[0]))]


def ours(text: str) -> str:
    return detect(text).label


def cantonesedetect_fn() -> Callable[[str], str] | None:
    try:
        from cantonesedetect import CantoneseDetector
    except ImportError:
        return None
    detector = CantoneseDetector()

    def judge(text: str) -> str:
        j = str(detector.judge(text))
        return "yue" if j in ("cantonese", "mixed", "cantonese_quotes_in_swc", "mixed_quotes_in_swc") else "zh-Hant"

    return judge


def score(items: list[Item], predict: Callable[[str], str], classes: Iterable[str]) -> dict:
    gold_pred = [(gold, predict(text)) for text, gold, _ in items]
    correct = sum(g == p for g, p in gold_pred)
    per: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(g == c and p == c for g, p in gold_pred)
        fp = sum(g != c and p == c for g, p in gold_pred)
        fn = sum(g == c and p != c for g, p in gold_pred)
        per[c] = {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
                  "n": tp + fn}
    return {"n": len(items), "accuracy": correct / len(items) if items else 0.0, "per_class": per,
            "confusion": Counter(f"{g}->{p}" for g, p in gold_pred if g != p)}


def show(name: str, result: dict) -> None:
    print(f"  {name:<16} accuracy {result['accuracy']:.2%}  (n={result['n']})")
    for c, m in result["per_class"].items():
        print(f"    {c:<8} precision {m['precision']:.2%}  recall {m['recall']:.2%}  n={m['n']}")
    if result["confusion"]:
        print("    errors: " + ", ".join(f"{k} {v}" for k, v in result["confusion"].most_common()))


def errors(items: list[Item], predict: Callable[[str], str], limit: int) -> None:
    shown = 0
    for text, gold, source in items:
        pred = predict(text)
        if pred != gold and shown < limit:
            guess = detect(text)
            print(f"    [{source}] gold={gold} ours={pred} yue={guess.yue_score} swc={guess.swc_score} {text[:80]!r}")
            shown += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--errors", type=int, default=0, help="print up to N misclassified items per set")
    args = parser.parse_args(argv)
    if not (args.data / "ud-hk-yue-zh-parallel").is_dir():
        print(f"data not found under {args.data}; nothing to measure")
        return 0
    baseline = cantonesedetect_fn()
    if baseline is None:
        print("cantonesedetect is not installed (pip install cantonesedetect==1.1.2): baseline skipped")
    t0 = time.perf_counter()

    ud, pairs, left_out = load_ud(args.data)
    print(f"UD yue/zh parallel: {pairs} pairs, {left_out} left out (identical after normalisation), "
          f"{len(ud)} items")
    show("ours", score(ud, ours, ["yue", "zh-Hant"]))
    if baseline:
        show("cantonesedetect", score(ud, baseline, ["yue", "zh-Hant"]))
    for domain in ("ud-film", "ud-legco"):
        sub = [it for it in ud if it[2] == domain]
        line = f"    {domain}: ours {score(sub, ours, [])['accuracy']:.2%}"
        if baseline:
            line += f", cantonesedetect {score(sub, baseline, [])['accuracy']:.2%}"
        print(line + f" (n={len(sub)})")
    errors(ud, ours, args.errors)

    trans_dir = args.data / "yue-benchmark" / "Yue-TRANS"
    if trans_dir.is_dir():
        trans = load_yue_trans(args.data)
        print(f"\nYue-TRANS: {len(trans)} items (zh-yue: Mandarin in Simplified vs Cantonese; en-yue)")
        show("ours", score(trans, ours, ["yue", "zh-Hans", "en"]))
        chinese = [it for it in trans if it[1] != "en"]
        binary = [(t, "zh-Hant" if g == "zh-Hans" else g, s) for t, g, s in chinese]
        ours_binary = score(binary, lambda t: "yue" if ours(t) == "yue" else "zh-Hant", ["yue", "zh-Hant"])
        print(f"  yue vs zh only (n={len(binary)}): ours {ours_binary['accuracy']:.2%}", end="")
        if baseline:
            print(f", cantonesedetect {score(binary, baseline, [])['accuracy']:.2%}", end="")
        print()
        errors(trans, ours, args.errors)

    canto_dir = args.data / "hkcanto-eval" / "canto-nlp"
    if canto_dir.is_dir():
        canto = load_canto_nlp(args.data)
        print(f"\nHKCanto-Eval canto-nlp: {len(canto)} items")
        show("ours", score(canto, ours, ["yue", "zh-Hant", "en"]))
        chinese = [it for it in canto if it[1] != "en"]
        if baseline:
            print(f"  yue vs zh only (n={len(chinese)}): ours {score(chinese, ours, [])['accuracy']:.2%}, "
                  f"cantonesedetect {score(chinese, baseline, [])['accuracy']:.2%}")
        errors(canto, ours, args.errors)

    # Script: Traditional originals vs OpenCC t2s conversions of the same sentences.
    script_items: list[Item] = []
    neutral = 0
    for text, gold, source in ud:
        simplified = to_hans(text)
        if simplified == text:
            neutral += 1
            continue
        script_items.append((text, gold, source))
        script_items.append((simplified, "zh-Hans" if gold == "zh-Hant" else gold, source))
    zh_items = [it for it in script_items if it[1] in ("zh-Hant", "zh-Hans")]
    print(f"\nScript, UD sentences vs OpenCC t2s: {neutral} sentences left out (t2s leaves them unchanged)")
    show("zh-Hant/zh-Hans", score(zh_items, ours, ["zh-Hant", "zh-Hans"]))
    script_all = [(t, "Hant" if i % 2 == 0 else "Hans", s) for i, (t, _, s) in enumerate(script_items)]
    show("script (all)", score(script_all, lambda t: detect(t).script or "", ["Hant", "Hans"]))
    errors(zh_items, ours, args.errors)
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
