"""``hkllm lang ...``: detect, convert, normalise, map Cantonese <-> SWC."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from hkllm.lang.convert import convert as convert_script
from hkllm.lang.convert import normalize_for_search
from hkllm.lang.detect import detect as detect_language

app = typer.Typer(help="兩文三語 language tools: detect, convert script, normalise.", no_args_is_help=True)


def _read_stdin_text() -> str:
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        typer.echo(f"error: standard input is not valid UTF-8 (byte {exc.start})", err=True)
        raise typer.Exit(2) from None


def _text_arg(text: str | None) -> str:
    if text is None or text == "-":
        if sys.stdin.isatty():
            typer.echo("error: give a text argument or pipe text on standard input", err=True)
            raise typer.Exit(2)
        return _read_stdin_text()
    return text


@app.command()
def detect(
    text: Annotated[str | None, typer.Argument(help="Text to judge; '-' or none reads standard input.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Read one text per line on stdin, write one JSON per line.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Say whether a text is yue (Cantonese), zh-Hant, zh-Hans, en or und, with a confidence."""
    if jsonl:
        out = sys.stdout
        for number, raw in enumerate(sys.stdin.buffer, start=1):
            line = raw.rstrip(b"\r\n")
            try:
                decoded = line.decode("utf-8")
            except UnicodeDecodeError:
                record = {"line": number, "label": "und", "confidence": 0.0, "error": "invalid UTF-8"}
            else:
                record = {"line": number, **detect_language(decoded).to_dict()}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()
        return
    guess = detect_language(_text_arg(text))
    if as_json:
        typer.echo(json.dumps(guess.to_dict(), ensure_ascii=False))
        return
    parts = ", ".join(f"{k} {v:.0%}" for k, v in sorted(guess.proportions.items(), key=lambda kv: -kv[1]))
    typer.echo(f"{guess.label}\t{guess.confidence:.2f}" + (f"\t({parts})" if guess.mixed else ""))


@app.command()
def convert(
    text: Annotated[str | None, typer.Argument(help="Text to convert; '-' or none reads standard input.")] = None,
    to: Annotated[str, typer.Option("--to", help="zh-Hant (Hong Kong Traditional) or zh-Hans (Simplified).")] = "zh-Hant",
) -> None:
    """Convert Chinese script with OpenCC (s2hk / hk2s)."""
    source = _text_arg(text)
    try:
        result = convert_script(source, to)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(result, nl=not result.endswith("\n"))


@app.command()
def normalize(
    text: Annotated[str | None, typer.Argument(help="Text; '-' or none reads standard input.")] = None,
) -> None:
    """Print the search-normalised form (width, punctuation, case, script and variant folding)."""
    typer.echo(normalize_for_search(_text_arg(text)))


@app.command("to-swc")
def to_swc(
    text: Annotated[str | None, typer.Argument(help="Cantonese text; '-' or none reads standard input.")] = None,
) -> None:
    """Replace Cantonese words with Standard Written Chinese ones (lexical, not a translation)."""
    from hkllm.lang.cantonese import yue_to_swc

    typer.echo(yue_to_swc(_text_arg(text)))
