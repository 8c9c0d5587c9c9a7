"""Writes the tiny model's tokenizer training text (prose, code, multilingual) from word lists in this file.

Deterministic: ``python datasets/tokenizer_corpus/generate.py`` rewrites the same ``*.txt`` files.
All sentences and snippets are built from the project's own word lists and templates below.
"""
from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

SUBJECTS = ["the engine", "a small model", "the scheduler", "our tokenizer", "the cache", "every worker",
            "the kernel", "a careful reviewer", "the test suite", "the old server", "this library",
            "the river", "a quiet village", "the morning train", "my neighbour", "the orchestra",
            "a curious child", "the lighthouse keeper", "the baker", "a tired student"]
VERBS = ["reads", "writes", "compares", "stores", "rejects", "measures", "remembers", "forgets", "splits",
         "joins", "explains", "repeats", "sorts", "counts", "follows", "paints", "carries", "opens",
         "closes", "returns"]
OBJECTS = ["every token", "the long prompt", "a batch of requests", "the hidden state", "two numbers",
           "the final answer", "a broken pipe", "the shared memory", "a yellow kite", "the evening news",
           "fresh bread", "an old map", "the winter coat", "a paper boat", "the garden gate",
           "seventeen apples", "the missing key", "a strange noise", "the weather report", "its own shadow"]
ADVERBS = ["slowly", "quickly", "again", "without a sound", "before noon", "after the storm", "twice",
           "with great care", "in silence", "at the last moment", "every Tuesday", "almost by accident"]
CONNECTORS = ["because", "although", "while", "so that", "until", "even though", "and then", "but"]
OPENERS = ["In the beginning,", "Later that day,", "To be honest,", "For example,", "Meanwhile,",
           "As expected,", "Surprisingly,", "On the other hand,", "In short,", "Once upon a time,"]

PY_NAMES = ["tokens", "cache", "logits", "batch", "prompt", "state", "result", "offset", "scale", "index",
            "weights", "buffer", "queue", "config", "layer", "head", "value", "key", "mask", "step"]
PY_FUNCS = ["load", "decode", "encode", "merge", "split", "flush", "update", "compare", "normalize",
            "quantize", "prefill", "sample", "reset", "resize", "gather"]
C_TYPES = ["int", "float", "size_t", "double", "uint8_t", "int32_t"]

MULTILINGUAL = {
    "de": ["Der Zug fährt heute später ab.", "Die Katze schläft auf dem warmen Ofen.",
           "Wir messen die Abweichung zwischen zwei Maschinen.", "Übermorgen beginnt der Frühling.",
           "Größere Modelle brauchen mehr Speicher.", "Das Ergebnis ist fast gleich, aber nicht ganz."],
    "fr": ["Le moteur compare chaque jeton avec soin.", "Où est la clé de la grande porte ?",
           "Il fait très beau à Genève ce matin.", "Nous avons mangé des crêpes à la cantine.",
           "Le cache garde les états déjà calculés.", "Ça dépend de la précision choisie."],
    "es": ["El niño corre hacia la playa.", "¿Cuántos tokens tiene esta frase?",
           "La señora García abrió la ventana.", "Mañana llegará el informe del laboratorio.",
           "Los números pequeños también importan.", "¡Qué sorpresa tan agradable!"],
    "ru": ["Модель читает каждый токен.", "Сегодня идёт снег и дует ветер.",
           "Мы сравниваем результаты двух движков.", "Кэш хранит уже вычисленные ключи."],
    "el": ["Το μοντέλο διαβάζει κάθε λέξη.", "Η θάλασσα είναι ήρεμη σήμερα."],
    "zh": ["模型逐个读取词元。", "今天的天气很好，我们去公园散步。", "缓存保存已经计算过的状态。",
           "两个引擎的结果几乎相同。", "请把这个数字写下来。"],
    "ja": ["モデルはトークンを一つずつ読みます。", "東京の朝はとても静かです。", "キャッシュは計算済みの状態を保存します。",
           "ひらがなとカタカナと漢字が混ざっています。"],
    "ko": ["모델이 각 토큰을 읽습니다.", "오늘은 날씨가 맑습니다."],
    "ar": ["النموذج يقرأ كل كلمة.", "الطقس جميل اليوم."],
    "hi": ["मॉडल हर शब्द पढ़ता है।", "आज मौसम अच्छा है।"],
    "emoji": ["Ready 🚀 set 🎯 go ✅", "Weather: ☀️ then 🌧️ then ❄️", "Cats 🐈 and dogs 🐕 🐾",
              "Math: ∑ ∫ √ ≈ ≠ ≤ ≥ ∞ π", "Arrows → ← ↑ ↓ and boxes ┌─┐ └─┘"],
}


def sentence(rng: random.Random) -> str:
    s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(ADVERBS)}"
    if rng.random() < 0.4:
        s += f", {rng.choice(CONNECTORS)} {rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
    if rng.random() < 0.3:
        s = f"{rng.choice(OPENERS)} {s}"
    s = s[0].upper() + s[1:]
    end = rng.choice([".", ".", ".", "!", "?", "..."])
    if rng.random() < 0.15:
        s += f" ({rng.randint(1, 9999)} times, {rng.uniform(0, 100):.2f}%)"
    if rng.random() < 0.1:
        s = f"\"{s}{end}\" she said"
        end = "."
    return s + end


def prose(rng: random.Random, paragraphs: int) -> str:
    out = []
    for _ in range(paragraphs):
        out.append(" ".join(sentence(rng) for _ in range(rng.randint(2, 7))))
    return "\n\n".join(out) + "\n"


def python_snippet(rng: random.Random) -> str:
    f, a, b, c = rng.choice(PY_FUNCS), *rng.sample(PY_NAMES, 3)
    n = rng.randint(2, 64)
    body = rng.choice([
        f"    for i in range(len({a})):\n        {b}[i] = {a}[i] * {c} + {n}\n    return {b}\n",
        f"    if {a} is None:\n        raise ValueError(\"{a} must not be None\")\n    return [{b} // {n} for {b} in {a}]\n",
        f"    {c} = {{}}\n    for k, v in {a}.items():\n        {c}[k] = v.get(\"{b}\", {n})\n    return {c}\n",
        f"    while {a} and len({b}) < {n}:\n        {b}.append({a}.pop(0))  # keep order\n    return {b}\n",
        f"    with open(path, \"rb\") as fh:\n        {a} = fh.read({n} * 1024)\n    return {a}.decode(\"utf-8\", errors=\"replace\")\n",
    ])
    deco = "@staticmethod\n" if rng.random() < 0.1 else ""
    return f"{deco}def {f}_{a}({a}, {b}={n}, *, {c}=None):\n    \"\"\"{f.capitalize()} the {a}.\"\"\"\n{body}\n"


def c_snippet(rng: random.Random) -> str:
    t = rng.choice(C_TYPES)
    f, a, b = rng.choice(PY_FUNCS), *rng.sample(PY_NAMES, 2)
    n = rng.randint(2, 512)
    return (f"static {t} {f}_{a}(const {t} *{a}, {t} *{b}, size_t n) {{\n"
            f"    for (size_t i = 0; i < n; ++i) {{\n        {b}[i] = {a}[i] >> {n % 7} ? {a}[i] : 0x{n:04x};\n    }}\n"
            f"    return {b}[n - 1]; /* {rng.choice(ADVERBS)} */\n}}\n\n")


def json_snippet(rng: random.Random) -> str:
    keys = rng.sample(PY_NAMES, 4)
    vals = [rng.randint(-1000, 1000), round(rng.uniform(-1, 1), 6), "\"" + rng.choice(OBJECTS) + "\"",
            rng.choice(["true", "false", "null"])]
    return "{" + ", ".join(f"\"{k}\": {v}" for k, v in zip(keys, vals)) + "}\n"


def shell_snippet(rng: random.Random) -> str:
    return rng.choice([
        f"$ ls -la /tmp/{rng.choice(PY_NAMES)} | grep -v '^d' | wc -l\n",
        f"$ git commit -m \"{rng.choice(PY_FUNCS)} {rng.choice(PY_NAMES)}\"\n",
        f"$ export THREADS={rng.randint(1, 64)} && ./run --batch {rng.randint(1, 32)}\n",
        f"$ curl -s http://localhost:{rng.randint(1024, 9999)}/v1/completions -d '{{\"n\": 1}}'\n",
    ])


def multilingual(rng: random.Random, lines: int) -> str:
    langs = sorted(MULTILINGUAL)
    return "".join(rng.choice(MULTILINGUAL[rng.choice(langs)]) + "\n" for _ in range(lines))


def main() -> None:
    rng = random.Random(20260)
    (HERE / "prose.txt").write_text(prose(rng, 350), encoding="utf-8")
    code = []
    for _ in range(500):
        code.append(rng.choice([python_snippet, python_snippet, c_snippet, json_snippet, shell_snippet])(rng))
    (HERE / "code.txt").write_text("".join(code), encoding="utf-8")
    (HERE / "multilingual.txt").write_text(multilingual(rng, 1500), encoding="utf-8")


if __name__ == "__main__":
    main()
