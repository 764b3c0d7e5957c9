"""``hkllm lang ...``: detect (text, --json, --jsonl), convert, normalize, to-swc; bad input never tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hkllm.cli import app

runner = CliRunner()


def invoke(args: list[str], stdin: bytes | str | None = None):  # noqa: ANN201 - click Result
    return runner.invoke(app, ["lang", *args], input=stdin)


def test_detect_text() -> None:
    result = invoke(["detect", "我聽日要submit份report"])
    assert result.exit_code == 0
    label, confidence, *rest = result.output.strip().split("\t")
    assert label == "yue" and 0.5 < float(confidence) <= 1
    assert rest and "en" in rest[0]  # mixed: proportions shown


def test_detect_json() -> None:
    result = invoke(["detect", "--json", "你在找些什麼？"])
    data = json.loads(result.output)
    assert data["label"] == "zh-Hant" and data["script"] == "Hant"


def test_detect_jsonl_one_object_per_line_including_bad_lines() -> None:
    stdin = "我哋去食飯\n\nhello there\n".encode() + b"\xff\xfe broken\n" + "😀\n这是简体字\n".encode()
    result = invoke(["detect", "--jsonl"], stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["label"] for r in rows] == ["yue", "und", "en", "und", "und", "zh-Hans"]
    assert all({"label", "confidence"} <= r.keys() for r in rows)
    assert rows[3]["error"] == "invalid UTF-8"


def test_detect_jsonl_empty_input() -> None:
    result = invoke(["detect", "--jsonl"], b"")
    assert result.exit_code == 0 and result.output == ""


def test_detect_stdin_invalid_utf8_is_a_clear_error() -> None:
    result = invoke(["detect"], b"\xff\xfe\xfa")
    assert result.exit_code == 2
    assert "not valid UTF-8" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text", ["", "   ", "😀😀", "\x00\x01"])
def test_detect_nothing_to_judge(text: str) -> None:
    result = invoke(["detect", text])
    assert result.exit_code == 0 and result.output.startswith("und\t")


@pytest.mark.parametrize(("to", "src", "want"), [
    ("zh-Hans", "佢哋喺度睇緊電視", "佢哋喺度睇紧电视"),
    ("zh-Hant", "我们在吃饭，头发干净", "我們在吃飯，頭髮乾淨"),
])
def test_convert(to: str, src: str, want: str) -> None:
    result = invoke(["convert", "--to", to, src])
    assert result.exit_code == 0 and result.output.strip() == want


def test_convert_from_stdin_and_bad_target() -> None:
    assert invoke(["convert", "--to", "zh-Hans", "-"], "頭髮\n".encode()).output == "头发\n"
    bad = invoke(["convert", "--to", "klingon", "字"])
    assert bad.exit_code == 2 and "zh-Hant or zh-Hans" in bad.output


def test_normalize_and_to_swc() -> None:
    assert invoke(["normalize", "ＡＢＣ「裏面」"]).output.strip() == 'abc"里面"'
    assert invoke(["to-swc", "佢哋冇嚟"]).output.strip() == "他們沒有來"


def test_real_process_with_binary_junk_on_stdin() -> None:
    code = "from hkllm.cli import app; app()"
    proc = subprocess.run([sys.executable, "-c", code, "lang", "detect", "--jsonl"],
                          input=bytes(range(256)) * 4, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    for line in proc.stdout.decode().splitlines():
        assert json.loads(line)["label"] in ("und", "en", "yue", "zh-Hant", "zh-Hans")
