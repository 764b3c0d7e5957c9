"""Reply-language fidelity: does the model answer in the language it was asked in?

The prompt set is small, hand-written and defined here (it is not a copy of any benchmark): ten everyday
requests each in Hong Kong Cantonese (``yue``), Traditional written Chinese (``zh-Hant``), Simplified
Chinese (``zh-Hans``) and English (``en``). No system prompt is sent, so the score shows the model's own
behaviour. Each reply goes through the language layer (``hkllm.lang.detect``); the score is the share of
replies whose detected label equals the prompt's language. ``hkllm.lang`` is imported only when a reply
is scored. Each prompt also carries a sample reply in its language, used by the fake engines in tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hkllm.evals.task import (
    Aggregate,
    Dataset,
    Item,
    ItemResult,
    Scored,
    Task,
    TaskUnavailable,
    by_subset,
    interleave,
    mean,
    register,
)

LANGS = ("yue", "zh-Hant", "zh-Hans", "en")

# (language, prompt, a sample reply in that language)
PROMPTS: tuple[tuple[str, str, str], ...] = (
    ("yue", "點樣煲一煲好飲嘅老火湯？", "你要揀啲新鮮嘅豬骨同埋蔬菜，落水之後慢火煲三個鐘，咁就會好好飲㗎喇。"),
    ("yue", "我聽日要去面試，有咩要注意呀？", "你記得早啲到，著得整齊啲，面試嗰陣望住人哋講嘢，唔好緊張。"),
    ("yue", "落雨天喺屋企可以做啲咩？", "你可以喺屋企睇吓書、煮啲嘢食，或者同屋企人玩吓桌遊，都幾開心㗎。"),
    ("yue", "你可唔可以教我點樣慳錢？", "你可以每個月記低啲使費，唔好成日出街食飯，咁就慳到啲錢喇。"),
    ("yue", "點解啲人鍾意行山嘅？", "因為行山可以做吓運動，又可以睇吓靚景，呼吸吓新鮮空氣，好舒服㗎。"),
    ("yue", "我部電腦好慢，點算好？", "你可以試吓熄咗啲唔使用嘅程式，或者清吓啲檔案，部機應該會快返啲。"),
    ("yue", "同朋友嗌交之後點樣和好？", "你可以主動搵佢傾吓，講清楚自己嘅諗法，話聲唔好意思，通常都會冇事嘅。"),
    ("yue", "我想學游水，要點樣開始先好呀？", "你可以報個游泳班，先喺淺水嗰邊練吓換氣同踢腳，慢慢就識㗎喇。"),
    ("yue", "瞓唔着覺有咩方法？", "你瞓之前唔好睇手機，飲杯暖奶，放鬆吓個心情，咁就易啲瞓得着。"),
    ("yue", "你覺得學英文最好嘅方法係咩？", "我覺得每日睇吓英文嘢、同人傾吓偈，慢慢練習就會進步好多。"),
    ("zh-Hant", "請問如何煮一鍋好喝的老火湯？", "你需要選用新鮮的豬骨和蔬菜，加水後以慢火熬煮三個小時，湯便會十分美味。"),
    ("zh-Hant", "我明天要去面試，有什麼需要注意的嗎？", "請你提早到達，穿著整齊，面試時保持眼神接觸，不要過於緊張。"),
    ("zh-Hant", "下雨天在家裡可以做些什麼？", "你可以在家裡看書、做飯，或者和家人一起玩桌上遊戲，也是很愉快的。"),
    ("zh-Hant", "你可以教我如何節省金錢嗎？", "你可以每個月記錄開支，減少在外用餐的次數，這樣便能節省不少金錢。"),
    ("zh-Hant", "為什麼有些人喜歡遠足？", "因為遠足可以鍛鍊身體，欣賞美麗的風景，呼吸新鮮的空氣，令人感到舒暢。"),
    ("zh-Hant", "我的電腦運行得很慢，應該怎麼辦？", "你可以嘗試關閉不需要的程式，或者清理一些檔案，電腦應該會變得快一點。"),
    ("zh-Hant", "與朋友吵架之後，應該如何和好？", "你可以主動與對方溝通，說明自己的想法並表示歉意，通常問題便會解決。"),
    ("zh-Hant", "我想學習游泳，應該如何開始？", "你可以報讀游泳課程，先在淺水區練習換氣和踢腿，慢慢便能學會。"),
    ("zh-Hant", "睡不著的時候有什麼方法？", "睡覺前不要使用手機，喝一杯溫牛奶，放鬆心情，這樣便較容易入睡。"),
    ("zh-Hant", "你認為學習英文最好的方法是什麼？", "我認為每天閱讀英文資料，並與別人用英文對話，持續練習便會有很大進步。"),
    ("zh-Hans", "请问怎样煮一锅好喝的老火汤？", "你需要选用新鲜的猪骨和蔬菜，加水后用慢火熬煮三个小时，汤就会非常美味。"),
    ("zh-Hans", "我明天要去面试，有什么需要注意的吗？", "请你提前到达，穿着整齐，面试时保持眼神交流，不要过于紧张。"),
    ("zh-Hans", "下雨天在家里可以做些什么？", "你可以在家里看书、做饭，或者和家人一起玩桌游，也是很开心的。"),
    ("zh-Hans", "你能教我怎么省钱吗？", "你可以每个月记录开支，减少在外面吃饭的次数，这样就能省下不少钱。"),
    ("zh-Hans", "为什么有些人喜欢爬山？", "因为爬山可以锻炼身体，欣赏美丽的风景，呼吸新鲜的空气，让人感觉很舒服。"),
    ("zh-Hans", "我的电脑运行得很慢，该怎么办？", "你可以尝试关闭不需要的程序，或者清理一些文件，电脑应该会变快一点。"),
    ("zh-Hans", "和朋友吵架之后应该怎么和好？", "你可以主动和对方沟通，说明自己的想法并表示歉意，通常问题就会解决。"),
    ("zh-Hans", "我想学游泳，应该怎么开始？", "你可以报一个游泳班，先在浅水区练习换气和踢腿，慢慢就能学会。"),
    ("zh-Hans", "睡不着的时候有什么办法？", "睡觉前不要看手机，喝一杯温牛奶，放松心情，这样就比较容易入睡。"),
    ("zh-Hans", "你认为学英语最好的方法是什么？", "我认为每天阅读英语资料，并且多和别人用英语对话，坚持练习就会进步很多。"),
    ("en", "How do I make a good slow-cooked soup?", "Choose fresh pork bones and vegetables, add water and simmer gently for about three hours."),
    ("en", "I have a job interview tomorrow. What should I keep in mind?", "Arrive early, dress neatly, keep eye contact and try not to be too nervous."),
    ("en", "What can I do at home on a rainy day?", "You could read a book, cook something nice or play board games with your family."),
    ("en", "Can you teach me how to save money?", "Keep a record of your spending every month and eat out less often; the savings add up."),
    ("en", "Why do some people like hiking?", "Hiking is good exercise, the views are beautiful and the fresh air makes people feel relaxed."),
    ("en", "My computer is very slow. What should I do?", "Try closing programs you do not need and clearing out old files; it should speed up."),
    ("en", "How can I make up with a friend after an argument?", "Reach out first, explain how you feel and apologise; usually things will be fine."),
    ("en", "I want to learn to swim. How should I start?", "Sign up for a swimming class and practise breathing and kicking in the shallow end first."),
    ("en", "What can I do when I cannot fall asleep?", "Put your phone away before bed, drink some warm milk and try to relax your mind."),
    ("en", "What is the best way to learn English?", "Read something in English every day and talk with people in English as often as you can."),
)
WRONG_LANG = {"yue": "en", "zh-Hant": "en", "zh-Hans": "en", "en": "yue"}

Detector = Callable[[str], Any]


@register
class LangFidelity(Task):
    id = "lang-fidelity"
    title = "Reply-language fidelity (yue / zh-Hant / zh-Hans / en)"
    metric = "share of replies in the prompt's language (hkllm.lang)"
    source = "hkllm prompt set (hand-written, in hkllm/evals/tasks/lang_fidelity.py)"
    max_tokens = 64
    max_shots = 0
    needs_data = False

    def __init__(self, detector: Detector | None = None) -> None:
        self._detector = detector

    def detector(self) -> Detector:
        if self._detector is None:
            try:
                from hkllm.lang import detect
            except ImportError as exc:
                raise TaskUnavailable(f"lang-fidelity needs the language layer hkllm.lang ({exc})") from exc
            self._detector = detect
        return self._detector

    def load(self, data_dir: Path | None = None, *, skip_invalid: bool = False) -> Dataset:
        groups: dict[str, list[Item]] = {lang: [] for lang in LANGS}
        samples = {lang: [s for lg, _, s in PROMPTS if lg == lang] for lang in LANGS}
        for lang, prompt, sample in PROMPTS:
            n = len(groups[lang]) + 1
            wrong = samples[WRONG_LANG[lang]][n - 1]
            groups[lang].append(Item(id=f"{lang}#{n}", subset=lang, prompt=prompt, answer=lang,
                                     meta={"sample": sample, "wrong": wrong}))
        digest = hashlib.sha256(repr(PROMPTS).encode()).hexdigest()
        return Dataset(items=interleave(list(groups.values())), files=[], extra_fingerprint=digest)

    def messages(self, item: Item, shots: Sequence[Item]) -> list[dict[str, str]]:
        return [{"role": "user", "content": item.prompt}]

    def score(self, item: Item, output: str) -> Scored:
        reply = (output or "").strip()
        label = str(self.detector()(reply).label) if reply else "und"
        correct = label == item.answer
        return Scored(prediction=label, value=1.0 if correct else 0.0, correct=correct)

    def aggregate(self, results: Sequence[ItemResult]) -> Aggregate:
        confusion: dict[str, dict[str, int]] = {}
        for r in results:
            row = confusion.setdefault(r.item.answer, {})
            label = r.scored.prediction or "und"
            row[label] = row.get(label, 0) + 1
        return Aggregate(mean([r.scored.value for r in results]),
                         {"by_subset": by_subset(results), "confusion": confusion})

    def reference_reply(self, item: Item) -> str:
        return str(item.meta["sample"])

    def wrong_reply(self, item: Item) -> str:
        return str(item.meta["wrong"])
