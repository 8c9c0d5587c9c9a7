"""Issue text split by what each line is: prose, issue-form boilerplate, environment dump, log, traceback.

Real bug reports are mostly environment dumps (``collect_env``, pip freeze, nvidia-smi), logs and
tracebacks around a line or two of description. :func:`parse` separates them so the classifier can
weigh the description on its own and read the traceback through a few stable signals (exception
class, last frame) instead of hundreds of noisy tokens. :func:`view` renders that as one string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Form boilerplate that says nothing about the bug (issue-template checklists and prompts).
BOILERPLATE = re.compile(
    r"^\s*(?:[-*]\s*\[[ xX]\]|#+\s*(?:checklist|before submitting|your current environment|environment|system info"
    r"|information|tasks|who can help|os|gpu|cpu|ollama version|name and version|operating systems|ggml backends"
    r"|hardware|models|first bad commit|model input dumps)\b|<\/?(?:details|summary)|make sure you already searched"
    r"|the output of .?python collect_env|please (?:use english|note that if the bug)|!\[[^\]]*\]\(|<img\s"
    r"|#{1,6}\s*[^#\n]{0,40}$|\*\*[^*]{2,40}\*\*:?\s*$)",
    re.IGNORECASE)
#: Lines of environment reports: ``Key : value`` tables, versions, pip lists, nvidia-smi and lscpu output.
ENV_LINE = re.compile(
    r"^\s*(?:[\w .()/-]{2,40}\s*:\s+\S|[\w.-]+\s*==\s*[\w.+]+|[\w.-]+\s+\d+(?:\.\d+)+(?:[.+\w]*)\s*$|\|.*\||\+[-=+]{8,}"
    r"|gpu\s?\d|nvidia-smi|cuda (?:version|available|driver|used|runtime)|=+\s*$|=+\s+\w[\w /]+\s+=+|"
    r"(?:architecture|cpu op-mode|flags|model name|vendor id|bogomips|stepping)\s*:)", re.IGNORECASE)
#: Log lines: timestamps, levels, process prefixes, progress bars, build commands.
LOG_LINE = re.compile(
    r"^\s*(?:\(?\w+ pid=\d+|\[?\d{4}-\d\d-\d\d|\d\d[-/]\d\d \d\d:\d\d|[A-Z][a-z]{2} \d\d? \d\d:\d\d|time=|\[?(?:INFO|"
    r"WARN(?:ING)?|ERROR|DEBUG|TRACE|FATAL|CRITICAL)\b|\[(?:rank\d+|GIN|TensorRT-LLM)\]|llama_|llm_load|ggml_|"
    r"print_info|load_tensors|\[\d+/\d+\]|\d+%\|)", re.IGNORECASE)
COLON_PAIR = re.compile(r"^\s*[\w .()/-]{2,40}\s*:\s+\S")
ENV_STRONG = re.compile(r"version|cuda|gpu|nvcc|driver|python|torch|platform|os\b|libc|gcc|cmake|numpy|triton",
                        re.IGNORECASE)
FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)|^\s*frame #\d+:|^\s*at [\w.$]+\(|^\s*#\d+\s+0x[0-9a-f]+')
EXCEPTION = re.compile(r"\b((?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Interrupt|Exit|Warning))\b(?::|$)")
FATAL = re.compile(r"segmentation fault|core dumped|illegal memory access|abort(?:ed)?\b|sigsegv|sigabrt|"
                   r"terminate called|out of memory|killed|panic|assert(?:ion)? failed", re.IGNORECASE)
FENCE = re.compile(r"^\s*(?:```|~~~)")
QUOTE = re.compile(r"^\s*>")
CODE_LINE = re.compile(r"^\s*(?:from \w|import \w|def |class |\w+\s*=\s*\S|print\(|return |\$ |#!|curl |python3? |"
                       r"pip |docker |vllm |sglang |ollama |llama-|cmake |make |\.\/|CUDA_VISIBLE|export )")
WORD = re.compile(r"[a-z][a-z0-9_]+")


@dataclass
class Parsed:
    prose: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    env: int = 0  # environment lines seen
    boilerplate: int = 0
    frames: list[str] = field(default_factory=list)  # "module:function", innermost last
    exceptions: list[str] = field(default_factory=list)  # exception classes, in order
    fatal: list[str] = field(default_factory=list)  # crash markers found in logs (lowercased)


def classify_line(line: str, in_fence: bool) -> str:
    """What one line is: ``boilerplate``, ``frame``, ``log``, ``env``, ``code`` or ``prose``."""
    if BOILERPLATE.search(line):
        return "boilerplate"
    if FRAME.search(line):
        return "frame"
    if LOG_LINE.search(line):
        return "log"
    if ENV_LINE.search(line):
        return "env"
    if in_fence or CODE_LINE.search(line):
        return "code"
    return "prose"


def _kinds(lines: list[str]) -> list[str]:
    """Kinds of the lines; a lone ``Key: value`` line between prose lines is prose, not an env dump."""
    kinds, in_fence = [], False
    for line in lines:
        if FENCE.match(line):
            in_fence = not in_fence
            kinds.append("fence")
        else:
            kinds.append(classify_line(line, in_fence))
    for k, line in enumerate(lines):
        if kinds[k] == "env" and COLON_PAIR.match(line) and not ENV_STRONG.search(line):
            near = {kinds[j] for j in (k - 1, k + 1) if 0 <= j < len(lines)}
            if "env" not in near:
                kinds[k] = "code" if in_fence else "prose"
    return kinds


def parse(text: str) -> Parsed:
    """Sort the lines of an issue; the first line (its title) always counts as prose."""
    out = Parsed()
    lines = [raw.rstrip() for raw in text.splitlines() if raw.strip()]
    kinds = _kinds(lines)
    if lines and kinds[0] != "fence":
        kinds[0] = "prose"
    for line, kind in zip(lines, kinds):
        if kind == "fence":
            continue
        if kind == "frame":
            match = FRAME.search(line)
            if match and match.group(1):
                module = re.split(r"[\\/]", match.group(1))[-1].removesuffix(".py")
                out.frames.append(f"{module}:{match.group(2)}")
        elif kind == "boilerplate":
            out.boilerplate += 1
        elif kind == "env":
            out.env += 1
        elif kind == "log":
            out.log.append(line)
        elif kind == "code":
            out.code.append(line)
        else:
            out.prose.append(line.lstrip("> ").strip() if QUOTE.match(line) else line.strip())
        if kind != "boilerplate":
            out.exceptions.extend(m.group(1).rsplit(".", 1)[-1] for m in EXCEPTION.finditer(line))
            out.fatal.extend(m.group(0).lower() for m in FATAL.finditer(line))
    return out


def _token(prefix: str, value: str) -> str:
    return f"zz{prefix}" + re.sub(r"[^a-z0-9]", "", value.lower())


def structure_tokens(parsed: Parsed) -> list[str]:
    """Pseudo-words for the structure: exception classes, last frame, crash markers, which parts exist."""
    tokens = [_token("exc", e) for e in dict.fromkeys(parsed.exceptions)]
    if parsed.exceptions:
        tokens.append(_token("lastexc", parsed.exceptions[-1]))
    if parsed.frames:
        module, function = parsed.frames[-1].split(":")
        tokens += [_token("frame", module), _token("framefn", function), "zzhastraceback"]
    tokens += [_token("fatal", f) for f in dict.fromkeys(parsed.fatal)]
    for name, present in (("log", len(parsed.log) >= 3), ("env", parsed.env >= 3), ("code", len(parsed.code) >= 2),
                          ("form", parsed.boilerplate >= 2), ("short", sum(map(len, parsed.prose)) < 200)):
        if present:
            tokens.append(f"zzhas{name}")
    return tokens


def view(text: str, log_lines: int = 6) -> str:
    """The text the classifier reads: prose first, then structure tokens, the last log and code lines.

    The first line (the title) is kept as prose. Environment dumps and boilerplate are dropped;
    of the log only the last ``log_lines`` lines stay (where errors are), plus every line naming an
    exception or a crash marker.
    """
    parsed = parse(text)
    salient = [line for line in parsed.log if EXCEPTION.search(line) or FATAL.search(line)]
    tail = parsed.log[-log_lines:]
    parts = [*parsed.prose, " ".join(structure_tokens(parsed)), *dict.fromkeys(salient + tail),
             *parsed.code[:10]]
    return "\n".join(p for p in parts if p)
