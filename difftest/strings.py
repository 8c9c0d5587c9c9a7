"""Edge-case strings for the tokenization oracles, separate from the comparators.

Each generator takes a seeded ``random.Random`` and a count and returns strings; :func:`cases`
runs the chosen generators and adds the hand-written suite ``datasets/tokenizer_edge_cases.txt``.
Deterministic for a given seed.
"""
from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from enginebugs import datasets

EDGE_CASES = datasets.path("tokenizer_edge_cases.txt")
CORPUS = datasets.path("tokenizer_corpus")

#: (name, first code point, last code point) of the Unicode blocks sampled.
BLOCKS = (
    ("Basic Latin", 0x20, 0x7E), ("Latin-1 Supplement", 0xA0, 0xFF), ("Latin Extended-A", 0x100, 0x17F),
    ("IPA Extensions", 0x250, 0x2AF), ("Combining Diacritical Marks", 0x300, 0x36F), ("Greek", 0x370, 0x3FF),
    ("Cyrillic", 0x400, 0x4FF), ("Armenian", 0x530, 0x58F), ("Hebrew", 0x590, 0x5FF), ("Arabic", 0x600, 0x6FF),
    ("Devanagari", 0x900, 0x97F), ("Bengali", 0x980, 0x9FF), ("Tamil", 0xB80, 0xBFF), ("Thai", 0xE00, 0xE7F),
    ("Georgian", 0x10A0, 0x10FF), ("Hangul Jamo", 0x1100, 0x11FF), ("Ethiopic", 0x1200, 0x137F),
    ("Cherokee", 0x13A0, 0x13FF), ("Latin Extended Additional", 0x1E00, 0x1EFF),
    ("General Punctuation", 0x2000, 0x206F), ("Currency Symbols", 0x20A0, 0x20CF),
    ("Letterlike Symbols", 0x2100, 0x214F), ("Arrows", 0x2190, 0x21FF), ("Mathematical Operators", 0x2200, 0x22FF),
    ("Box Drawing", 0x2500, 0x257F), ("Dingbats", 0x2700, 0x27BF), ("CJK Symbols", 0x3000, 0x303F),
    ("Hiragana", 0x3040, 0x309F), ("Katakana", 0x30A0, 0x30FF), ("CJK Unified Ideographs", 0x4E00, 0x9FFF),
    ("Hangul Syllables", 0xAC00, 0xD7A3), ("Halfwidth and Fullwidth Forms", 0xFF00, 0xFFEF),
    ("Gothic", 0x10330, 0x1034F), ("Musical Symbols", 0x1D100, 0x1D1FF),
    ("Mathematical Alphanumeric Symbols", 0x1D400, 0x1D7FF), ("Emoticons", 0x1F600, 0x1F64F),
    ("Misc Symbols and Pictographs", 0x1F300, 0x1F5FF), ("CJK Extension B", 0x20000, 0x2A6DF),
)
WHITESPACE = (" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u200b", "\t\t ")
APOSTROPHES = ("don't", "I'm", "it's", "we're", "they'll", "I've", "she'd", "rock 'n' roll", "'quoted'",
               "''", "'", "O'Neil", "dogs'", "can\u2019t", "\u2018single\u2019", "l'\u00e9t\u00e9", "y'all")
CODE = (
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }",
    "if __name__ == \"__main__\":\n\tmain()", "{\"key\": [1, 2.5, null, true], \"s\": \"a\\\"b\"}",
    "<div class=\"x\">&amp;&lt;</div>", "SELECT * FROM t WHERE id IN (1,2) -- comment",
    "x = lambda *a, **k: (a, k)  # noqa", "    \n        indented\n\treturn",
    "const re = /\\s+(?=\\d)/g;", "std::vector<std::pair<int,int>> v{{1,2}};", "#include <stdio.h>",
    "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
)
CJK = ("\u4f60\u597d\uff0c\u4e16\u754c\u3002", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059",
       "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4", "\u6f22\u5b57\u3068\u304b\u306a\u3068\u30ab\u30ca",
       "\u4e2d\u6587 English \u6df7\u5408 123", "\u300c\u5f15\u7528\u300d\u3001\u53e5\u8aad\u70b9\u3002")
EMOJI = ("\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466",
         "\U0001F1EF\U0001F1F5", "1\uFE0F\u20E3", "\u2764\uFE0F", "\U0001F3F3\uFE0F\u200D\U0001F308",
         "\U0001F9D1\U0001F3FF\u200D\U0001F4BB", "\u263A", "\U0001FAE0")
SPECIAL_LOOKALIKES = ("<s>", "</s>", "<unk>", "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
                      "[INST]", "[/INST]", "<|begin_of_text|>", "<|eot_id|>", "<0x0A>", "\u2581", "\u0120",
                      "<mask>", "<bos>", "<eos>", "<start_of_turn>", "< s >", "<<s>>", "</s", "s>")


@lru_cache(maxsize=None)
def _assigned(lo: int, hi: int) -> tuple[str, ...]:
    chars = tuple(chr(c) for c in range(lo, hi + 1)
                  if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co", "Cc"))
    return chars or (chr(lo),)


@lru_cache(maxsize=None)
def corpus_words() -> tuple[str, ...]:
    """Distinct words of the tokenizer corpus (prose and multilingual), for word soup."""
    words: set[str] = set()
    for name in ("prose.txt", "multilingual.txt"):
        path = CORPUS / name
        if path.is_file():
            words.update(re.findall(r"\w+", path.read_text(encoding="utf-8")[:60000]))
    return tuple(sorted(words)) or ("the", "cache", "token", "engine", "model")


def unicode_blocks(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        name, lo, hi = BLOCKS[i % len(BLOCKS)]
        pool = _assigned(lo, hi)
        if name.startswith("Combining"):
            out.append("".join(rng.choice("aeiouAEIOU") + rng.choice(pool) for _ in range(rng.randint(1, 4))))
        else:
            out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
    return out


def whitespace_runs(rng: random.Random, n: int) -> list[str]:
    words = corpus_words()
    return ["".join(rng.choice(WHITESPACE) + rng.choice(words) for _ in range(rng.randint(1, 3)))
            + rng.choice(("",) + WHITESPACE) for _ in range(n)]


def leading_trailing_spaces(rng: random.Random, n: int) -> list[str]:
    words = corpus_words()
    return [" " * rng.randint(0, 3) + " ".join(rng.choice(words) for _ in range(rng.randint(1, 3)))
            + " " * rng.randint(0, 3) for _ in range(n)] + [" ", "  ", " a", "a ", " \n"][: max(0, n // 4)]


def apostrophes(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(APOSTROPHES) for _ in range(rng.randint(1, 3))) for _ in range(n)]


def digits(rng: random.Random, n: int) -> list[str]:
    forms = (lambda: str(rng.randint(0, 10 ** rng.randint(1, 20))),
             lambda: f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 8)}f}",
             lambda: f"{rng.randint(0, 10 ** 9):,}", lambda: f"0x{rng.randint(0, 2 ** 32):X}",
             lambda: f"{rng.randint(1900, 2100)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
             lambda: f"{rng.randint(1, 999)}e-{rng.randint(1, 30)}", lambda: "1" * rng.randint(1, 40),
             lambda: "\uff11\uff12\uff13" + str(rng.randint(0, 99)), lambda: "\u0661\u0662\u0663")
    return [rng.choice(forms)() for _ in range(n)]


def code(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(CODE) if rng.random() < 0.7 else rng.choice(CODE) + rng.choice(CODE) for _ in range(n)]


def cjk(rng: random.Random, n: int) -> list[str]:
    pool = _assigned(0x4E00, 0x4FFF)
    return [rng.choice(CJK) if rng.random() < 0.5 else "".join(rng.choice(pool) for _ in range(rng.randint(1, 8)))
            for _ in range(n)]


def emoji(rng: random.Random, n: int) -> list[str]:
    words = corpus_words()
    return ["".join(rng.choice(EMOJI) + rng.choice(("", " ", rng.choice(words))) for _ in range(rng.randint(1, 3)))
            for _ in range(n)]


def special_lookalikes(rng: random.Random, n: int) -> list[str]:
    words = corpus_words()
    return [rng.choice(("", rng.choice(words) + " ")) + rng.choice(SPECIAL_LOOKALIKES)
            + rng.choice(("", " " + rng.choice(words), rng.choice(SPECIAL_LOOKALIKES))) for _ in range(n)]


def word_soup(rng: random.Random, n: int) -> list[str]:
    words, punct = corpus_words(), ("", "", "", ",", ".", "!", "?", ";", ":", "-", "...")
    out = []
    for _ in range(n):
        parts = [rng.choice(words) + rng.choice(punct) for _ in range(rng.randint(1, 12))]
        parts = [p.upper() if rng.random() < 0.1 else p.capitalize() if rng.random() < 0.2 else p for p in parts]
        out.append(" ".join(parts))
    return out


GENERATORS: dict[str, Callable[[random.Random, int], list[str]]] = {
    "unicode_blocks": unicode_blocks, "whitespace": whitespace_runs, "leading_trailing_spaces": leading_trailing_spaces,
    "apostrophes": apostrophes, "digits": digits, "code": code, "cjk": cjk, "emoji": emoji,
    "special_lookalikes": special_lookalikes, "word_soup": word_soup,
}

_ESCAPE = re.compile(r"\\(U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[ntr\\s])")


def unescape(line: str) -> str:
    r"""Decode ``\n \t \r \\ \s`` (a space, for visible trailing spaces) and ``\xHH \uHHHH \UHHHHHHHH``."""
    simple = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "s": " "}
    return _ESCAPE.sub(lambda m: simple.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), line)


def edge_cases(path: Path = EDGE_CASES) -> list[str]:
    """The hand-written suite: one case a line, ``#`` comments, escapes as in :func:`unescape`."""
    if not path.is_file():
        return []
    return [unescape(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]


def cases(seed: int = 0, per_generator: int = 20, generators: list[str] | None = None,
          include_file: bool = True, extra: tuple[str, ...] | list[str] = ()) -> list[tuple[str, str]]:
    """``(source, text)`` pairs: every chosen generator's strings, the file suite, then ``extra``
    (a prompt suite's own strings, source ``suite``); deduplicated."""
    unknown = set(generators or ()) - set(GENERATORS)
    if unknown:
        raise ValueError(f"unknown string generator(s) {sorted(unknown)}; known: {sorted(GENERATORS)}")
    out, seen = [], set()
    for name in generators or GENERATORS:
        rng = random.Random(f"{seed}:{name}")
        for text in GENERATORS[name](rng, per_generator):
            if text and text not in seen:
                seen.add(text)
                out.append((name, text))
    for source, texts in (("file", edge_cases() if include_file else ()), ("suite", extra)):
        for text in texts:
            if text not in seen:
                seen.add(text)
                out.append((source, text))
    return out
