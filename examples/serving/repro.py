"""Minimal reproductions of the serving-layer bugs `enginebugs difftest serve` found on the tiny model.

    python examples/serving/repro.py            # every case
    python examples/serving/repro.py NAME ...   # some (see CASES)

Each case starts one server on the tiny model (pinned settings of difftest serve), sends one
request and prints what came back and whether the bug reproduced. Exit status: number of cases
that reproduced.
"""
from __future__ import annotations

import sys

from enginebugs.difftest.models import get_model
from enginebugs.difftest.serving.client import send
from enginebugs.difftest.serving.servers import LlamaCppServer, TransformersServer, started

P = "The cat sat on"


def _text(ex, i=0):
    c = ex.choices()
    return (c[i].get("text") if "text" in c[i] else (c[i].get("message") or {}).get("content")) if len(c) > i else None


def _stop_kept(ex):
    return ex.ok and "stop" in ex.body and ex.body["stop"][0] in (_text(ex) or "")


CASES = {
    # name: (server, endpoint, body, reproduced(exchange) -> bool or (control body change,
    #        reproduced(exchange, control) -> bool), what the API says)
    "transformers-stop-kept": ("transformers", "completions", {"prompt": P, "max_tokens": 12, "temperature": 0,
                                                               "stop": [" S"]},
                               _stop_kept, "the returned text never contains the stop sequence"),
    "transformers-stream-no-done": ("transformers", "completions", {"prompt": P, "max_tokens": 4, "temperature": 0,
                                                                    "stream": True},
                                    lambda ex: ex.ok and not ex.done, "a stream ends with data: [DONE]"),
    "transformers-temperature-greedy": ("transformers", "completions", {"prompt": P, "max_tokens": 12,
                                                                        "temperature": 1.0, "seed": 8},
                                        ({"temperature": 0}, lambda ex, control: ex.ok and _text(ex) == _text(control)),
                                        "temperature 1 samples (text differs from greedy for some seed)"),
    "transformers-logit-bias-ignored": ("transformers", "completions", {"prompt": P, "max_tokens": 4, "temperature": 0,
                                                                        "logit_bias": {"1123": -100}},
                                        lambda ex: ex.ok and (_text(ex) or "").startswith(" S"),
                                        "logit_bias -100 bans token 1123 (' S', the greedy first token)"),
    "transformers-500-max-tokens-zero": ("transformers", "completions", {"prompt": P, "max_tokens": 0},
                                         lambda ex: ex.status_class == "5xx", "invalid input is a 4xx"),
    "transformers-500-no-chat-template": ("transformers", "chat", {"messages": [{"role": "user", "content": "Hi"}],
                                                                   "max_tokens": 4},
                                          lambda ex: ex.status_class == "5xx", "a model without template is a 4xx"),
    "llamacpp-500-on-validation-error": ("llamacpp", "completions", {"prompt": P, "max_tokens": -5},
                                         lambda ex: ex.status_class == "5xx", "a validation error is a 4xx (422/400)"),
    "llamacpp-content-parts-dropped": ("llamacpp", "chat", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Hello world, please answer at length"}]}], "max_tokens": 1, "temperature": 0},
                                       ({"messages": [{"role": "user", "content": ""}]},
                                        lambda ex, control: ex.ok and ex.usage() == control.usage()),
                                       "text content parts reach the prompt (more prompt_tokens than empty content)"),
    "llamacpp-logprobs-short": ("llamacpp", "completions", {"prompt": "Once upon a time, in a small village,",
                                                            "max_tokens": 12, "temperature": 0, "logprobs": 2},
                                lambda ex: ex.ok and len(ex.choices()[0]["logprobs"]["tokens"])
                                != ex.usage()["completion_tokens"],
                                "one logprobs entry per generated token (usage.completion_tokens)"),
    "llamacpp-echo-stream-missing": ("llamacpp", "completions", {"prompt": P, "max_tokens": 4, "temperature": 0,
                                                                 "echo": True, "stream": True},
                                     lambda ex: ex.ok and not (_text(ex) or "").startswith(P),
                                     "echo=true puts the prompt in front of the streamed text too"),
    "llamacpp-n-ignored": ("llamacpp", "completions", {"prompt": P, "max_tokens": 4, "temperature": 1.0, "n": 2},
                           lambda ex: ex.ok and len(ex.choices()) == 1, "n=2 returns two choices"),
}


def main(names: list[str]) -> int:
    chosen = names or list(CASES)
    unknown = [n for n in chosen if n not in CASES]
    if unknown:
        print(f"error: unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}", file=sys.stderr)
        return 2
    model = get_model("tiny")
    servers = {"llamacpp": LlamaCppServer(), "transformers": TransformersServer()}
    needed = [servers[k] for k in dict.fromkeys(CASES[n][0] for n in chosen)]
    reproduced = 0
    with started(needed, model, print) as (up, failed):
        for name in chosen:
            kind, endpoint, body, check, rule = CASES[name]
            s = servers[kind]
            if s not in up:
                print(f"{name}: {kind} did not start: {failed.get(s.name)}")
                continue
            ex = send(s.label, s.base_url, endpoint, {**s.request_defaults, "model": s.model_id, **body})
            if isinstance(check, tuple):  # compared with a control request
                change, check = check
                control = send(s.label, s.base_url, endpoint, {**s.request_defaults, "model": s.model_id, **body,
                                                               **change})
                hit = bool(check(ex, control))
            else:
                hit = bool(check(ex))
            reproduced += hit
            print(f"\n== {name}: {'REPRODUCED' if hit else 'not reproduced'} (expected: {rule})\n{ex.curl()}\n"
                  f"{ex.summary(800)}")
    return reproduced


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
