"""The strict benchmark readers and shared helpers of ``hkllm.evals.task`` (not the registry): every bad file
names file, row and line; items, datasets, interleaving, the multiple-choice and translation bases."""

from __future__ import annotations

from pathlib import Path

import pytest

from hkllm.errors import InvalidRequest
from hkllm.evals.task import (
    BenchmarkFormatError,
    BenchmarkNotFound,
    Dataset,
    Item,
    ItemResult,
    MultipleChoiceTask,
    Scored,
    TranslationTask,
    by_subset,
    collect,
    interleave,
    locate,
    mcq_item,
    mean,
    read_csv_rows,
    read_json_array,
    read_jsonl,
    require_fields,
    require_width,
)


def test_format_error_message_and_type(tmp_path: Path) -> None:
    err = BenchmarkFormatError(tmp_path / "x.csv", "expected 6 columns", row=3, line=7)
    assert str(err) == f"{tmp_path / 'x.csv'}: row 3 (line 7): expected 6 columns"
    assert (err.row, err.path, err.code, err.status) == (3, str(tmp_path / "x.csv"), "benchmark_format", 400)
    assert isinstance(err, InvalidRequest)
    assert str(BenchmarkFormatError("f.json", "bad")) == "f.json: bad"
    assert str(BenchmarkFormatError("f.json", "bad", line=4)) == "f.json: bad"  # a line alone is not shown


def test_json_array_reader(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf[{"question": "\xe9\xa6\x99\xe6\xb8\xaf"}]')  # BOM, UTF-8
    assert read_json_array(path) == [{"question": "香港"}]
    path.write_bytes('[{"q": "香港"}]'.encode("big5"))
    with pytest.raises(BenchmarkFormatError, match=r"a\.json: not UTF-8 text"):
        read_json_array(path)
    path.write_text('[{"q": 1}, 2]', encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"row 2: expected an object, found int"):
        read_json_array(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"not valid JSON \(line 1, column 1"):
        read_json_array(path)


def test_jsonl_reader_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_bytes(b'\n{"a": 1}\r\n\n{"b": 2}\n')
    assert read_jsonl(path) == [(2, {"a": 1}), (4, {"b": 2})]
    path.write_text('\n{"a": 1}\n\n[2]\n', encoding="utf-8")
    with pytest.raises(BenchmarkFormatError, match=r"row 2 \(line 4\): expected an object, found list"):
        read_jsonl(path)


def test_csv_reader_quoted_newlines_blank_rows_and_stray_cr(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes('"多行\n問題",a,b\n\n,,\nx,"y, z",w\r\nq\r,e,f\n'.encode())
    assert read_csv_rows(path) == [(1, ["多行\n問題", "a", "b"]), (5, ["x", "y, z", "w"]), (6, ["q", "e", "f"])]


def test_width_and_field_checks(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with pytest.raises(BenchmarkFormatError, match=r"row 3 \(line 7\): expected 3 columns, found 2: \['a', 'b'\]"):
        require_width(path, 3, ["a", "b"], 3, line=7)
    require_width(path, 3, ["a", "b", "c"], 3)  # the right width passes
    fields: dict[str, type | tuple[type, ...]] = {"q": str, "a": (str, int)}
    with pytest.raises(BenchmarkFormatError, match=r"missing field 'a' \(fields present: q, extra; unexpected: extra\)"):
        require_fields(path, 2, {"q": "x", "extra": 1}, fields)
    with pytest.raises(BenchmarkFormatError, match=r"missing field 'q', 'a' \(fields present: none\)"):
        require_fields(path, 2, {}, fields)
    with pytest.raises(BenchmarkFormatError, match=r"field 'a' should be str or int, found float"):
        require_fields(path, 2, {"q": "x", "a": 1.5}, fields)
    with pytest.raises(BenchmarkFormatError) as info:
        require_fields(path, 2, {"q": "x", "no": 3}, fields, optional=["no"])
    assert "unexpected" not in str(info.value)  # optional fields are not "unexpected"
    require_fields(path, 2, {"q": "x", "a": 4}, fields)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"question": "", "options": {"A": "x", "B": "y"}, "answer": "A"}, "empty question"),
        ({"question": 3, "options": {"A": "x", "B": "y"}, "answer": "A"}, "empty question"),
        ({"question": "Q", "options": {"A": "x", "B": ""}, "answer": "A"}, "empty option B"),
        ({"question": "Q", "options": {"A": "x", "B": None}, "answer": "A"}, "fewer than two options"),
        ({"question": "Q", "options": {"A": "x", "B": "y"}, "answer": None}, "answer None is not one of the options A, B"),
        ({"question": "Q", "options": {"A": "x", "B": "y"}, "answer": "E"}, "answer 'E' is not one of the options A, B"),
    ],
)
def test_bad_multiple_choice_rows(kwargs: dict, problem: str) -> None:
    with pytest.raises(BenchmarkFormatError) as info:
        mcq_item(Path("f.csv"), 4, item_id="i", subset="s", lang="yue", line=9, **kwargs)
    assert str(info.value) == f"f.csv: row 4 (line 9): {problem}"


def test_multiple_choice_rows_are_normalised() -> None:
    item = mcq_item(Path("f.csv"), 1, item_id="i", subset="s", lang="yue", question=" 邊個啱？ ",
                    options={"A": " 甲 ", "B": "乙", "C": None}, answer=" b ")
    assert (item.prompt, item.answer, item.options, item.meta) == ("邊個啱？", "B", {"A": "甲", "B": "乙"}, {"lang": "yue"})
    three = mcq_item(Path("f.csv"), 1, item_id="i", subset="s", lang="yue", question="Q",
                     options={"A": "x", "B": "", "C": "z"}, answer="C", allow_empty_options=True)
    assert list(three.options) == ["A", "C"]


def test_collect_raises_or_notes_bad_rows() -> None:
    def build(n: int) -> Item | None:
        if n == 2:
            raise BenchmarkFormatError("f", "bad", row=n)
        return None if n == 3 else Item(id=str(n), subset="s", prompt="p", answer="a")

    with pytest.raises(BenchmarkFormatError):
        collect([1, 2, 3, 4], build, skip_invalid=False, skipped=[])
    skipped: list[str] = []
    items = collect([1, 2, 3, 4], build, skip_invalid=True, skipped=skipped)
    assert [i.id for i in items] == ["1", "4"] and skipped == ["f: row 2: bad"]


def test_helpers() -> None:
    assert interleave([[1, 2, 3], [4], [5, 6]]) == [1, 4, 5, 2, 6, 3]  # type: ignore[list-item]
    assert interleave([]) == [] and mean([]) == 0.0 and mean([1.0, 2.0]) == 1.5
    results = [ItemResult(Item(id=str(i), subset=s, prompt="", answer=""), "", Scored(None, v))
               for i, (s, v) in enumerate([("b", 1.0), ("a", 0.0), ("b", 0.0)])]
    assert by_subset(results) == {"a": {"score": 0.0, "n": 1}, "b": {"score": 0.5, "n": 2}}
    assert list(by_subset(results)) == ["a", "b"]  # sorted


def test_locate(tmp_path: Path) -> None:
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "z.json").write_text("[]", encoding="utf-8")
    assert locate(tmp_path, ["x.json", "y/z.json"], what="z") == tmp_path / "y" / "z.json"
    assert locate(tmp_path, ["nope", ""], what="folder") == tmp_path
    with pytest.raises(BenchmarkNotFound, match=r"thing not found under .*looked for: .*/x, .*/w/v\)"):
        locate(tmp_path, ["x", "w/v"], what="thing")
    with pytest.raises(BenchmarkNotFound, match="does not exist"):
        locate(tmp_path / "missing", ["x"], what="thing")


def test_dataset_shots_and_fingerprint(tmp_path: Path) -> None:
    items = [Item(id=f"i{n}", subset="s" if n < 3 else "t", prompt="p", answer="a") for n in range(5)]
    dev = [Item(id="d1", subset="t", prompt="p", answer="a")]
    path = tmp_path / "f.json"
    path.write_text("[1]", encoding="utf-8")
    ds = Dataset(items=items, files=[path], exemplars={"t": dev})
    assert [i.id for i in ds.shots_for(items[0], 5)] == ["i1", "i2"]  # no dev split: other items of the subset
    assert [i.id for i in ds.shots_for(items[3], 5)] == ["d1"]  # the dev split when there is one
    assert ds.shots_for(items[0], 0) == [] and ds.shots_for(items[0], -1) == []
    first = ds.fingerprint()
    assert first == Dataset(items=[], files=[path], exemplars={}).fingerprint()  # the files, not the items
    path.write_text("[2]", encoding="utf-8")
    assert ds.fingerprint() != first
    assert Dataset(items=[], files=[], extra_fingerprint="x").fingerprint() != Dataset(items=[], files=[]).fingerprint()


# ---------------------------------------------------------------- the two shared task bases


class _Mcq(MultipleChoiceTask):
    id = "test-mcq"
    title = "t"

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        raise NotImplementedError


YUE_ITEM = Item(id="q", subset="s", prompt="邊個係哺乳類？", answer="B", options={"A": "蛇", "B": "鯨魚", "C": "鯊魚"},
                meta={"lang": "yue"})
EN_ITEM = Item(id="e", subset="s", prompt="Which is a mammal?", answer="C", options={"A": "snake", "B": "shark",
                                                                                      "C": "whale"}, meta={"lang": "en"})


def test_multiple_choice_prompts_in_both_languages() -> None:
    task = _Mcq()
    msgs = task.messages(YUE_ITEM, [YUE_ITEM])
    assert msgs[0]["content"].endswith("（A、B、C）。") and msgs[-1]["content"] == "問題：邊個係哺乳類？\nA. 蛇\nB. 鯨魚\nC. 鯊魚\n答案："
    assert msgs[2] == {"role": "assistant", "content": "答案係 B"}
    en = task.messages(EN_ITEM, [])
    assert "(A, B, C)" in en[0]["content"] and en[-1]["content"].startswith("Question: Which is a mammal?\nA. snake")


@pytest.mark.parametrize(("item", "reply", "value"), [(YUE_ITEM, "我揀 B", 1.0), (YUE_ITEM, "鯨魚", 1.0),
                                                      (YUE_ITEM, "答案係 A", 0.0), (EN_ITEM, "The answer is (C).", 1.0),
                                                      (EN_ITEM, "I do not know", 0.0)])
def test_multiple_choice_scoring(item: Item, reply: str, value: float) -> None:
    scored = _Mcq().score(item, reply)
    assert scored.value == value and scored.correct is (value == 1.0)


def test_reference_and_wrong_replies_score_one_and_zero() -> None:
    task = _Mcq()
    last = Item(id="z", subset="s", prompt="Q", answer="C", options={"A": "x", "B": "y", "C": "z"}, meta={"lang": "yue"})
    for item in (YUE_ITEM, EN_ITEM, last):  # the wrong letter wraps around after the last option
        assert task.score(item, task.reference_reply(item)).value == 1.0
        assert task.score(item, task.wrong_reply(item)).value == 0.0
    assert task.wrong_reply(last) == "答案係 A"


@pytest.mark.parametrize(
    ("output", "source", "cleaned"),
    [
        ("譯文：「你好」\n\n解釋：呢個係……", "Hello", "你好"),
        ("「你好」", "「Hello」", "「你好」"),  # the source is quoted: keep the quotes
        ("Translation: 'hi'", "", "hi"),
        ("廣東話：我哋去行山啦。", "Let's go hiking.", "我哋去行山啦。"),
        ("  “我今日好busy”  ", "I am busy today", "我今日好busy"),
        ("", "", ""),
        ('"', "", '"'),
    ],
)
def test_translation_output_cleaning(output: str, source: str, cleaned: str) -> None:
    assert TranslationTask.clean(output, source) == cleaned


class _Trans(TranslationTask):
    id = "test-trans"
    title = "t"

    def load(self, data_dir: Path, *, skip_invalid: bool = False) -> Dataset:
        raise NotImplementedError


def test_translation_aggregate_per_direction() -> None:
    task = _Trans()
    def item(n: int, src: str, tgt: str, ref: str) -> Item:
        return Item(id=str(n), subset=f"{src}-{tgt}", prompt="src", answer=ref, meta={"src": src, "tgt": tgt})

    results = [ItemResult(item(1, "en", "yue", "我哋去行山啦。"), "我哋去行山啦。", Scored("", 1.0)),
               ItemResult(item(2, "yue", "en", "Let's go hiking."), "∅", Scored("", 0.0))]
    agg = task.aggregate(results)
    per = agg.metrics["by_direction"]
    assert set(per) == {"en-yue", "yue-en"}
    assert per["en-yue"]["bleu"] == pytest.approx(1.0) and per["yue-en"]["bleu"] == 0.0
    assert agg.score == pytest.approx(0.5) and agg.metrics["bleu"] == agg.score
    assert per["en-yue"]["n"] == 1 and 0.0 <= agg.metrics["chrf"] <= 1.0
    msgs = task.messages(results[1].item, [])
    assert msgs[0]["content"].startswith("Translate the user's Hong Kong Cantonese text into fluent English")
    assert "翻譯成香港廣東話" in task.messages(results[0].item, [])[0]["content"]

