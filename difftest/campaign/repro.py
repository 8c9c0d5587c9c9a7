"""Reproduction scripts for campaign findings, written next to the report.

Each script is standalone (the engine's own Python package, not enginebugs) where the finding
allows it, prints what it compares and exits 1 while the problem is present, 0 once it is fixed:

* ``repro_llama_cpp_detokenize_long_piece.py``: llama-cpp-python's ``detokenize`` drops tokens whose
  piece is longer than its 32-byte buffer (found by the vocabulary sweep);
* ``repro_tokenizer_ids.py``: texts the HF tokenizer and llama.cpp's split differently;
* ``repro_finding_<n>.py``: a llama.cpp knob pair (n_batch, n_ubatch, threads) scoring one prompt
  differently; an engine error replayed through the enginebugs worker over the campaign's prompts.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MARK = "Written by `enginebugs difftest campaign`"
HEADER = '''#!/usr/bin/env python3
"""{title}

''' + MARK + ''' (finding {finding}). {what}
Exit status: 1 while the problem reproduces, 0 when it does not.
"""
import sys
'''

DETOKENIZE = '''import ctypes

import llama_cpp

GGUF = {gguf}
IDS = {ids}

llm = llama_cpp.Llama(model_path=GGUF, vocab_only=True, verbose=False)
vocab = llama_cpp.llama_model_get_vocab(llm.model)
bad = 0
for token in IDS:
    buf = ctypes.create_string_buffer(1024)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, True)
    piece = buf.raw[:n]
    got = llm.detokenize([token], special=True)
    ok = got == piece
    bad += not ok
    print(f"id {{token}}: piece {{len(piece)}} bytes {{piece.decode('utf-8', 'replace')!r}}; "
          f"Llama.detokenize -> {{got.decode('utf-8', 'replace')!r}} {{'ok' if ok else 'WRONG'}}")
print(f"{{bad}} of {{len(IDS)}} tokens detokenized wrongly (pieces over 32 bytes are dropped: "
      "llama_token_to_piece returns -needed and buffer[:n] slices to nothing)")
sys.exit(1 if bad else 0)
'''

TOKENIZER_IDS = '''import llama_cpp
from transformers import AutoTokenizer

GGUF = {gguf}
HF_DIR = {hf}
TEXTS = {texts}

hf = AutoTokenizer.from_pretrained(HF_DIR)
llm = llama_cpp.Llama(model_path=GGUF, vocab_only=True, verbose=False)
bad = 0
for text in TEXTS:
    a = hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    b = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    if a != b:
        bad += 1
        print(f"{{text!r}}\\n  transformers: {{hf.convert_ids_to_tokens(a)}}\\n  llama.cpp:    {{hf.convert_ids_to_tokens(b)}}")
print(f"{{bad}} of {{len(TEXTS)}} texts tokenized differently")
sys.exit(1 if bad else 0)
'''

LLAMA_KNOBS = '''import numpy as np
import llama_cpp

GGUF = {gguf}
PROMPT = {prompt}
A = {a}
B = {b}


def scores(options):
    llm = llama_cpp.Llama(model_path=GGUF, logits_all=True, verbose=False, seed=0, **options)
    ids = llm.tokenize(PROMPT.encode("utf-8"), add_bos=True)
    llm.eval(ids)
    return ids, np.array(llm.scores[: len(ids)], dtype=np.float64)


ids, x = scores(A)
_, y = scores(B)
delta = np.abs(x - y).max(axis=1)
print(f"{{len(ids)}} positions; max |delta logit| {{delta.max():.6g}} (first at position {{int(np.argmax(delta > 0))}}); "
      f"argmax differs at {{int((x.argmax(1) != y.argmax(1)).sum())}} positions")
print("A =", A, "\\nB =", B)
sys.exit(1 if delta.max() > 0 else 0)
'''

WORKER_REPLAY = '''from enginebugs.difftest.protocol import EngineConfig, ModelSpec
from enginebugs.difftest.worker import EngineError, WorkerCrashed, WorkerTimeout, WorkerClient

MODEL = ModelSpec.from_dict({model})
CONFIG = EngineConfig.from_dict({config})
METHOD = {method}
PROMPTS = {prompts}

with WorkerClient(CONFIG.engine, MODEL, CONFIG, timeout_s=600) as worker:
    for text in PROMPTS:
        ids = worker.call("tokenize", text=text, add_special=True)
        kwargs = {{"ids": ids, "max_new_tokens": 16}} if METHOD == "generate" else {{"ids": ids}}
        try:
            worker.call(METHOD, **kwargs)
        except (EngineError, WorkerCrashed, WorkerTimeout) as exc:
            print(f"{{METHOD}} on a {{len(ids)}}-token prompt failed: {{exc}}")
            sys.exit(1)
print("no failure")
sys.exit(0)
'''


def _script(path: Path, title: str, finding: Any, what: str, body: str) -> None:
    path.write_text(HEADER.format(title=title, finding=finding, what=what) + body, encoding="utf-8")
    path.chmod(0o755)


def _llama_options(config: dict[str, Any]) -> dict[str, Any]:
    names = {"n_batch": "n_batch", "n_ubatch": "n_ubatch", "threads": "n_threads", "n_ctx": "n_ctx"}
    return {names[k]: v for k, v in config.get("options", {}).items() if k in names}


def remove_stale(out_dir: Path) -> None:
    """Delete the scripts an earlier campaign wrote into ``out_dir`` (recognised by their header):
    their finding numbers belong to the earlier results. Other files are left alone."""
    for old in out_dir.glob("repro_*.py"):
        try:
            generated = MARK in old.read_text(encoding="utf-8")[:1000]
        except (OSError, UnicodeDecodeError):
            continue
        if generated:
            old.unlink()


def write_reproductions(results: dict[str, Any], out_dir: Path, prompts: list[str]) -> list[dict[str, Any]]:
    """Write the scripts the findings call for into ``out_dir`` (an earlier campaign's scripts
    there are removed first); returns ``[{finding, path, title}]``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir)
    camp, written = results.get("campaign", {}), []
    files = camp.get("files", {})
    gguf = next((v for k, v in files.items() if k.startswith("gguf-q")), None) or files.get("gguf-f32")
    configs = {c["label"]: c for c in results["run"]["configs"]}
    by_oracle = {}
    for f in results["findings"]:
        by_oracle.setdefault(f["oracle"], []).append(f)

    def add(name: str, finding: Any, title: str, what: str, body: str) -> None:
        _script(out_dir / name, title, finding, what, body)
        written.append({"finding": finding, "path": name, "title": title})

    examples = camp.get("tokenizer", {}).get("mismatches", {}).get("examples", {})
    dropped = [int(m.group(1)) for e in examples.get("decode:dropped-piece", [])
               if (m := re.fullmatch(r"id (\d+)", e["text"]))]
    decode_finding = next((f["id"] for f in by_oracle.get("tokenization.decode", []) if f.get("part") == "tokenizer"), "-")
    if dropped and gguf:
        add("repro_llama_cpp_detokenize_long_piece.py", decode_finding,
            "llama-cpp-python Llama.detokenize drops tokens whose piece exceeds 32 bytes",
            "Compares Llama.detokenize with llama_token_to_piece on a large buffer.",
            DETOKENIZE.format(gguf=json.dumps(gguf), ids=json.dumps(dropped)))
    texts = [e["text"] for cls, items in examples.items() if not cls.startswith("decode:") for e in items
             if e["source"] != "vocabulary" or not e["text"].startswith("id ")]
    ids_finding = next((f["id"] for f in by_oracle.get("tokenization.ids", []) if f.get("part") == "tokenizer"), "-")
    if texts and gguf and files.get("hf"):
        add("repro_tokenizer_ids.py", ids_finding, "transformers vs llama.cpp tokenization of the same GGUF's vocabulary",
            "Tokenizes each text with both and prints the pieces where they differ.",
            TOKENIZER_IDS.format(gguf=json.dumps(gguf), hf=json.dumps(files["hf"]), texts=json.dumps(texts, indent=1)))
    for f in results["findings"]:
        pair = [configs.get(label) for label in f["configs"]]
        if (f["oracle"] in ("cache.chunked_prefill", "precision.knobs") and len(pair) == 2 and all(pair)
                and all(c["engine"] == "llamacpp" for c in pair) and f.get("prompt")):
            path = files.get(f"gguf-{pair[0]['dtype']}")
            if path:
                add(f"repro_finding_{f['id']}.py", f["id"], f"llama.cpp {' vs '.join(f['configs'])}: {f['oracle']}",
                    "Scores the prompt under both option sets with llama-cpp-python and compares the logits.",
                    LLAMA_KNOBS.format(gguf=json.dumps(path), prompt=json.dumps(f["prompt"]),
                                       a=repr(_llama_options(pair[0])), b=repr(_llama_options(pair[1]))))
        elif f["oracle"] in ("engine.error", "engine.crash", "engine.hang") and f["configs"][0] in configs:
            method = f.get("metrics", {}).get("method")
            if method in ("generate", "prompt_logprobs"):
                c = configs[f["configs"][0]]
                config = {k: c[k] for k in ("engine", "dtype", "options", "label")}
                model = {**results["run"]["model"], "files": files}
                add(f"repro_finding_{f['id']}.py", f["id"], f"{c['label']}: {f['oracle']} during {method}",
                    "Replays the call over the campaign's prompts through the enginebugs worker.",
                    WORKER_REPLAY.format(model=repr(model), config=repr(config), method=repr(method),
                                         prompts=json.dumps(prompts, indent=1, ensure_ascii=False)))
    return written
