"""``hkllm.kb.analyze`` on tables of Hong Kong cases: the same terms for stored text and queries, whatever the
script, width or case; S-stemmed English plurals; Cantonese questions widened by their SWC rewrite."""

from __future__ import annotations

import pytest

from hkllm.kb.analyze import STOPWORDS, index_text, normalise, query_terms, s_stem, to_swc, tokens

# -- normalise: Traditional and Simplified, full and half width, case ----------------------------------

SAME_NORMAL_FORM = [
    ("資料使用者", "资料使用者"),
    ("個人資料（私隱）條例", "个人资料(私隐)条例"),
    ("直接促銷", "直接促销"),
    ("資料當事人", "资料当事人"),
    ("裏面", "里面"),  # HK variant folded with the mainland form
    ("ＣＡＰ．４８６", "cap.486"),
    ("Ａｃｃｅｓｓ", "access"),
    ("ＨＫＣＦＩ", "hkcfi"),
    ("Data Access REQUEST", "data access request"),
    ("第３５Ｃ條", "第35c条"),
]


@pytest.mark.parametrize(("left", "right"), SAME_NORMAL_FORM)
def test_both_forms_normalise_alike(left: str, right: str) -> None:
    assert normalise(left) == normalise(right)


@pytest.mark.parametrize(("text", "expected"), [
    ("資料使用者", "资料使用者"),
    ("ＣＡＰ．４８６", "cap.486"),
    ("Cap. 486 第18條", "cap. 486 第18条"),
    ("第35C條", "第35c条"),
])
def test_normal_form(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_different_terms_stay_different() -> None:
    # folding must not merge unrelated words
    assert normalise("資料使用者") != normalise("資料當事人")


# -- tokens / index_text ---------------------------------------------------------------------------------

TOKEN_CASES = [
    # Traditional and Simplified meet the same index terms
    ("資料使用者", ["资料", "使用", "用者", "使用者"]),
    ("资料使用者", ["资料", "使用", "用者", "使用者"]),
    # jieba's search mode gives the compound and its parts
    ("個人資料（私隱）條例", ["个人", "资料", "个人资料", "私隐", "条例"]),
    ("資料當事人", ["资料", "当事", "当事人"]),
    # chapter and section numbers are words of their own, letters folded
    ("Cap. 486", ["cap", "486"]),
    ("section 35C", ["section", "35c"]),
    ("第35C條", ["第", "35c", "条"]),
    ("Cap. 486 第18條", ["cap", "486", "第", "18", "条"]),
    # full-width letters and digits become the ASCII words
    ("ＣＡＰ．４８６", ["cap", "486"]),
    # English plurals are S-stemmed, punctuation dropped
    ("Notices to Parties", ["notice", "to", "party"]),
    ("What is a data access request?", ["what", "is", "a", "data", "access", "request"]),
    ("", []),
    ("。，！", []),
]


@pytest.mark.parametrize(("text", "expected"), TOKEN_CASES)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Data Access REQUEST", "data access request"),
    ("Cap. 486 第18條", "cap 486 第 18 条"),
    ("直接促銷", "直接 促销"),
    ("The bus passes", "the bus passe"),
])
def test_index_text_is_space_separated_tokens(text: str, expected: str) -> None:
    assert index_text(text) == expected
    assert index_text(text).split() == tokens(text)


def test_normalised_flag_skips_the_normaliser() -> None:
    # already-normalised text gives the same tokens; un-normalised text passed as normalised is not folded
    assert tokens(normalise("資料使用者"), normalised=True) == tokens("資料使用者")
    assert tokens("DATA", normalised=True) == ["DATA"]
    assert tokens("DATA") == ["data"]


# -- s_stem: Harman's S stemmer ----------------------------------------------------------------------------

S_STEM = [
    ("notices", "notice"),
    ("parties", "party"),
    ("copies", "copy"),
    ("cases", "case"),
    ("keys", "key"),
    ("employees", "employee"),  # -ees keeps the e
    ("agrees", "agree"),
    ("canoes", "canoe"),  # -oes keeps the e
    ("premises", "premise"),
    ("access", "access"),  # -ss untouched
    ("address", "address"),
    ("business", "business"),
    ("status", "status"),  # -us untouched
    ("bus", "bus"),  # too short
    ("is", "is"),
    ("yes", "yes"),
    ("data", "data"),  # no s
    ("35cs", "35cs"),  # not alphabetic
    ("資料們", "資料們"),  # not ASCII
    ("cafés", "cafés"),  # not ASCII
]


@pytest.mark.parametrize(("word", "stem"), S_STEM)
def test_s_stem(word: str, stem: str) -> None:
    assert s_stem(word) == stem


def test_singular_and_plural_index_alike() -> None:
    assert index_text("the data user's notices").split()[-1] == index_text("a notice").split()[-1]
    assert tokens("parties")[0] == tokens("party")[0]
    assert tokens("NOTICES") == tokens("notices") == ["notice"]  # case folded before stemming


# -- query_terms: stopwords, duplicates, Cantonese expansion ---------------------------------------------

def _plan_terms(question: str) -> tuple[list[str], list[str]]:
    """(terms of the question alone, terms with its SWC rewrite) the way ``Searcher.plan`` builds them."""
    norm = normalise(question)
    swc = to_swc(question)
    variants = [normalise(swc)] if swc != question and normalise(swc) != norm else []
    return query_terms(norm), query_terms(norm, variants)


def test_english_stopwords_are_dropped_and_terms_deduplicated() -> None:
    terms = query_terms(normalise("What are the rights of a data subject under the data ordinance?"))
    assert terms == ["right", "data", "subject", "ordinance"]
    assert not STOPWORDS & set(terms)


def test_chinese_stopwords_are_dropped() -> None:
    terms = query_terms(normalise("我可以點樣查閱我的資料呢？"))
    assert "我" not in terms and "的" not in terms and "呢" not in terms
    assert {"查阅", "资料"} <= set(terms)


@pytest.mark.parametrize(("question", "added", "kept"), [
    # 佢哋 → 他們, 攞 → 拿: the SWC words are searched beside the Cantonese ones
    ("佢哋可唔可以攞我啲資料", {"拿"}, {"攞", "资料"}),
    ("我可唔可以要求佢哋刪除我嘅資料", {"可不可以"}, {"要求", "删除", "资料"}),
])
def test_cantonese_question_gains_standard_chinese_terms(question: str, added: set[str],
                                                         kept: set[str]) -> None:
    alone, widened = _plan_terms(question)
    assert added <= set(widened) and not added & set(alone)
    assert kept <= set(alone) and kept <= set(widened)
    assert widened[:len(alone)] == alone  # the question's own terms first, in order
    assert len(widened) == len(set(widened))
    assert not STOPWORDS & set(widened)


def test_simplified_and_traditional_questions_give_the_same_terms() -> None:
    assert _plan_terms("點樣申請查閱資料")[1] == _plan_terms("点样申请查阅资料")[1]
    assert {"申请", "查阅", "资料"} <= set(_plan_terms("點樣申請查閱資料")[1])


def test_mixed_english_and_chinese_citation_query() -> None:
    terms = query_terms(normalise("Cap. 486 第18條 data access requests"))
    assert terms[:2] == ["cap", "486"]
    assert "18" in terms and "request" in terms and "requests" not in terms


def test_numbers_are_kept_as_terms() -> None:
    assert query_terms(normalise("section 35C of Cap. 486")) == ["section", "35c", "cap", "486"]


def test_variants_add_only_new_terms() -> None:
    assert query_terms("data user", ["data users", "user data"]) == ["data", "user"]
    assert query_terms("", []) == []
    assert query_terms("the of and", []) == []
