"""Reproduction scripts for campaign findings, written next to the report.

Each script is standalone (the engine's own Python package, not enginebugs) where the finding
allows it, prints what it compares and exits 1 while the problem is present, 0 once it is fixed:

* ``repro_llama_cpp_detokenize_long_piece.py``: llama-cpp-python's ``detokenize`` drops tokens whose
  piece is longer than its 32-byte buffer (found by the vocabulary sweep);
* ``repro_tokenizer_ids.py``: texts the HF tokenizer and llama.cpp's split differently;
* ``repro_finding_<n>.py``: a llama.cpp knob pair (n_batch, n_ubatch, threads) scoring one prompt
  differently; an engine error replayed through the enginebugs worker over the campaign's prompts.

:func:`script_for` picks the script of one finding; ``difftest explain`` uses it too, with a rerun
of the run's own command as the fallback for other findings.
"""
from __future__ import annotations

import json
import re
import shlex
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


RERUN = '''import json
import os
import subprocess
import tempfile

CWD = {cwd}
ARGV = {argv}
FINGERPRINT = {fingerprint}

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "results.json")
    proc = subprocess.run([*ARGV, "--quiet", "--json-out", out], cwd=CWD)
    if not os.path.exists(out):
        print(f"the run did not complete (exit {{proc.returncode}})")
        sys.exit(2)
    found = [f for f in json.load(open(out, encoding="utf-8"))["findings"] if f["fingerprint"] == FINGERPRINT]
for f in found:
    print(f["title"])
    print("first divergence:", json.dumps(f.get("first_divergence"), ensure_ascii=False))
print(f"finding {{FINGERPRINT}} {{'reproduced' if found else 'not seen'}}")
sys.exit(1 if found else 0)
'''
#: Options of the original command that only choose outputs or other configurations.
_DROP_VALUE = {"--configs", "--engines", "--reference", "--json-out", "--junit", "--markdown", "--db", "--baseline",
               "--write-baseline"}
_DROP_FLAG = {"--quiet", "--json"}


def _script(path: Path, title: str, finding: Any, what: str, body: str) -> None:
    path.write_text(script_text(title, finding, what, body), encoding="utf-8")
    path.chmod(0o755)


def script_text(title: str, finding: Any, what: str, body: str) -> str:
    return HEADER.format(title=title, finding=finding, what=what) + body


def config_spec(label: str) -> str:
    """A configuration label back as a ``--configs`` entry: ``llamacpp:f32[n_batch=4]`` -> ``llamacpp:f32:n_batch=4``."""
    base, _, knobs = label.partition("[")
    return ":".join([base, *[k for k in knobs.rstrip("]").split(",") if k]])


def rerun_argv(command: str, finding: dict[str, Any], reference: str | None) -> list[str] | None:
    """The run's own command narrowed to the finding's configurations (with the reference, which
    tokenizes), outputs dropped; None when the command is not a ``difftest run``."""
    argv = shlex.split(command or "")
    if "run" not in argv or "difftest" not in argv:
        return None
    kept, skip = [], False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif name in _DROP_VALUE:
            skip = "=" not in arg
        elif name not in _DROP_FLAG:
            kept.append(arg)
    labels = list(dict.fromkeys(([reference] if reference else []) + list(finding["configs"])))
    kept += ["--configs", ",".join(config_spec(label) for label in labels)]
    return kept + (["--reference", reference] if reference else [])


def script_for(f: dict[str, Any], results: dict[str, Any], files: dict[str, str], prompts: list[str],
               cwd: str | None = None) -> tuple[str, str, str] | None:
    """``(title, what, body)`` of the reproduction script of finding ``f``: a standalone
    llama-cpp-python comparison for a llama.cpp knob pair, a worker replay for an engine error, else
    (when ``cwd`` is given) a rerun of the run's own command on the finding's configurations that
    exits 1 while the same fingerprint comes back. None when none applies."""
    configs = {c["label"]: c for c in results["run"]["configs"]}
    pair = [configs.get(label) for label in f["configs"]]
    if (f["oracle"] in ("cache.chunked_prefill", "precision.knobs") and len(pair) == 2 and all(pair)
            and all(c["engine"] == "llamacpp" for c in pair) and f.get("prompt") and files.get(f"gguf-{pair[0]['dtype']}")):
        return (f"llama.cpp {' vs '.join(f['configs'])}: {f['oracle']}",
                "Scores the prompt under both option sets with llama-cpp-python and compares the logits.",
                LLAMA_KNOBS.format(gguf=json.dumps(files[f"gguf-{pair[0]['dtype']}"]), prompt=json.dumps(f["prompt"]),
                                   a=repr(_llama_options(pair[0])), b=repr(_llama_options(pair[1]))))
    method = f.get("metrics", {}).get("method")
    if (f["oracle"] in ("engine.error", "engine.crash", "engine.hang") and f["configs"][0] in configs
            and method in ("generate", "prompt_logprobs") and files):
        c = configs[f["configs"][0]]
        config = {k: c[k] for k in ("engine", "dtype", "options", "label")}
        model = {**results["run"]["model"], "files": files}
        return (f"{c['label']}: {f['oracle']} during {method}",
                "Replays the call over the run's prompts through the enginebugs worker.",
                WORKER_REPLAY.format(model=repr(model), config=repr(config), method=repr(method),
                                     prompts=json.dumps(prompts, indent=1, ensure_ascii=False)))
    argv = rerun_argv(results["run"].get("command", ""), f, results["run"].get("reference")) if cwd else None
    if argv:
        return (f"{' vs '.join(f['configs'])}: {f['oracle']} ({f['fingerprint']})",
                "Reruns the difftest on the finding's configurations and looks for the same fingerprint.",
                RERUN.format(cwd=json.dumps(cwd), argv=json.dumps(argv, indent=1, ensure_ascii=False),
                             fingerprint=json.dumps(f["fingerprint"])))
    return None


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
        script = script_for(f, results, files, prompts)
        if script:
            add(f"repro_finding_{f['id']}.py", f["id"], *script)
    return written
