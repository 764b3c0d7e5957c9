"""Hand-written Hong Kong cases for ``detect``: code-mixing, one-word answers, place names, numbers,
English with Chinese names, Simplified text, bad input. One row per case: (text, expected label)."""

from __future__ import annotations

import pytest

from hkllm.lang import detect

YUE = [
    "我聽日要submit份report",
    "你食咗飯未呀？",
    "唔該晒",
    "佢哋去咗邊度？",
    "我而家喺銅鑼灣",
    "今晚一齊食飯好唔好？",
    "呢個project個deadline係幾時？",
    "我哋開緊meeting，遲啲覆你",
    "唔好意思，我遲少少到",
    "係咪真㗎？",
    "你識唔識講英文？",
    "咁都得？",
    "冇問題",
    "佢好鍾意食雞蛋仔",
    "我哋聽日去迪士尼玩",
    "部電腦hang咗機",
    "老細話今日要OT",
    "幫我check吓個email",
    "咪住先！",
    "邊個打嚟？",
    "我已經send咗份file俾你",
    "今日好攰呀",
    "佢喺度等緊你",
    "你做乜嘢呀？",
    "嗰間茶餐廳啲奶茶好好飲",
    "我唔知點算好",
    "落雨喇，記得帶遮",
    "你哋幾點收工？",
    "冇所謂啦",
    "睇完套戲先返屋企",
    "我諗住下個禮拜請假",
    "個presentation搞掂未？",
    "佢成日遲到",
    "要唔要幫手？",
    "得閒飲茶",
    "唔使客氣",
    "係",
    "冇",
    "唔係",
    "我哋喺中環等你",
    "八號風球掛咗喇",
    "今日三十四度，熱到癲咗",
    "我要兩個菠蘿包同埋一杯凍檸茶",
    "你部iPhone幾錢買㗎？",
    "我D朋友都去咗台灣旅行",
    "佢老公係醫生嚟㗎",
    "唔該埋單",
    "我哋set個zoom call傾吓",
    "三十五蚊一份",
    "搭紅van去旺角啱唔啱？",
    "佢哋喺度食饭",  # Cantonese typed in Simplified script
    "你系咪傻㗎？",
    "OK，我陣間打俾你",
    "嗰陣時我仲係學生",
    "呢排好忙，下個月先傾啦",
    "搭港鐵由中環去沙田要點搭？",
    "呢個problem-based learning嘅方法幾好",
]

ZH_HANT = [
    "你在找些什麼？",
    "他們已經離開了。",
    "請於辦公時間內致電本署查詢。",
    "我不知道他去了哪裏。",
    "這是一個很好的問題。",
    "天文台預測明天天氣炎熱。",
    "申請人必須在截止日期前遞交表格。",
    "我們明天一起去看電影吧。",
    "你吃飯了嗎？",
    "為什麼他沒有來？",
    "請問怎樣去機場？",
    "他說這件事與他無關。",
    "是的",
    "不是",
    "謝謝你的幫忙。",
    "這些文件需要經理簽署。",
    "會議將在下午三時舉行。",
    "他是我的朋友。",
    "沒有問題。",
    "我們正在處理你的申請。",
    "立法會今日通過了財政預算案。",
    "學生們都很努力。",
    "根據《基本法》第二十三條，香港應自行立法。",
    "如有查詢，請致電 2123 4567。",
    "政府會繼續與各界保持溝通。",
    "銅鑼灣",  # place names: no marker either way, Traditional script
    "尖沙咀",
    "九龍塘",
    "香港",
    "五百元",
    "一百二十三",
    "2024年7月1日",
    "三點半",
]

ZH_HANS = [
    "你在找些什么？",
    "我们明天一起去看电影吧。",
    "这是一个很好的问题。",
    "请问怎么去机场？",
    "他说这件事跟他没有关系。",
    "深圳湾口岸今天人很多。",
    "我不知道他去了哪里。",
    "国务院发布了新的政策。",
    "谢谢",
    "没问题",
    "欢迎光临",
    "这个周末你有空吗？",
    "我们公司在上海有办事处。",
    "请输入验证码",
    "飞机晚点了两个小时。",
]

EN = [
    "Where is the nearest MTR station?",
    "Please meet Mr Chan Tai-man at the lobby.",
    "The meeting with 陳大文 is at 3pm.",
    "I live in Sha Tin.",
    "OK",
    "Thanks!",
    "Yes",
    "Hong Kong International Airport",
    "See you at Causeway Bay tomorrow.",
    "The Basic Law is the constitutional document of the HKSAR.",
    "Send the report to Ms Wong by Friday.",
    "Our office is at 18 Harbour Road, Wan Chai.",
    "My name is 李小明 and I work in Kowloon Tong.",
    "Have you tried the 菠蘿包 at that bakery?",
    "Tsim Sha Tsui",
    "The word 嘅 is a Cantonese particle.",
    "ＦＵＬＬ ＷＩＤＴＨ ｔｅｘｔ",
]

UND = [
    "",
    "   ",
    "\n\t",
    "😀",
    "👍👍👍",
    "12345",
    "3.14159",
    "$300",
    "HK$300",
    "3pm",
    "!!!",
    "？？？",
    "……",
    "\x00\x01\x02",
    "🇭🇰",
    "+852 2123 4567",
    "2024-07-01",
    "@#$%^&*",
    "東京都に住んでいます",
    "안녕하세요",
    "Привет",
    "\ufffd\ufffd\ufffd",
]

CASES = ([(t, "yue") for t in YUE] + [(t, "zh-Hant") for t in ZH_HANT] + [(t, "zh-Hans") for t in ZH_HANS]
         + [(t, "en") for t in EN] + [(t, "und") for t in UND])


def test_there_are_at_least_100_cases() -> None:
    assert len(CASES) >= 100


@pytest.mark.parametrize(("text", "label"), CASES)
def test_label(text: str, label: str) -> None:
    guess = detect(text)
    assert guess.label == label, guess.to_dict()
    assert 0.0 <= guess.confidence <= 1.0
    if label == "und":
        assert guess.proportions == {}
    else:
        assert abs(sum(guess.proportions.values()) - 1.0) < 1e-6
