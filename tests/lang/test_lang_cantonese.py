"""Cantonese <-> SWC lexical mapping: tables of Hong Kong sentences."""

from __future__ import annotations

import pytest

from hkllm.lang.cantonese import (
    alternatives,
    expand_query,
    jyutping,
    lexicon,
    segment,
    swc_to_yue,
    yue_to_swc,
)

YUE_TO_SWC = [
    ("佢哋喺度睇緊電視", "他們正在看着電視"),
    ("我食咗飯", "我吃了飯"),
    ("你講咩呀？", "你說什麼？"),
    ("點樣申請綜援", "怎樣申請綜援"),
    ("呢度嘅目的係乜嘢", "這裏的目的是什麼"),
    ("我同佢係好朋友，冇關係", "我和他是好朋友，沒有關係"),  # 關係 keeps its 係
    ("佢唔係老師", "他不是老師"),
    ("我哋聽日返工", "我們明天上班"),
    ("佢哋喺度食饭", "他们正在吃饭"),  # Simplified in, Simplified out
    ("Hello", "Hello"),
    ("", ""),
]


@pytest.mark.parametrize(("yue", "swc"), YUE_TO_SWC)
def test_yue_to_swc(yue: str, swc: str) -> None:
    assert yue_to_swc(yue) == swc


SWC_TO_YUE = [
    ("他們沒有來", "佢哋冇嚟"),
    ("我不知道", "我唔知道"),
    ("這是我的目的", "呢係我嘅目的"),  # 目的 keeps its 的
    ("我們是否需要了解", "我哋是否需要了解"),  # 是否 and 了解 are not 係 / 咗
    ("他在看書", "佢喺睇書"),
    ("現在的問題是什麼？", "而家嘅問題係乜嘢？"),
    ("其他人在哪裏？", "其他人喺邊度？"),
    ("我們正在處理", "我哋喺度處理"),
    ("他们没有来", "佢哋冇嚟"),  # Simplified in, Simplified out (these characters are the same)
    # rewriting a model's SWC reply: words that contain a mapped character stay whole
    ("香港以多元文化聞名。", "香港以多元文化聞名。"),  # not 多蚊
    ("先搭港鐵到荃灣站。", "先搭港鐵到荃灣站。"),  # not 荃灣企
    ("價錢是一百元。", "價錢係一百元。"),
    ("對我來說，這個很好吃。", "對我嚟講，呢個好好吃。"),
    ("大家都是國家的一部分。", "大家都係國家嘅一部分。"),  # 大家 / 國家 are not 大屋企
    ("我們在家裏等了很久。", "我哋喺屋企等咗好久。"),
    ("這樣就可以了。", "噉樣就可以喇。"),  # clause-final 了 is a particle
    ("他會參加明天的會議。", "佢會參加聽日嘅會議。"),  # 會 (will) is not 識
    ("我也想去元朗看看。", "我都想去元朗睇吓。"),  # 想 (want) is not 諗
    ("你的電腦很慢，怎麼辦？", "你嘅電腦好慢，點算？"),
    ("請提前了解公司的背景，確保衣服和鞋子是乾淨的。", "請提前了解公司嘅背景，確保衣服同鞋子係乾淨嘅。"),
    ("為什麼運動對健康很重要？", "點解運動對健康好重要？"),
    ("我沒去過，但是他去過。", "我冇去過，但係佢去過。"),
    ("這樣可以讓你保持預算。", "噉樣可以畀你保持預算。"),
    ("讓步是必要的。", "讓步係必要嘅。"),  # 讓步 is one word
    ("那麼你想怎麼做？", "咁你想點做？"),
]


@pytest.mark.parametrize(("swc", "yue"), SWC_TO_YUE)
def test_swc_to_yue(swc: str, yue: str) -> None:
    assert swc_to_yue(swc) == yue


def test_without_segmenter_only_safe_words_change() -> None:
    assert yue_to_swc("冇關係", use_segmenter=False) == "沒有關係"
    assert yue_to_swc("我同佢係朋友，冇關係", use_segmenter=False) == "我和他是朋友，沒有關係"


@pytest.mark.parametrize(("word", "expected"), [
    ("睇", "看"), ("看", "睇"), ("佢", "他"), ("係", "是"), ("冇", "沒有"), ("喺", "在"), ("咗", "了"), ("哋", "們"),
    ("唔", "不"), ("嘅", "的"),
])
def test_alternatives_cover_the_issue_list(word: str, expected: str) -> None:
    assert expected in alternatives(word)


def test_particles_have_no_swc_and_are_dropped() -> None:
    particles = [row for row in lexicon() if row.tag == "part"]
    assert particles and all(not row.swc for row in particles)
    assert yue_to_swc("好㗎") == "好"


def test_lexicon_rows_are_well_formed() -> None:
    seen = set()
    for row in lexicon():
        assert row.yue and row.yue not in seen
        seen.add(row.yue)
        assert row.tag in ("word", "token", "part")


def test_expand_query() -> None:
    assert expand_query("點樣申請綜援") == ["點樣申請綜援", "怎樣申請綜援"]
    assert expand_query("他們在哪裏")[0] == "他們在哪裏"
    assert len(expand_query("他們在哪裏")) == 2
    assert expand_query("MTR") == ["MTR"]


def test_segment_and_jyutping() -> None:
    assert segment("佢哋喺度") == ["佢哋", "喺度"]
    assert segment("") == []
    pairs = jyutping("我聽日要submit")
    assert pairs[0] == ("我", "ngo5")
    assert ("submit", None) in pairs
