"""Pure oracles over recorded exchanges (:class:`~enginebugs.difftest.serving.plan.Recording`).

Each oracle returns :class:`Check` records: a pass, a failure with its divergence class (which
:data:`CLASSES` maps onto the taxonomy), a skip, or a convention observation (``convention=(key,
value)``, see :mod:`~enginebugs.difftest.serving.conventions`). Token counts come from the
``logprobs`` a server returns (one entry per generated token); prompt token counts are compared
with the reference tokenizer and chat template (transformers' ``apply_chat_template``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from enginebugs.difftest.catalogue import OracleInfo
from enginebugs.difftest.serving.client import Exchange, choice_text
from enginebugs.difftest.serving.plan import JOINS, Recording

_INFO = (
    OracleInfo("serving.stream", "serving", "streamed == non-streamed (text, finish_reason, usage); [DONE] and a "
               "finish_reason end every stream", "output-processor"),
    OracleInfo("serving.stop", "serving", "a stop string ends the text before it, finish_reason stop",
               "output-processor"),
    OracleInfo("serving.usage", "serving", "max_tokens, finish_reason and usage agree with the tokens returned",
               "output-processor"),
    OracleInfo("serving.logprobs", "serving", "logprobs: one entry per token, tokens join to the text, offsets, "
               "top logprobs hold the chosen token", "output-processor"),
    OracleInfo("serving.params", "serving", "echo, n, seed, logit_bias take effect (ignored = Feature Failure)",
               "request-parser", None, "feature-failure"),
    OracleInfo("serving.chat", "serving", "chat prompt tokens == the model's chat template (apply_chat_template); "
               "content parts; stream == non-stream", "input-processor"),
    OracleInfo("serving.reference", "serving", "prompt tokens == the reference tokenizer; greedy text == the "
               "other servers'", "input-processor"),
    OracleInfo("serving.validation", "serving", "malformed or out-of-range requests: the expected status class, "
               "never a 5xx, a dropped connection or a dead server", "request-parser"),
    OracleInfo("serving.concurrency", "serving", "a needle request's stream alone == amid concurrent streams; "
               "no stream cut without finish_reason", "job-manager"),
    OracleInfo("serving.start", "serving", "the server starts and answers /v1/models", "engine-initializer",
               None, "crash"),
)
ORACLES: dict[str, OracleInfo] = {o.name: o for o in _INFO}

#: divergence class -> (symptom, output subtype, root cause, component)
CLASSES: dict[str, tuple[str, str | None, str, str]] = {
    "stream-text": ("unexpected-output", "inconsistent-output", "incorrect-detokenization", "output-processor"),
    "stream-finish-reason": ("unexpected-output", "inconsistent-output", "incorrect-conditional-logic",
                             "output-processor"),
    "stream-usage": ("unexpected-output", "inconsistent-output", "incorrect-assignment", "output-processor"),
    "stream-no-done": ("feature-failure", None, "incorrect-formatting", "output-processor"),
    "stream-cut": ("unexpected-output", "length", "incorrect-conditional-logic", "output-processor"),
    "stop-kept": ("unexpected-output", "inconsistent-output", "incorrect-conditional-logic", "output-processor"),
    "stop-text": ("unexpected-output", "length", "incorrect-conditional-logic", "output-processor"),
    "stop-finish-reason": ("unexpected-output", "inconsistent-output", "incorrect-conditional-logic",
                           "output-processor"),
    "usage-count": ("unexpected-output", "inconsistent-output", "incorrect-assignment", "output-processor"),
    "max-tokens": ("unexpected-output", "length", "incorrect-conditional-logic", "output-processor"),
    "finish-reason": ("unexpected-output", "inconsistent-output", "incorrect-conditional-logic", "output-processor"),
    "logprobs-structure": ("unexpected-output", "inconsistent-output", "incorrect-formatting", "output-processor"),
    "logprobs-ignored": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "echo-ignored": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "n-ignored": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "seed-ignored": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "sampling-ignored": ("feature-failure", None, "incorrect-conditional-logic", "request-parser"),
    "seed-not-reproducible": ("unexpected-output", "inconsistent-output", "incorrect-job-context-management",
                              "job-manager"),
    "logit-bias-ignored": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "chat-template": ("unexpected-output", "inconsistent-output", "incorrect-formatting", "input-processor"),
    "content-parts": ("unexpected-output", "inconsistent-output", "incorrect-formatting", "input-processor"),
    "prompt-tokens": ("unexpected-output", "inconsistent-output", "incorrect-tokenization", "input-processor"),
    "cross-text": ("unexpected-output", "inconsistent-output", "incorrect-algorithm-implementation", "operators"),
    "request-failed": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "server-error": ("crash", None, "incorrect-exception-handling", "request-parser"),
    "no-response": ("system-hang", None, "incorrect-exception-handling", "request-parser"),
    "accepts-invalid": ("unexpected-output", "inconsistent-output", "incorrect-request-parsing", "request-parser"),
    "rejects-valid": ("feature-failure", None, "incorrect-request-parsing", "request-parser"),
    "server-died": ("crash", None, "incorrect-exception-handling", "request-parser"),
    "needle": ("unexpected-output", "inconsistent-output", "concurrency-issue", "job-manager"),
    "start-failed": ("crash", None, "incompatible-model", "engine-initializer"),
}


@dataclass
class Check:
    oracle: str
    servers: tuple[str, ...]
    ok: bool = True
    divergence_class: str = ""
    message: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    case: str = ""
    skipped: str | None = None
    convention: tuple[str, str] | None = None


@dataclass
class Reference:
    """What the model itself says, for the servers to be compared with (all optional)."""

    prompt_tokens: Callable[[str], int] | None = None
    #: messages -> prompt token ids under the model's chat template; raises LookupError when the
    #: model has no template.
    chat_ids: Callable[[list[dict[str, Any]]], list[int]] | None = None


def _fail(oracle: str, label: str, cls: str, message: str, *exchanges: Exchange, case: str = "") -> Check:
    return Check(oracle, (label,), False, cls, message, [e for e in exchanges if e is not None], case)


def _pass(oracle: str, label: str, case: str = "") -> Check:
    return Check(oracle, (label,), True, case=case)


def _unusable(oracle: str, label: str, ex: Exchange | None, case: str) -> Check | None:
    """A failed valid request: a 5xx is a crash, no response a hang, a 4xx a Feature Failure."""
    if ex is None:
        return Check(oracle, (label,), skipped=f"{case}: not sent", case=case)
    if ex.ok:
        return None
    cls = {"5xx": "server-error", "no-response": "no-response"}.get(ex.status_class, "request-failed")
    return _fail(oracle, label, cls, f"{case}: {ex.summary(300)}", ex, case=case)


def _token_ids(ex: Exchange, index: int = 0) -> list[int] | None:
    """The generated token ids where the server returns them (vLLM ``return_token_ids``)."""
    choices = ex.choices()
    ids = choices[index].get("token_ids") if len(choices) > index else None
    return list(ids) if ids is not None else None


def _tokens(ex: Exchange, index: int = 0) -> list[str] | None:
    choices = ex.choices()
    lp = choices[index].get("logprobs") if len(choices) > index else None
    if not isinstance(lp, dict) or lp.get("tokens") is None:
        return None
    return list(lp["tokens"])


def _finish(ex: Exchange, index: int = 0) -> str | None:
    choices = ex.choices()
    return choices[index].get("finish_reason") if len(choices) > index else None


def _text(ex: Exchange, index: int = 0) -> str:
    choices = ex.choices()
    return choice_text(choices[index]) if len(choices) > index else ""


# -- per-server oracles -----------------------------------------------------------------------------
def stream_oracle(rec: Recording, n_prompts: int, chats: list[str]) -> list[Check]:
    """Streamed and non-streamed greedy requests agree; every stream ends properly."""
    o, out = "serving.stream", []
    pairs = [(f"plain/{i}", f"stream/{i}") for i in range(n_prompts)]
    pairs += [(f"chat/{c}", f"chat-stream/{c}") for c in chats]
    if rec.get("stop") and rec.get("stop-stream"):
        pairs.append(("stop", "stop-stream"))
    for whole_key, stream_key in pairs:
        whole, streamed = rec.get(whole_key), rec.get(stream_key)
        if whole_key.startswith("chat/") and whole is not None and not whole.ok:
            out.append(Check(o, (rec.label,), skipped=f"{whole_key} failed (judged by serving.chat)", case=stream_key))
            continue
        bad = _unusable(o, rec.label, whole, whole_key) or _unusable(o, rec.label, streamed, stream_key)
        if bad:
            out.append(bad)
            continue
        if not streamed.done:
            out.append(_fail(o, rec.label, "stream-no-done", f"{stream_key}: the stream ended without data: [DONE]",
                             streamed, case=stream_key))
        if _finish(streamed) is None:
            out.append(_fail(o, rec.label, "stream-cut", f"{stream_key}: no chunk carries a finish_reason",
                             streamed, case=stream_key))
        a, b = _text(whole), _text(streamed)
        ia, ib = _token_ids(whole), _token_ids(streamed)
        if ia is not None and ib is not None and ia != ib:
            out.append(_fail(o, rec.label, "stream-text", f"{stream_key}: streamed token ids {ib} != non-streamed "
                             f"{ia}", whole, streamed, case=stream_key))
        elif a != b:
            out.append(_fail(o, rec.label, "stream-text", f"{stream_key}: streamed text {b!r} != non-streamed {a!r}",
                             whole, streamed, case=stream_key))
        elif _finish(streamed) not in (None, _finish(whole)):
            out.append(_fail(o, rec.label, "stream-finish-reason", f"{stream_key}: finish_reason "
                             f"{_finish(streamed)!r} streamed, {_finish(whole)!r} not", whole, streamed, case=stream_key))
        else:
            su, wu = streamed.usage(), whole.usage()
            if su and wu and su.get("completion_tokens") != wu.get("completion_tokens"):
                out.append(_fail(o, rec.label, "stream-usage", f"{stream_key}: completion_tokens "
                                 f"{su.get('completion_tokens')} streamed, {wu.get('completion_tokens')} not",
                                 whole, streamed, case=stream_key))
            else:
                out.append(_pass(o, rec.label, stream_key))
        if stream_key.startswith("stream/"):
            out.append(Check(o, (rec.label,), convention=("stream.usage", "in the last chunk" if streamed.usage()
                                                             else "absent"), case=stream_key))
    return out


def stop_oracle(rec: Recording) -> list[Check]:
    """A stop string cuts the greedy text right before its first occurrence, finish_reason stop."""
    o, out = "serving.stop", []
    base, stop = rec.text("plain/0"), rec.meta.get("stop")
    if base is None or not stop:
        return [Check(o, (rec.label,), skipped="no greedy text to cut a stop string from", case="stop")]
    for key in ("stop", "stop-stream"):
        ex = rec.get(key)
        bad = _unusable(o, rec.label, ex, key)
        if bad:
            out.append(bad)
            continue
        text, want = _text(ex), base[:base.find(stop)]
        if text == want + stop or (stop in text and text.startswith(want)):
            out.append(_fail(o, rec.label, "stop-kept", f"{key}: stop {stop!r} kept in the returned text {text!r} "
                             f"(expected {want!r})", ex, rec.get("plain/0"), case=key))
        elif text != want:
            out.append(_fail(o, rec.label, "stop-text", f"{key}: text {text!r} != greedy text cut before "
                             f"{stop!r}: {want!r}", ex, rec.get("plain/0"), case=key))
        elif _finish(ex) != "stop":
            out.append(_fail(o, rec.label, "stop-finish-reason", f"{key}: finish_reason {_finish(ex)!r} after "
                             f"matching stop {stop!r}", ex, case=key))
        else:
            out.append(_pass(o, rec.label, key))
    first = rec.get("stop-first")
    if first is not None and first.ok:
        usage = first.usage() or {}
        if _text(first) == "" and "completion_tokens" in usage:
            out.append(Check(o, (rec.label,), convention=("stop.first_token_usage", str(usage["completion_tokens"])),
                             case="stop-first"))
        elif rec.meta.get("stop_first") and rec.meta["stop_first"] in _text(first):
            out.append(_fail(o, rec.label, "stop-kept", f"stop-first: stop {rec.meta['stop_first']!r} kept in "
                             f"{_text(first)!r}", first, case="stop-first"))
    return out


def usage_oracle(rec: Recording, n_prompts: int, max_tokens: int) -> list[Check]:
    """usage and finish_reason agree with the tokens returned (counted by their logprobs)."""
    o, out = "serving.usage", []
    for key, limit in [(f"logprobs/{i}", max_tokens) for i in range(n_prompts)] + [("max1", 1)]:
        ex = rec.get(key)
        bad = _unusable(o, rec.label, ex, key)
        if bad:
            out.append(bad)
            continue
        usage, finish = ex.usage() or {}, _finish(ex)
        tokens = _token_ids(ex) if _token_ids(ex) is not None else _tokens(ex)
        done = usage.get("completion_tokens")
        problems = []
        if usage and usage.get("total_tokens") != (usage.get("prompt_tokens") or 0) + (done or 0):
            problems.append(("usage-count", f"total_tokens {usage.get('total_tokens')} != prompt_tokens "
                             f"{usage.get('prompt_tokens')} + completion_tokens {done}"))
        if tokens is not None and done is not None and len(tokens) != done:
            problems.append(("usage-count", f"completion_tokens {done} but {len(tokens)} tokens returned"))
        count = done if done is not None else len(tokens) if tokens is not None else None
        if tokens is not None and len(tokens) > limit:
            problems.append(("max-tokens", f"{len(tokens)} tokens returned with max_tokens {limit}"))
        elif count is not None and count > limit:
            problems.append(("max-tokens", f"{count} tokens returned with max_tokens {limit}"))
        if count is not None and count < limit and finish == "length":
            problems.append(("finish-reason", f"finish_reason length after {count} of max_tokens {limit}"))
        if count == limit and finish not in ("length", "stop"):
            problems.append(("finish-reason", f"finish_reason {finish!r} at max_tokens {limit}"))
        for cls, msg in problems:
            out.append(_fail(o, rec.label, cls, f"{key}: {msg}", ex, case=key))
        if not problems:
            out.append(_pass(o, rec.label, key))
    stop, base = rec.get("stop"), rec.get("logprobs/0")
    if stop is not None and stop.ok and base is not None and base.ok and _tokens(base) and (stop.usage() or {}):
        want = rec.text("plain/0") or ""
        kept = _text(stop)
        pieces, acc, n = _tokens(base), "", 0
        while n < len(pieces) and len(acc) < len(kept):
            acc, n = acc + pieces[n], n + 1
        reported = (stop.usage() or {}).get("completion_tokens")
        value = "not counted" if reported == n else "counted" if reported is not None and reported > n else None
        if value and want:
            out.append(Check(o, (rec.label,), convention=("stop.usage", value), case="stop"))
    return out


def logprobs_oracle(rec: Recording, n_prompts: int) -> list[Check]:
    """Structure of completion logprobs against the returned text."""
    o, out = "serving.logprobs", []
    for i in range(n_prompts):
        key = f"logprobs/{i}"
        ex = rec.get(key)
        bad = _unusable(o, rec.label, ex, key)
        if bad:
            out.append(bad)
            continue
        choice = ex.choices()[0] if ex.choices() else {}
        lp = choice.get("logprobs")
        if not isinstance(lp, dict) or not lp.get("tokens"):
            out.append(_fail(o, rec.label, "logprobs-ignored", f"{key}: logprobs=2 requested, none returned", ex,
                             case=key))
            continue
        tokens, lps = lp.get("tokens") or [], lp.get("token_logprobs") or []
        tops, offsets = lp.get("top_logprobs") or [], lp.get("text_offset") or []
        text, problems = choice_text(choice), []
        if not (len(tokens) == len(lps) == len(tops) == len(offsets)):
            problems.append(f"lengths differ: tokens {len(tokens)}, token_logprobs {len(lps)}, top_logprobs "
                            f"{len(tops)}, text_offset {len(offsets)}")
        joined = "".join(tokens)
        if joined != text:
            if joined.replace("\ufffd", "") == text.replace("\ufffd", "") or any(t == "" or t.startswith("bytes:")
                                                                                   for t in tokens):
                out.append(Check(o, (rec.label,), convention=("utf8.incomplete", _utf8_style(tokens)), case=key))
            else:
                problems.append(f"tokens join to {joined!r}, text is {text!r}")
        if any(v is not None and v > 1e-6 for v in lps):
            problems.append(f"a token logprob is positive: {max(v for v in lps if v is not None)}")
        for n, (tok, top, value) in enumerate(zip(tokens, tops, lps)):
            if isinstance(top, dict) and top:
                if len(top) > 3:  # logprobs=2: the top two, plus the chosen token where it is not among them
                    problems.append(f"position {n}: {len(top)} top_logprobs for logprobs=2")
                    break
                if value is not None and max(top.values()) < value - 1e-4:
                    problems.append(f"position {n}: chosen token logprob {value} above every top logprob")
                    break
        if offsets and any(b < a for a, b in zip(offsets, offsets[1:])):
            problems.append(f"text_offset decreases: {offsets}")
        if offsets:
            prompt = ex.body.get("prompt", "")
            origin = ("prompt start (OpenAI legacy)" if offsets[0] == len(prompt) else
                      "completion start" if offsets[0] == 0 else f"other ({offsets[0]})")
            out.append(Check(o, (rec.label,), convention=("logprobs.text_offset_origin", origin), case=key))
        for msg in problems:
            out.append(_fail(o, rec.label, "logprobs-structure", f"{key}: {msg}", ex, case=key))
        if not problems:
            out.append(_pass(o, rec.label, key))
    return out


def _utf8_style(tokens: list[str]) -> str:
    if any(t.startswith("bytes:") for t in tokens):
        return "bytes:\\xNN"
    if any("\ufffd" in t for t in tokens):
        return "U+FFFD"
    return "empty string"


def params_oracle(rec: Recording, prompt0: str) -> list[Check]:
    """echo, n, seed and logit_bias must change the answer the way the API says."""
    o, out = "serving.params", []
    for key in ("echo", "echo-stream"):
        echo = rec.get(key)
        if echo is None:
            continue
        if not _unusable(o, rec.label, echo, key):
            text = _text(echo)
            out.append(_pass(o, rec.label, key) if text.startswith(prompt0) else
                       _fail(o, rec.label, "echo-ignored", f"{key}: text {text!r} does not start with the prompt "
                             f"{prompt0!r}", echo, case=key))
        else:
            out.append(_unusable(o, rec.label, echo, key))
    n = rec.get("n")
    bad = _unusable(o, rec.label, n, "n")
    out.append(bad or (_pass(o, rec.label, "n") if len(n.choices()) == 2 else
                       _fail(o, rec.label, "n-ignored", f"n: 2 choices requested, {len(n.choices())} returned", n,
                             case="n")))
    seeds = [rec.get(k) for k in ("seed-a", "seed-b", "seed-c")]
    bad = next((b for b in (_unusable(o, rec.label, s, k) for s, k in zip(seeds, ("seed-a", "seed-b", "seed-c")))
                if b), None)
    if bad:
        out.append(bad)
    else:
        a, b, c = (_text(s) for s in seeds)
        if a != b:
            out.append(_fail(o, rec.label, "seed-not-reproducible", f"seed 7 twice at temperature 1: {a!r} then "
                             f"{b!r}", seeds[0], seeds[1], case="seed"))
        elif a == c and a == rec.text("plain/0"):
            out.append(_fail(o, rec.label, "sampling-ignored", f"temperature 1 with seeds 7 and 8 returns the greedy "
                             f"text {a!r}", seeds[0], seeds[2], rec.get("plain/0"), case="seed"))
        elif a == c:
            out.append(_fail(o, rec.label, "seed-ignored", f"seeds 7 and 8 at temperature 1 sample the same text "
                             f"{a!r}", seeds[0], seeds[2], case="seed"))
        else:
            out.append(_pass(o, rec.label, "seed"))
    bias, base = rec.get("bias"), rec.get("plain/0")
    if bias is None:
        out.append(Check(o, (rec.label,), skipped="no token id for the greedy first token (no tokenize endpoint "
                         "and no reference)", case="logit_bias"))
    elif not _unusable(o, rec.label, bias, "bias") and base is not None and base.ok:
        same = _text(bias) == _text(base)
        out.append(_fail(o, rec.label, "logit-bias-ignored", f"logit_bias -100 on the greedy first token "
                         f"{rec.meta.get('bias_id')}: the text is unchanged {_text(bias)!r}", bias, base,
                         case="logit_bias") if same else _pass(o, rec.label, "logit_bias"))
    else:
        out.append(_unusable(o, rec.label, bias, "bias") or Check(o, (rec.label,), skipped="no greedy baseline",
                                                               case="logit_bias"))
    return out


def chat_oracle(rec: Recording, chats: list[tuple[str, list[dict[str, Any]]]], parts: list[str],
                reference: Reference) -> list[Check]:
    """Chat prompt tokens against the model's own template; content parts against joined strings."""
    o, out = "serving.chat", []
    for name, messages in chats:
        key = f"chat/{name}"
        ex = rec.get(key)
        want, no_template = None, False
        if reference.chat_ids is not None:
            try:
                want = reference.chat_ids(messages)
            except LookupError:
                no_template = True
        if no_template:
            if ex is not None and ex.status_class in ("2xx", "4xx"):
                out.append(Check(o, (rec.label,), convention=("chat.no_template", "rejected (4xx)" if ex.status_class
                                                                 == "4xx" else "a built-in fallback format"), case=key))
                continue
        bad = _unusable(o, rec.label, ex, key)
        if bad:
            out.append(bad)
            continue
        got = (ex.usage() or {}).get("prompt_tokens")
        ids = ex.response.get("prompt_token_ids") if isinstance(ex.response, dict) else None
        if want is None or got is None:
            out.append(Check(o, (rec.label,), skipped="no reference template or no usage", case=key))
        elif ids is not None and list(ids) != want:
            at = next((i for i, (x, y) in enumerate(zip(ids, want)) if x != y), min(len(ids), len(want)))
            out.append(_fail(o, rec.label, "chat-template", f"{key}: prompt token ids differ from the model's chat "
                             f"template (apply_chat_template, add_generation_prompt) at position {at}: "
                             f"{list(ids)[at:at + 8]} vs {want[at:at + 8]}", ex, case=key))
        elif got != len(want):
            out.append(_fail(o, rec.label, "chat-template", f"{key}: prompt_tokens {got}, the model's chat template "
                             f"(apply_chat_template, add_generation_prompt) gives {len(want)}", ex, case=key))
        else:
            out.append(_pass(o, rec.label, key))
    ex = rec.get("parts")
    if parts and ex is not None:
        if ex.ok and ex.usage():
            got = ex.usage().get("prompt_tokens")
            joins = [j for j in JOINS if (rec.get(f"parts-joined/{j}") is not None and rec.get(f"parts-joined/{j}").ok
                                           and (rec.get(f"parts-joined/{j}").usage() or {}).get("prompt_tokens") == got
                                           and _text(rec.get(f"parts-joined/{j}")) == _text(ex))]
            if joins:
                out.append(Check(o, (rec.label,), convention=("chat.content_parts_join", joins[0]), case="parts"))
                out.append(_pass(o, rec.label, "parts"))
            else:
                out.append(_fail(o, rec.label, "content-parts", f"parts: text parts {parts} give prompt_tokens {got}, "
                                 f"matching no joined string ('', ' ', '\\n')", ex, case="parts"))
        elif ex.status_class == (rec.get("parts-joined/empty") or ex).status_class:
            out.append(Check(o, (rec.label,), skipped=f"content parts and the joined string both HTTP {ex.status}",
                             case="parts"))
        elif ex.status_class == "4xx" and (rec.get("parts-joined/empty") or ex).ok:
            out.append(_fail(o, rec.label, "rejects-valid", f"parts: content parts rejected: {ex.summary(300)}",
                             ex, case="parts"))
        else:
            out.append(_unusable(o, rec.label, ex, "parts") or Check(o, (rec.label,), skipped="no usage", case="parts"))
    return out


def validation_oracle(rec: Recording, invalid: list) -> list[Check]:
    """Status classes of malformed requests; a 5xx, no response or a dead server is always a finding."""
    o, out = "serving.validation", []
    for case in invalid:
        key = f"invalid/{case.name}"
        ex = rec.get(key)
        if ex is None:
            continue
        cls = ex.status_class
        if cls == "5xx":
            out.append(_fail(o, rec.label, "server-error", f"{key}: HTTP {ex.status} (expected a 4xx)", ex, case=key))
        elif cls == "no-response":
            out.append(_fail(o, rec.label, "no-response", f"{key}: {ex.error}", ex, case=key))
        elif case.expect == "reject" and cls == "2xx":
            out.append(_fail(o, rec.label, "accepts-invalid", f"{key}: accepted (HTTP {ex.status}) a request the "
                             f"API rejects", ex, case=key))
        elif case.expect == "accept" and cls == "4xx":
            out.append(_fail(o, rec.label, "rejects-valid", f"{key}: rejected (HTTP {ex.status})", ex, case=key))
        else:
            if case.expect == "either":
                out.append(Check(o, (rec.label,), convention=(f"validation.{case.name}", cls), case=key))
            out.append(_pass(o, rec.label, key))
    if rec.meta.get("alive_after_invalid") is False:
        out.append(_fail(o, rec.label, "server-died", "the server stopped answering after the malformed requests",
                         *[rec.get(f"invalid/{c.name}") for c in invalid], case="alive"))
    return out


def concurrency_oracle(rec: Recording) -> list[Check]:
    """The needle streamed amid other streams == the needle streamed alone; no cut stream."""
    o, out = "serving.concurrency", []
    alone, busy = rec.get("stream/0"), rec.get("busy-needle")
    bad = _unusable(o, rec.label, alone, "stream/0") or _unusable(o, rec.label, busy, "busy-needle")
    if bad:
        out.append(bad)
    elif _text(alone) != _text(busy):
        out.append(_fail(o, rec.label, "needle", f"busy-needle: {_text(busy)!r} amid concurrent streams, "
                         f"{_text(alone)!r} alone", busy, alone, case="needle"))
    else:
        out.append(_pass(o, rec.label, "needle"))
    for key in sorted(k for k in rec.exchanges if k.startswith("busy")):
        ex = rec.get(key)
        bad = _unusable(o, rec.label, ex, key)
        if bad:
            out.append(bad)
        elif _finish(ex) is None:  # a missing [DONE] is the stream oracle's
            out.append(_fail(o, rec.label, "stream-cut", f"{key}: concurrent stream ended without a finish_reason",
                             ex, case=key))
        else:
            out.append(_pass(o, rec.label, key))
    if rec.meta.get("alive_at_end") is False:
        out.append(_fail(o, rec.label, "server-died", "the server stopped answering after the concurrent streams",
                         case="alive"))
    return out


# -- across servers and against the reference -------------------------------------------------------
def reference_oracle(recs: list[Recording], prompts: list[str], reference: Reference) -> list[Check]:
    """Prompt token counts against the reference tokenizer; greedy text against the first server's."""
    o, out = "serving.reference", []
    for rec in recs:
        for i, prompt in enumerate(prompts):
            ex = rec.get(f"plain/{i}")
            got = ((ex.usage() or {}).get("prompt_tokens") if ex is not None and ex.ok else None)
            if reference.prompt_tokens is None or got is None:
                continue
            want = reference.prompt_tokens(prompt)
            out.append(_pass(o, rec.label, f"plain/{i}") if got == want else
                       _fail(o, rec.label, "prompt-tokens", f"plain/{i}: prompt_tokens {got}, the reference tokenizer "
                             f"gives {want} for {prompt!r}", ex, case=f"plain/{i}"))
    if len(recs) < 2:
        return out
    first = recs[0]
    for other in recs[1:]:
        for i in range(len(prompts)):
            key = f"plain/{i}"
            a, b = first.text(key), other.text(key)
            if a is None or b is None:
                continue
            ok = a == b
            if not ok and a.replace("\ufffd", "") == b.replace("\ufffd", ""):
                for rec in (first, other):
                    out.append(Check(o, (rec.label,), convention=("utf8.invalid_text", "U+FFFD" if "\ufffd" in
                                                                  rec.text(key) else "dropped"), case=key))
                continue
            out.append(Check(o, (first.label, other.label), ok, "" if ok else "cross-text",
                             "" if ok else f"{key}: greedy text {b!r} from {other.label}, {a!r} from {first.label}",
                             [first.get(key), other.get(key)], key))
    return out


def judge(recs: list[Recording], suite, reference: Reference | None = None) -> list[Check]:
    """Every oracle over every server's recording."""
    reference = reference or Reference()
    checks: list[Check] = []
    chat_names = [name for name, _ in suite.chats]
    for rec in recs:
        checks += stream_oracle(rec, len(suite.prompts), chat_names)
        checks += stop_oracle(rec)
        checks += usage_oracle(rec, len(suite.prompts), suite.max_tokens)
        checks += logprobs_oracle(rec, len(suite.prompts))
        checks += params_oracle(rec, suite.prompts[0])
        checks += chat_oracle(rec, suite.chats, suite.parts, reference)
        checks += validation_oracle(rec, suite.invalid)
        checks += concurrency_oracle(rec)
    checks += reference_oracle(recs, suite.prompts, reference)
    return checks
