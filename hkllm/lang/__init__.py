"""兩文三語 language layer: detection, script conversion, search normalisation, Cantonese <-> SWC lexicon,
reply checks and fixes (``hkllm.lang.reply``). Pure text functions only: no engine, no I/O beyond reading
this package's data files.

``from hkllm.lang import detect`` is cheap: OpenCC and pycantonese load on first use.
"""

from hkllm.lang.cantonese import expand_query, swc_to_yue, yue_to_swc
from hkllm.lang.convert import (
    convert,
    normalize_for_search,
    script_counts,
    to_hans,
    to_hant,
)
from hkllm.lang.detect import LABELS, LanguageGuess, detect

__all__ = [
    "LABELS",
    "LanguageGuess",
    "convert",
    "detect",
    "expand_query",
    "normalize_for_search",
    "script_counts",
    "swc_to_yue",
    "to_hans",
    "to_hant",
    "yue_to_swc",
]
