"""Script conversion (OpenCC) and the search normaliser.

* ``to_hant`` / ``to_hans`` / ``convert``: Hong Kong Traditional (OpenCC ``s2hk``) and Simplified
  (``hk2s``). ``to_hant`` only rewrites the Simplified parts of a text: OpenCC's ``s2hk`` applied to
  text that is already Traditional "corrects" Cantonese and HK usage (晒→曬, 吓→嚇, 只→隻, 梁→樑), so
  clauses that are already Traditional are left alone and, in mixed clauses, only the characters that
  exist solely in Simplified are replaced.
* ``script_counts``: how many characters of a text exist only in Traditional / only in Simplified,
  from OpenCC's own character dictionaries (shipped as ``script_chars.json``; ``build_script_tables``
  regenerates it from the installed OpenCC).
* ``normalize_for_search``: width, punctuation, case and variant folding, so that a Simplified query
  matches Traditional text and the reverse (the pivot is Simplified, where variants merge).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import unicodedata
from functools import cache
from pathlib import Path

_DATA = Path(__file__).with_name("script_chars.json")

# Characters that OpenCC counts as Simplified-only but Hong Kong writing uses as they are (走晒 "all
# gone", 試吓 "try it", 响 for 喺, 恒 in 恒生 and in names): never Simplified evidence, never converted
# by ``to_hant``.
HK_CANTONESE_SHARED = "晒吓响恒"

TARGETS = {
    "zh-hant": "zh-Hant", "hant": "zh-Hant", "zh-hk": "zh-Hant", "zh-tw": "zh-Hant", "traditional": "zh-Hant",
    "yue": "zh-Hant", "zh-hans": "zh-Hans", "hans": "zh-Hans", "zh-cn": "zh-Hans", "simplified": "zh-Hans",
}

_CLAUSE_RE = re.compile(r"[^，。！？；：、,.!?;:\n「」『』（）()《》\s]+|[，。！？；：、,.!?;:\n「」『』（）()《》\s]+")


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class _Converter:
    """An OpenCC converter that accepts any str (lone surrogates, which OpenCC cannot encode, become U+FFFD)."""

    def __init__(self, config: str) -> None:
        import opencc  # imported lazily: detection of Latin-only text never needs it

        self._cc = opencc.OpenCC(config)

    def convert(self, text: str) -> str:
        try:
            return self._cc.convert(text)
        except UnicodeEncodeError:
            return self._cc.convert(_SURROGATE_RE.sub("\ufffd", text))


@cache
def _opencc(config: str) -> _Converter:
    return _Converter(config)


@cache
def _tables() -> dict[str, str]:
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    return {"trad_only": data["trad_only"], "simp_only": data["simp_only"]}


def _char_class(chars: str) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


@cache
def _trad_re() -> re.Pattern[str]:
    return _char_class(_tables()["trad_only"])


@cache
def _simp_re() -> re.Pattern[str]:
    return _char_class(_tables()["simp_only"])


@cache
def _script_table() -> dict[int, str]:
    """str.translate table: Traditional-only characters -> \x01, Simplified-only -> \x02."""
    tables = _tables()
    return {**{ord(c): "\x01" for c in tables["trad_only"]}, **{ord(c): "\x02" for c in tables["simp_only"]}}


@cache
def simp_only_chars() -> frozenset[str]:
    return frozenset(_tables()["simp_only"])


@cache
def trad_only_chars() -> frozenset[str]:
    return frozenset(_tables()["trad_only"])


def _changed(text: str, converted: str) -> int:
    if len(converted) != len(text):
        return 1
    return sum(1 for a, b in zip(text, converted, strict=True) if a != b and a not in HK_CANTONESE_SHARED)


def _changed_both(text: str, one: str, two: str) -> int:
    if len(one) != len(text) or len(two) != len(text):
        return 1
    return sum(1 for a, b, c in zip(text, one, two, strict=True)
               if a != b and a != c and a not in HK_CANTONESE_SHARED)


def script_counts(text: str) -> tuple[int, int]:
    """Traditional and Simplified evidence: characters that exist only in one script.

    On a tie (typically none of either: 什么, 坏, 极 are also rare Traditional characters) OpenCC's
    phrase-aware conversions decide: how many characters ``t2s`` and ``s2t`` would change.
    """
    marked = text.translate(_script_table())
    trad, simp = marked.count("\x01"), marked.count("\x02")
    if "\x01" in text or "\x02" in text:  # control characters in the input itself
        trad, simp = trad - text.count("\x01"), simp - text.count("\x02")
    if trad == simp:
        trad = _changed(text, _opencc("t2s").convert(text))
        # Simplified evidence: what both s2t and s2hk change (s2t alone also "corrects" 吃→喫, 才→纔,
        # which Hong Kong writes as they are; s2hk alone turns 說 into 説).
        simp = _changed_both(text, _opencc("s2t").convert(text), _opencc("s2hk").convert(text))
    return trad, simp


def to_hans(text: str) -> str:
    """Simplified Chinese (OpenCC ``hk2s``: HK variants and standard Traditional both convert)."""
    return _opencc("hk2s").convert(text) if text else text


def to_hant_full(text: str) -> str:
    """Plain OpenCC ``s2hk`` on the whole text (also rewrites characters that were already fine)."""
    return _opencc("s2hk").convert(text) if text else text


def to_hant(text: str) -> str:
    """Hong Kong Traditional, touching only what is Simplified.

    Per clause (text between punctuation): a clause with Traditional-only characters and no
    Simplified-only one is kept. Otherwise OpenCC ``s2hk`` (phrase-aware: 干净→乾淨, 根据→根據) is taken
    where the character is Simplified-only, or where both ``s2t`` and ``s2hk`` change it and it is not
    Traditional-only (据 in 根据 is also a rare Traditional character). Everything else stays as
    written, so Cantonese and Hong Kong usage survive (晒, 吓, 只係, 梁).
    """
    if not text or text.isascii():
        return text
    simp_only = simp_only_chars()
    trad_only = trad_only_chars()
    s2t, s2hk = _opencc("s2t"), _opencc("s2hk")
    out: list[str] = []
    for clause in _CLAUSE_RE.findall(text):
        hk = s2hk.convert(clause)
        if hk == clause:
            out.append(clause)
            continue
        has_simp = any(c in simp_only for c in clause)
        if not has_simp and any(c in trad_only for c in clause):  # Traditional already (准, 局, 了 stay)
            out.append(clause)
            continue
        std = s2t.convert(clause)
        if len(hk) != len(clause) or len(std) != len(clause):  # a phrase of another length: per character
            out.append("".join(s2hk.convert(c) if c in simp_only else c for c in clause))
            continue
        out.append("".join(
            new if old in simp_only or (old != new and old != alt and old not in trad_only
                                        and old not in HK_CANTONESE_SHARED) else old
            for old, new, alt in zip(clause, hk, std, strict=True)))
    return "".join(out)


def convert(text: str, to: str) -> str:
    """Convert to ``zh-Hant`` (Hong Kong Traditional) or ``zh-Hans`` (Simplified). Aliases accepted."""
    target = TARGETS.get(to.strip().lower())
    if target is None:
        raise ValueError(f"unknown script target {to!r}; use zh-Hant or zh-Hans")
    return to_hant(text) if target == "zh-Hant" else to_hans(text)


# -- search normaliser -------------------------------------------------------------------------------

_PUNCT = {
    "。": ".", "｡": ".", "、": ",", "､": ",", "「": '"', "」": '"', "『": '"', "』": '"', "“": '"', "”": '"',
    "‘": "'", "’": "'", "《": '"', "》": '"', "〈": '"', "〉": '"', "【": "[", "】": "]", "〔": "[", "〕": "]",
    "〖": "[", "〗": "]", "…": "...", "⋯": "...", "—": "-", "–": "-", "―": "-", "～": "~", "〜": "~", "・": " ",
    "·": " ", "‧": " ", "　": " ", "\u00a0": " ", "\u200b": "", "\ufeff": "",
}
# Variant folding that OpenCC's Simplified pivot does not already do (HK Cantonese spellings).
_VARIANTS = {"噉": "咁", "俾": "畀", "哂": "晒", "揾": "搵", "𠵱": "而", "嘞": "喇", "吖": "呀"}
_FOLD = str.maketrans({**_PUNCT, **_VARIANTS})
_SPACE_RE = re.compile(r"\s+")


def normalize_for_search(text: str) -> str:
    """Fold a text for matching: NFKC (full/half width), punctuation, case, Traditional/Simplified and
    HK variants (pivot: Simplified), whitespace. Both the index and the query go through it."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    # Fold after OpenCC too: hk2s maps 搵 to 揾 and that must meet the same form as the query's 搵.
    text = to_hans(text).translate(_FOLD)
    return _SPACE_RE.sub(" ", text).strip()


# -- script tables -------------------------------------------------------------------------------------


def _read_ocd2(dict_tool: Path, ocd2: Path, workdir: Path) -> dict[str, list[str]]:
    out = workdir / (ocd2.stem + ".txt")
    subprocess.run([str(dict_tool), "-i", str(ocd2), "-o", str(out), "-f", "ocd2", "-t", "text"],
                   check=True, capture_output=True)
    table: dict[str, list[str]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        key, _, values = line.partition("\t")
        table[key] = values.split(" ")
    return table


def build_script_tables() -> dict[str, str]:
    """Derive the Traditional-only and Simplified-only character sets from the installed OpenCC.

    Traditional characters: keys of TSCharacters(+Ext), all candidates of STCharacters, HK and TW
    variants; Simplified: the reverse. A character in both (干, 后, 里, 台, 只, 系) is evidence for neither;
    a Traditional-only one must also be changed by ``t2s`` (so 着, which both scripts write, is excluded).
    """
    import opencc

    root = Path(opencc.__file__).parent / "clib"
    tool, share = root / "bin" / "opencc_dict", root / "share" / "opencc"
    trad: set[str] = set()
    simp: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("TSCharacters", "TSCharactersExt"):
            for key, values in _read_ocd2(tool, share / f"{name}.ocd2", work).items():
                trad.add(key)
                simp.update(values)
        for key, values in _read_ocd2(tool, share / "STCharacters.ocd2", work).items():
            simp.add(key)
            trad.update(values)
        for name in ("HKVariants", "TWVariants"):
            for key, values in _read_ocd2(tool, share / f"{name}.ocd2", work).items():
                trad.add(key)
                trad.update(values)
    t2s, s2t = opencc.OpenCC("t2s"), opencc.OpenCC("s2t")
    trad_only = sorted(c for c in trad - simp if len(c) == 1 and t2s.convert(c) != c)
    simp_only = sorted(c for c in simp - trad if len(c) == 1 and s2t.convert(c) != c and c not in HK_CANTONESE_SHARED)
    return {"trad_only": "".join(trad_only), "simp_only": "".join(simp_only)}


def write_script_tables(path: Path = _DATA) -> None:
    import opencc

    tables = build_script_tables()
    doc = {"source": f"OpenCC {opencc.__version__} character dictionaries (see convert.build_script_tables)",
           **tables}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":  # python -m hkllm.lang.convert  (regenerates script_chars.json)
    write_script_tables()
