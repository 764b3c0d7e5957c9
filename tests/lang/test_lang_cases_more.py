"""More Hong Kong cases for the language layer: code-switching, HK character variants (着/著, 裏/裡, 峯),
numerals, place names, quotes, one-word replies, emoji; script conversion of legal terms (資料使用者, 條例,
附表) with round trips; the search normaliser on HK variants; Cantonese <-> SWC rewrites."""

from __future__ import annotations

import pytest

from hkllm.lang import LABELS, convert, detect, normalize_for_search, script_counts, to_hans, to_hant
from hkllm.lang.cantonese import alternatives, expand_query, segment_swc, swc_to_yue, yue_to_swc
from hkllm.lang.detect import exception_words, marker_hits

LABELLED = [
    # code-switching: Chinese grammar, English content words
    ("我今日好busy", "yue"),
    ("今日好busy呀", "yue"),
    ("個report幾時交？", "yue"),
    ("Meeting 改咗去三點", "yue"),
    ("d嘢好平", "yue"),
    ("The meeting is moved to 3pm", "en"),
    ("When is the report due?", "en"),
    # HK character variants
    ("佢着咗件新衫", "yue"),
    ("佢著咗件新衫", "yue"),
    ("他穿著新衣服", "zh-Hant"),
    ("喺屋企裏面", "yue"),
    ("在家裡面", "zh-Hant"),
    ("山峯好靚", "yue"),
    # place names and one-word Chinese: no marker, labelled by script
    ("荃灣", "zh-Hant"),
    ("旺角", "zh-Hant"),
    ("荃湾", "zh-Hans"),
    ("我住喺旺角", "yue"),
    ("我哋去咗荃灣", "yue"),
    # numerals, money, dates
    ("$300", "und"),
    ("HK$1,234.50", "und"),
    ("2024年7月1日", "zh-Hant"),
    ("三點半", "zh-Hant"),
    # quotes: the speech verb decides
    ("「你好嗎？」佢問", "yue"),
    ("他說：「你好嗎？」", "zh-Hant"),
    # one-word replies
    ("喺", "yue"), ("冇", "yue"), ("嘅", "yue"), ("咁", "yue"), ("係咪", "yue"), ("唔該", "yue"), ("點解", "yue"),
    ("乜嘢", "yue"), ("在", "zh-Hant"), ("的", "zh-Hant"), ("沒有", "zh-Hant"), ("這樣", "zh-Hant"),
    ("甚麼", "zh-Hant"), ("為什麼", "zh-Hant"), ("没有", "zh-Hans"), ("这样", "zh-Hans"), ("什么", "zh-Hans"),
    ("为什么", "zh-Hans"), ("OK", "en"), ("Thx", "en"), ("ASAP", "en"), ("MTR", "en"),
    # emoji
    ("🙏", "und"),
    ("Hi 👋", "en"),
    # legal terms
    ("資料使用者", "zh-Hant"),
    ("资料使用者", "zh-Hans"),
    ("《個人資料(私隱)條例》", "zh-Hant"),
    ("第486章", "zh-Hant"),
    ("Basic Law", "en"),
    # Cantonese typed in Simplified script is still Cantonese
    ("佢哋喺边度？", "yue"),
    ("唔该晒", "yue"),
    ("这个data user点算", "yue"),
]


@pytest.mark.parametrize(("text", "label"), LABELLED)
def test_label(text: str, label: str) -> None:
    guess = detect(text)
    assert guess.label == label, guess.to_dict()
    assert guess.label in LABELS and 0.0 < guess.confidence <= (1.0 if label == "und" else 0.99)


@pytest.mark.parametrize("text", ["荃灣", "旺角", "2024年7月1日", "資料使用者", "第486章", "三點半"])
def test_unmarked_chinese_is_neutral_and_unsure(text: str) -> None:
    guess = detect(text)
    assert guess.neutral and guess.yue_score == guess.swc_score == 0
    assert guess.confidence <= 0.55 and guess.proportions == {guess.label: 1.0}


@pytest.mark.parametrize("text", ["我住喺旺角", "他們在哪裏？", "係咪", "没有"])
def test_marked_chinese_is_not_neutral(text: str) -> None:
    assert not detect(text).neutral


VARIANT_PAIRS = [("佢着咗件新衫", "佢著咗件新衫"), ("喺屋企裏面", "喺屋企裡面"), ("在家裡面", "在家裏面"),
                 ("山峯好靚", "山峰好靚")]


@pytest.mark.parametrize(("a", "b"), VARIANT_PAIRS)
def test_hk_variant_characters_do_not_change_the_evidence(a: str, b: str) -> None:
    ga, gb = detect(a), detect(b)
    assert (ga.label, ga.yue_score, ga.swc_score) == (gb.label, gb.yue_score, gb.swc_score)


def test_aspect_zhe_in_either_form_is_standard_chinese() -> None:
    # 着 is also a Standard Written Chinese marker (穿着), 著 is not: the scores differ, the label does not.
    assert detect("他穿著新衣服").label == detect("他穿着新衣服").label == "zh-Hant"


INVARIANT = ["佢着咗件新衫", "他穿著新衣服", "我今日好busy", "他們在哪裏？", "佢哋喺邊度？", "你食咗飯未呀？",
             "我們明天一起去看電影吧。", "Where is the nearest MTR station?"]


@pytest.mark.parametrize("text", INVARIANT)
def test_emoji_and_surrounding_whitespace_change_nothing(text: str) -> None:
    base = detect(text)
    for variant in (text + " 😀👍", "  " + text + "\n", "🇭🇰" + text):
        other = detect(variant)
        assert (other.label, other.yue_score, other.swc_score) == (base.label, base.yue_score, base.swc_score)


@pytest.mark.parametrize(("text", "label"), [("他們在哪裏？", "zh-Hans"), ("我們明天一起去看電影吧。", "zh-Hans"),
                                            ("佢哋喺邊度？", "yue"), ("你食咗飯未呀？", "yue")])
def test_simplifying_keeps_cantonese_and_turns_swc_into_zh_hans(text: str, label: str) -> None:
    guess = detect(to_hans(text))
    assert guess.label == label and guess.script == "Hans"


def test_bytes_and_str_agree() -> None:
    for text in ("我今日好busy", "資料使用者", "Hello"):
        assert detect(text.encode("utf-8")) == detect(text)
        assert detect(bytearray(text.encode("utf-8"))) == detect(text)


def test_more_english_moves_the_share_and_then_the_label() -> None:
    texts = ["我聽日要submit份report", "我聽日要submit份report同埋present個proposal",
             "我聽日要submit份report同埋present個proposal to the board"]
    shares = [detect(t).proportions["en"] for t in texts]
    assert shares == sorted(shares) and shares[0] < 0.5 < shares[-1]
    assert [detect(t).label for t in texts[:2]] == ["yue", "yue"]


def test_to_dict_is_rounded_and_complete() -> None:
    d = detect("我今日好busy").to_dict()
    assert d["label"] == "yue" and d["mixed"] is True and d["neutral"] is False and d["script"] == "Hant"
    assert set(d["proportions"]) == {"yue", "en"} and abs(sum(d["proportions"].values()) - 1) < 0.01
    assert d["evidence"]["han_chars"] == 4 and d["evidence"]["latin_words"] == 1
    assert all(len(str(v).split(".")[-1]) <= 3 for v in d["proportions"].values())


def test_marker_hits_in_both_scripts() -> None:
    assert marker_hits("佢哋喺度") == [("yue", "佢", 3.0), ("yue", "哋", 3.0), ("yue", "喺度", 3.0)]
    assert [h[1] for h in marker_hits("他们在这里", simplified=True)] == ["他", "们", "在", "这"]
    assert [h[1] for h in marker_hits("他們在這裏")] == ["他", "們", "在", "這"]
    assert {"關係", "目的", "其他", "是否", "的士"} <= exception_words()
    assert marker_hits("關係") == [] and marker_hits("的士") == []


# ---------------------------------------------------------------- script conversion

LEGAL_TERMS = [
    ("資料使用者", "资料使用者"), ("資料當事人", "资料当事人"), ("條例", "条例"), ("附表", "附表"),
    ("個人資料(私隱)條例", "个人资料(私隐)条例"), ("私隱專員公署", "私隐专员公署"), ("香港特別行政區", "香港特别行政区"),
    ("立法會", "立法会"), ("終審法院", "终审法院"), ("高等法院原訟法庭", "高等法院原讼法庭"), ("區域法院", "区域法院"),
    ("律政司司長", "律政司司长"), ("上訴得直", "上诉得直"), ("羈留", "羁留"), ("證據", "证据"), ("綜援", "综援"),
    ("強積金", "强积金"), ("差餉", "差饷"), ("荃灣", "荃湾"), ("觀塘", "观塘"), ("屯門", "屯门"), ("將軍澳", "将军澳"),
    ("銅鑼灣", "铜锣湾"), ("旺角", "旺角"), ("第486章第18條", "第486章第18条"),
    ("《個人資料（私隱）條例》附表1", "《个人资料（私隐）条例》附表1"), ("恒生指數", "恒生指数"), ("唔該晒", "唔该晒"),
    ("麪包", "面包"), ("鬱", "郁"), ("一隻", "一只"), ("乾淨", "干净"), ("峯", "峰"),
]


@pytest.mark.parametrize(("hant", "hans"), LEGAL_TERMS)
def test_legal_and_place_names_round_trip(hant: str, hans: str) -> None:
    assert to_hans(hant) == hans
    assert to_hant(hans) == hant
    assert convert(hans, "zh-HK") == hant and convert(hant, "zh-cn") == hans
    assert normalize_for_search(hant) == normalize_for_search(hans)


@pytest.mark.parametrize(("hans", "hk"), [("卫生署", "衞生署"), ("里面", "裏面"), ("线路", "線路"), ("够", "夠"),
                                          ("后来", "後來")])
def test_to_hant_writes_hong_kong_forms(hans: str, hk: str) -> None:
    assert to_hant(hans) == hk


@pytest.mark.parametrize("text", ["衛生署", "衞生署", "啟德", "啓德", "裡面", "着數", "著作", "山峯", "綫路", "佢哋喺度",
                                  "走晒", "試吓", "梁先生", "只係", "我今日好busy"])
def test_to_hant_leaves_traditional_text_alone(text: str) -> None:
    assert to_hant(text) == text


@pytest.mark.parametrize(
    ("text", "want"),
    [("个人资料(私隐)条例第18条", "個人資料(私隱)條例第18條"), ("Cap. 486 第18条", "Cap. 486 第18條"),
     ("“资料使用者”", "“資料使用者”"), ("😀你好吗", "😀你好嗎"), ("这个data user点算", "這個data user點算")],
)
def test_to_hant_keeps_latin_quotes_and_emoji(text: str, want: str) -> None:
    assert to_hant(text) == want


@pytest.mark.parametrize(("text", "trad", "simp"), [("資料使用者", 1, 0), ("资料使用者", 0, 1), ("附表", 0, 0),
                                                    ("基本法", 0, 0), ("個人資料(私隱)條例", 4, 0), ("證據", 2, 0)])
def test_script_counts_on_legal_terms(text: str, trad: int, simp: int) -> None:
    assert script_counts(text) == (trad, simp)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("衛生署", "衞生署", True), ("啟德", "啓德", True), ("裡面", "裏面", True), ("裡面", "里面", True),
     ("山峯", "山峰", True), ("綫路", "线路", True), ("個人資料（私隱）條例", "个人资料(私隐)条例", True),
     ("《條例》", "“条例”", True), ("ＣＡＰ．４８６", "cap.486", True), ("Tsuen Wan", "TSUEN  WAN", True),
     ("荃灣", "屯門", False), ("資料使用者", "資料當事人", False)],
)
def test_normalize_for_search_on_hk_variants(a: str, b: str, same: bool) -> None:
    assert (normalize_for_search(a) == normalize_for_search(b)) is same


# ---------------------------------------------------------------- Cantonese <-> SWC

YUE_TO_SWC_MORE = [
    ("我哋聽日喺旺角見", "我們明天在旺角見"),
    ("呢個資料使用者冇依從條例", "這個資料使用者沒有依從條例"),
    ("佢話佢唔知", "他說他不知"),
    ("點解你唔嚟？", "為什麼你不來？"),
    ("我想搵份工", "我想找份工"),
    ("畀錢", "給錢"),
    ("冇問題😀", "沒有問題😀"),
    ("我今日好busy", "我今天好busy"),
    ("3點半喺中環等", "3點半在中環等"),  # 點 in a time is not 怎麼
    ("我已經send咗份file畀你", "我已經send了份file給你"),
]


@pytest.mark.parametrize(("yue", "swc"), YUE_TO_SWC_MORE)
def test_yue_to_swc_more(yue: str, swc: str) -> None:
    assert yue_to_swc(yue) == swc


SWC_TO_YUE_MORE = [
    ("資料使用者必須在40日內依從查閱資料要求。", "資料使用者必須喺40日內依從查閱資料要求。"),
    ("他們在荃灣等你", "佢哋喺荃灣等你"),
    ("我不知道他在哪裏", "我唔知道佢喺邊度"),
    ("條例的目的是保障個人資料", "條例嘅目的係保障個人資料"),  # 目的 keeps its 的
    ("我想找工作", "我想搵工作"),
    ("這個很好", "呢個好好"),
    ("沒有", "冇"),
    ("了解", "了解"),
]


@pytest.mark.parametrize(("swc", "yue"), SWC_TO_YUE_MORE)
def test_swc_to_yue_more(swc: str, yue: str) -> None:
    assert swc_to_yue(swc) == yue


@pytest.mark.parametrize("text", ["", "Hello", "2123 4567", "Cap. 486", "🙏", "荃灣", "資料使用者"])
def test_text_without_mapped_words_is_unchanged_both_ways(text: str) -> None:
    assert swc_to_yue(text) == text
    assert yue_to_swc(text, use_segmenter=False) == text


@pytest.mark.parametrize(
    "text",
    ["Call me at 2123 4567 la", "佢嘅電話號碼係 2123 4567", "data user 係咩", "Cap. 486 s. 18 點樣申請"],
)
def test_yue_to_swc_keeps_spaces(text: str) -> None:
    assert yue_to_swc(text).count(" ") == text.count(" ")


def test_yue_to_swc_without_segmenter_keeps_spaces() -> None:
    assert yue_to_swc("佢嘅電話號碼係 2123 4567", use_segmenter=False) == "他的電話號碼是 2123 4567"
    assert swc_to_yue("他的電話是 2123 4567") == "佢嘅電話係 2123 4567"


@pytest.mark.parametrize(("word", "expected"), [("嘅", ["的"]), ("的", ["嘅"]), ("給", ["畀"]), ("搵", ["找"]),
                                                ("找", ["搵"]), ("荃灣", []), ("㗎", [])])
def test_alternatives_exact(word: str, expected: list[str]) -> None:
    assert alternatives(word) == expected


def test_alternatives_have_no_duplicates() -> None:
    for word in ("佢", "畀", "係", "他", "在"):
        found = alternatives(word)
        assert len(found) == len(set(found)) and word not in found


def test_expand_query_more() -> None:
    assert expand_query("資料使用者點樣處理查閱資料要求？") == ["資料使用者點樣處理查閱資料要求？",
                                                            "資料使用者怎樣處理查閱資料要求？"]
    assert expand_query("他們在哪裏") == ["他們在哪裏", "佢哋喺邊度"]
    assert expand_query("") == [] and expand_query("   ") == []


def test_segment_swc_maps_back_to_the_original_script() -> None:
    assert segment_swc("資料使用者必須依從") == ["資料", "使用者", "必須", "依從"]
    assert segment_swc("资料使用者") == ["资料", "使用者"]
    assert segment_swc("") == []
    assert "".join(segment_swc("他的電話是 2123 4567") or []) == "他的電話是 2123 4567"
