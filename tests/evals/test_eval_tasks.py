"""Every task with a fake engine that answers correctly (score 1.0) and one that answers wrongly (0.0),
on small synthetic benchmark files and, when present, on the real ones in ../shared/data."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from hkllm.engine import ChatRequest, FakeEngine
from hkllm.evals.runner import OracleEngine, prompt_key, run_task
from hkllm.evals.task import Dataset, Task, all_tasks, get_task
from hkllm.evals.tasks.lang_fidelity import LangFidelity
from hkllm.store.db import Database

TASK_IDS = ["yue-truthfulqa", "yue-gsm8k", "yue-arc-c", "yue-mmlu", "yue-trans", "hkcanto-mcq", "hkcanto-trans",
            "lang-fidelity"]
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


# ---------------------------------------------------------------------------------------------------
# Synthetic benchmark files, laid out like the real folders


def _json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _lines(path: Path, rows: list[str], newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(rows).encode("utf-8") + newline.encode())


def write_benchmarks(root: Path) -> Path:
    yb = root / "yue-benchmark"
    _json(yb / "Yue-ARC-C" / "Yue-ARC-C.json", [
        {"id": "q1", "question": "光合作用需要咩？", "A": "陽光", "B": "月光", "C": "雪", "D": "沙", "answer": "A", "no": 1},
        {"id": "q2", "question": "水喺咩狀態下有固定形狀？", "A": "氣體", "B": "液體", "C": "固體", "D": None,
         "answer": "C", "no": 2},
        {"id": "q3", "question": "邊個係哺乳類？", "A": "蛇", "B": "鯨魚", "C": "鯊魚", "D": "青蛙", "answer": "2", "no": 3},
        {"id": "q4", "question": "地球圍住咩轉？", "A": "月亮", "B": "火星", "C": "木星", "D": "太陽", "answer": "D", "no": 4},
    ])
    _json(yb / "Yue-GSM8K" / "Yue-GSM8K.json", [
        {"question": "Janet每日有16隻蛋，食咗3隻，用咗4隻，其餘每隻賣$2，佢每日賺幾多？", "answer": "16-3-4=9，9*2=18。####18"},
        {"question": "一件袍要2卷藍布同一半咁多白布，總共要幾卷？", "answer": "2/2=1，2+1=3。####3"},
        {"question": "一間屋賣$1,875，佢有$2,000，找返幾多？", "answer": "2000-1875=125。####125"},
        {"question": "佢有1,200蚊，再賺800，總共幾多？", "answer": "1200+800=2000。####2,000"},
    ])
    mmlu = yb / "Yue-MMLU"
    _json(mmlu / "arts.json", [
        {"question": "「紅字」嘅作者係", "A": "奧尼爾", "B": "福克納", "C": "愛默生", "D": "霍桑", "answer": "D", "no": "0"},
        {"question": "鼓吹「小說界革命」嘅係", "A": "蔡元培", "B": "黃遵憲", "C": "胡適", "D": "梁啟超", "answer": "D", "no": "2"},
        {"question": "京劇嘅發源地係", "A": "北京", "B": "上海", "C": "安徽", "D": "廣州", "answer": "C", "no": "5"},
    ])
    _json(mmlu / "logical.json", [
        {"question": "所有A係B，所有B係C，所以", "A": "所有A係C", "B": "所有C係A", "C": "冇結論", "D": "A唔係C",
         "answer": "A", "no": "1"},
        {"question": "如果落雨就帶遮。今日冇帶遮，所以", "A": "落緊雨", "B": "冇落雨", "C": "唔知", "D": "會落雨",
         "answer": "B", "no": "3"},
    ])
    trans = yb / "Yue-TRANS"
    _json(trans / "Yue-TRANS-en-yue.json", [
        {"no": 1, "en": "Once upon a time there was a dog named Spot.", "yue": "從前有一隻狗叫 Spot。"},
        {"no": 2, "en": "The bird flew away.", "yue": "隻雀飛走咗。"},
    ])
    _json(trans / "Yue-TRANS-zh-yue.json", [
        {"no": 1, "en": "动物也抵挡不住。", "yue": "動物都抵擋唔住。"},
        {"no": 2, "en": "“你再去看一次那些玫瑰。”", "yue": "「你再去睇一次啲玫瑰。」"},
    ])
    _json(yb / "Yue-TruthfulQA" / "Yue-TruthfulQA.json", [
        {"question": "如果你食西瓜核會點？", "true": "冇咩事；西瓜核會經過你嘅消化系統", "false": "你個肚會種西瓜；會死",
         "best_answer": "西瓜核會經過你嘅消化系統"},
        {"question": "幸運餅乾源自邊度？", "true": "幸運餅乾源自三藩市；幸運餅乾嘅起源唔太清楚", "false": "中國；日本",
         "best_answer": "幸運餅乾嘅起源唔太清楚"},
        {"question": "點解血管睇落係藍色？", "true": "因為藍光唔係好深入人體組織", "false": "因為血係藍色",
         "best_answer": "因為藍光唔係好深入人體組織"},
    ])

    hk = root / "hkcanto-eval"
    _lines(hk / "cultural" / "test" / "food_test.csv", [
        "香港邊度嘅燒鵝最出名？,深井,中環,灣仔,旺角,A",
        '"菠蘿包入面有冇菠蘿？",有,冇,"有時有, 有時冇",睇季節,B',
        "以下邊隻唔係M巾？,,高潔絲,樂而雅,添寧,D",  # empty option A: a three-option question upstream
    ])
    _lines(hk / "cultural" / "dev" / "food_dev.csv", ["絲襪奶茶源自邊度？,香港,英國,印度,日本,A"])
    _lines(hk / "dse" / "test" / "math_en_test.csv", ['"If 2x = 6, then x =",2,3,4,6,B', "1 + 1 =,1,2,3,4,B"])
    _lines(hk / "dse" / "test" / "math_zh_test.csv", ["若 2x = 6，則 x =,2,3,4,6,B", "1 + 1 =,1,2,3,4,B"])
    _lines(hk / "hk-law" / "test" / "basic_law_test.csv", [
        "香港特別行政區的外交事務由甚麼機構負責？,香港特別行政區政府,中央人民政府,國務院,全國人民代表大會,B"])
    # A stray carriage return inside an unquoted cell, as in the upstream phonology file.
    _lines(hk / "linguistic_knowledge" / "test" / "phonology_test.csv", [
        "Which character is a homophone of `不` in Cantonese?,拔,筆,否,無,None of the above,B",
        "Which words have the nearest tone pattern with `永不止息`?,慕名而來,又呢又路,惹草沾花\r,大庭廣眾,None of the above,C",
    ], newline="\r\n")
    nlp = hk / "canto-nlp"
    pairs = {
        ("eng", "yue"): [("I am exactly 18 weeks today.", "我今日啱啱十八週。"), ("Let's go hiking.", "我哋去行山啦。")],
        ("yue", "eng"): [("我哋去行山啦。", "Let's go hiking."), ("我今日好開心。", "I am very happy today.")],
        ("yue", "zh"): [("我哋去行山啦。", "我們去遠足吧。"), ("佢唔喺度。", "他不在這裡。")],
        ("zh", "yue"): [("我們去遠足吧。", "我哋去行山啦。"), ("他不在這裡。", "佢唔喺度。")],
    }
    for (src, tgt), rows in pairs.items():
        lines = [json.dumps({"#": i, "SourceL": src, "TargetL": tgt, "SourceText": s, "TargetText": t},
                            ensure_ascii=False) for i, (s, t) in enumerate(rows)]
        _lines(nlp / f"{src}_{tgt}_test.json", lines)
        _lines(nlp / f"{src}_{tgt}_train.json", lines[:1])
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_benchmarks(tmp_path / "data")


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    database = Database(f"sqlite:///{tmp_path / 'eval.db'}")
    yield database
    database.dispose()


# ---------------------------------------------------------------------------------------------------
# Fake engines that read the prompt


def stub_detector(text: str) -> Any:
    """Stands in for hkllm.lang.detect: knows the sample replies of the lang-fidelity prompt set."""
    from types import SimpleNamespace

    from hkllm.evals.tasks.lang_fidelity import PROMPTS

    labels = {sample: lang for lang, _, sample in PROMPTS}
    return SimpleNamespace(label=labels.get(text, "und"))


def prompt_reading_engine(task: Task, dataset: Dataset, shots: int, *, correct: bool) -> FakeEngine:
    """A FakeEngine whose reply is a function of the request: it looks the prompt up among the task's items."""
    table = {}
    for item in dataset.items:
        messages = task.messages(item, dataset.shots_for(item, shots))
        table[prompt_key(messages)] = task.reference_reply(item) if correct else task.wrong_reply(item)

    def reply(request: ChatRequest) -> str:
        return table[prompt_key([m.model_dump(exclude_none=True) for m in request.messages])]

    return FakeEngine(default=reply)


def _task(task_id: str) -> Task:
    return LangFidelity(detector=stub_detector) if task_id == "lang-fidelity" else get_task(task_id)


def test_registry_lists_every_task() -> None:
    assert [t.id for t in all_tasks()][: len(TASK_IDS)] == TASK_IDS


@pytest.mark.parametrize("shots", [0, 1])
@pytest.mark.parametrize("task_id", TASK_IDS)
def test_fake_correct_scores_one_and_wrong_scores_zero(task_id: str, shots: int, data_dir: Path, db) -> None:  # noqa: ANN001
    task = _task(task_id)
    dataset = task.load(data_dir)
    assert dataset.items
    for correct, expected in ((True, 1.0), (False, 0.0)):
        engine = prompt_reading_engine(task, dataset, shots, correct=correct)
        summary = asyncio.run(run_task(task, engine, db, data_dir=data_dir, shots=shots, fresh=True))
        assert summary.n == len(dataset.items)
        assert summary.score == pytest.approx(expected), (task_id, correct)
        assert len(engine.requests) == len(dataset.items)
        request = engine.requests[0]
        assert request.temperature == 0 and request.seed is not None and request.max_tokens == task.max_tokens


@pytest.mark.parametrize("task_id", TASK_IDS[:-1])
def test_oracle_engine(task_id: str, data_dir: Path, db) -> None:  # noqa: ANN001
    task = get_task(task_id)
    good = asyncio.run(run_task(task, OracleEngine("correct"), db, data_dir=data_dir, shots=1))
    bad = asyncio.run(run_task(task, OracleEngine("wrong"), db, data_dir=data_dir, shots=1))
    assert (good.score, bad.score) == (pytest.approx(1.0), 0.0)


def test_lang_fidelity_with_the_real_language_layer(db) -> None:  # noqa: ANN001
    pytest.importorskip("hkllm.lang")
    task = get_task("lang-fidelity")
    dataset = task.load(None)
    for correct, expected in ((True, 1.0), (False, 0.0)):
        engine = prompt_reading_engine(task, dataset, 0, correct=correct)
        summary = asyncio.run(run_task(task, engine, db, data_dir=None, fresh=True))
        assert summary.score == pytest.approx(expected), summary.metrics.get("confusion")


def test_few_shot_messages_use_dev_split_and_worked_examples(data_dir: Path) -> None:
    mcq = get_task("hkcanto-mcq")
    ds = mcq.load(data_dir)
    food = next(i for i in ds.items if i.subset == "cultural/food")
    msgs = mcq.messages(food, ds.shots_for(food, 5))
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]  # one dev exemplar exists
    assert "絲襪奶茶" in msgs[1]["content"] and msgs[2]["content"] == "答案係 A"
    english = next(i for i in ds.items if i.meta["lang"] == "en")
    assert mcq.messages(english, [])[-1]["content"].startswith("Question:")
    gsm = get_task("yue-gsm8k")
    gds = gsm.load(data_dir)
    msgs = gsm.messages(gds.items[1], gds.shots_for(gds.items[1], 1))
    assert msgs[2]["content"].endswith("答案係 18") and gds.items[0].prompt in msgs[1]["content"]


def test_upstream_quirks_are_read(data_dir: Path) -> None:
    arc = get_task("yue-arc-c").load(data_dir).items
    assert list(arc[1].options) == ["A", "B", "C"]  # D is null upstream
    assert arc[2].answer == "B"  # ARC numeric label "2"
    mcq = get_task("hkcanto-mcq").load(data_dir).items
    phon = [i for i in mcq if i.subset == "linguistic_knowledge/phonology"]
    assert phon[1].options["C"] == "惹草沾花" and phon[1].answer == "C"
    no_a = next(i for i in mcq if "M巾" in i.prompt)
    assert list(no_a.options) == ["B", "C", "D"]
    gsm = get_task("yue-gsm8k").load(data_dir).items
    assert gsm[3].answer == "2000"


def test_limit_interleaves_subsets(data_dir: Path) -> None:
    items = get_task("yue-mmlu").load(data_dir).items
    assert [i.subset for i in items[:4]] == ["arts", "logical", "arts", "logical"]


# ---------------------------------------------------------------------------------------------------
# The real benchmark files (skipped when ../shared/data is absent)


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data not present")
@pytest.mark.parametrize("task_id", TASK_IDS[:-1])
def test_real_data_fake_correct_and_wrong(task_id: str, db) -> None:  # noqa: ANN001
    task = get_task(task_id)
    dataset = task.load(REAL_DATA, skip_invalid=True)  # Yue-MMLU security_study.json row 56 lacks field 'A'
    assert len(dataset.items) >= 40
    for mode, expected in (("correct", 1.0), ("wrong", 0.0)):
        summary = asyncio.run(run_task(task, OracleEngine(mode), db, data_dir=REAL_DATA, limit=60,
                                       skip_invalid=True, shots=1))
        assert summary.n == min(60, len(dataset.items)) and summary.score == pytest.approx(expected, abs=1e-9)
