"""Cantonese <-> SWC lexical mapping: tables of Hong Kong sentences."""

from __future__ import annotations

import pytest

from hkllm.lang.cantonese import (
    CONTEXT_TAGS,
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
    ("這是我的目的", "呢個係我嘅目的"),  # 目的 keeps its 的; 這 alone is 呢個 (呢 needs a classifier)
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
    # 不 answering a question ("No,") is 唔係; as a verb's negation it stays 唔
    ("不，你不需要帶身份證。", "唔係，你唔需要帶身份證。"),
    ("他問我去不去，我說：「不。」", "佢問我去唔去，我講：「唔係。」"),
    ("不 ，這樣不行。", "唔係 ，噉樣唔得。"),
    ("我不去，你去嗎？", "我唔去，你去嗎？"),
    # affirmative clause-final 的 after a modal is 㗎 (可以的。 is not 可以嘅。); attributive 的 stays 嘅
    ("你也可以的。", "你都可以㗎。"),
    ("你也可以的「東涌」。", "你都可以㗎「東涌」。"),  # the model's missing full stop before the quote
    ("他會的，放心。", "佢會㗎，放心。"),
    ("這是可以的理由。", "呢個係可以嘅理由。"),
    ("你會的東西很多。", "你會嘅嘢好多。"),
    # rows fixed after rating the localized replies of bench/reply_fidelity.py (2026-12-03)
    ("這包括你的薪水。", "呢個包括你嘅薪水。"),  # was 呢包括
    ("看看他們是不是有不對的地方。", "睇吓佢哋係咪有唔對嘅地方。"),  # was 是唔是
    ("你去不去？", "你去唔去？"),  # A-not-A
    ("把一些不用的電器關掉。", "把一啲唔用嘅電器關掉。"),  # unused appliances, was 唔使嘅 ("no need")
    ("不用擔心。", "唔使擔心。"),  # 不用 meaning "no need" stays 唔使
    ("每月一萬元到兩萬元不等。", "每月一萬元到兩萬元不等。"),  # "varying", was 唔等 ("do not wait")
    ("你不能自行修理。", "你唔可以自行修理。"),
    ("這種方法這次不行。", "呢種方法呢次唔得。"),
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
    seen: set[str] = set()
    in_context: set[str] = set()
    for row in lexicon():
        assert row.tag in ("word", "token", "part", *CONTEXT_TAGS)
        if row.tag in CONTEXT_TAGS:  # SWC -> yue in context: may repeat a yue word, not an SWC one
            assert row.swc and not in_context & set(row.swc)
            in_context.update(row.swc)
            continue
        assert row.yue and row.yue not in seen
        seen.add(row.yue)


def test_contextual_rows_are_not_used_out_of_context() -> None:
    assert alternatives("不") == ["唔"]  # not 唔係: that is 不 only as an answer of its own
    assert yue_to_swc("唔係，你唔使嚟。") == "不是，你不用來。"
    assert swc_to_yue("可以的話就去。") == "可以的話就去。"  # 的話 is one word, not clause-final 的


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
