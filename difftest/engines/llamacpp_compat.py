"""API differences inside the llama-cpp-python range the adapter supports (>= 0.3.0), found by
looking at signatures and return values, not at version strings.

* ``Llama(...)`` keyword arguments a release lacks are left out; one the caller set to a value
  other than its default is an error (the run would silently measure something else).
* ``tokenize(special=...)`` and ``detokenize(special=...)``: without the keyword the binding's own
  behaviour is used (no special-token parsing, no special-token rendering), and it is reported.
* ``LlamaContext.kv_cache_seq_rm``: up to 0.3.16 the wrapper drops llama.cpp's bool and returns
  None; llama.cpp of that era removes a sequence tail of a plain transformer cache
  without failing, so None counts as success.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable


def accepts(fn: Callable, name: str) -> bool:
    """Whether ``fn`` takes a keyword ``name`` (or ``**kwargs``); True when it cannot be inspected."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def supported_kwargs(fn: Callable, kwargs: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the ``kwargs`` ``fn`` accepts, the names left out). A left-out argument whose value differs
    from ``defaults[name]`` (what the adapter passes when the user set nothing) is a ValueError."""
    kept, dropped = {}, []
    for name, value in kwargs.items():
        if accepts(fn, name):
            kept[name] = value
            continue
        if name in defaults and value != defaults[name]:
            raise ValueError(f"this llama-cpp-python has no Llama({name}=...); it cannot run {name}={value!r}")
        dropped.append(name)
    return kept, dropped


def tokenize(llm: Any, data: bytes, add_bos: bool, special: bool) -> list[int]:
    """``llm.tokenize`` with ``special`` where the binding has it; a binding without it cannot parse
    special tokens in text, which is a ValueError when asked for."""
    if accepts(llm.tokenize, "special"):
        return list(llm.tokenize(data, add_bos=add_bos, special=special))
    if special:
        raise ValueError("this llama-cpp-python's tokenize() has no special=...; it cannot parse special tokens")
    return list(llm.tokenize(data, add_bos=add_bos))


def detokenize(llm: Any, ids: list[int], special: bool) -> bytes:
    """``llm.detokenize`` with ``special`` where the binding has it, else its default rendering."""
    if accepts(llm.detokenize, "special"):
        return llm.detokenize(ids, special=special)
    return llm.detokenize(ids)


def seq_rm(ctx: Any, seq_id: int, p0: int, p1: int) -> bool:
    """``ctx.kv_cache_seq_rm``: True when the tail was removed (None from old wrappers counts)."""
    done = ctx.kv_cache_seq_rm(seq_id, p0, p1)
    return True if done is None else bool(done)


def features(llm: Any) -> dict[str, bool]:
    """What this binding supports, for the fingerprint."""
    return {"tokenize_special": accepts(llm.tokenize, "special"),
            "detokenize_special": accepts(llm.detokenize, "special")}
