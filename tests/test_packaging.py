"""enginebugs as a package: one import namespace, data inside the wheel, and the main commands run
from an installed wheel (not the checkout) in an empty directory with HOME elsewhere."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from enginebugs.mining.paper_dataset import shipped_dataset
from tests.paths import ROOT, SHARED_CSV

#: Data files the code reads; each must travel inside the wheel.
DATA_FILES = ("enginebugs/datasets/paper/dataset.csv", "enginebugs/datasets/paper/LICENSE",
              "enginebugs/datasets/paper/PROVENANCE.md", "enginebugs/datasets/seed_reports.jsonl",
              "enginebugs/datasets/prompts/default.toml", "enginebugs/datasets/serving/requests.toml",
              "enginebugs/datasets/tokenizer_edge_cases.txt",
              "enginebugs/datasets/tokenizer_corpus/prose.txt", "enginebugs/taxonomy/data/taxonomy.toml",
              "enginebugs/difftest/data/tolerances.toml", "enginebugs/mining/presets.toml")


def test_shipped_dataset_is_the_papers_file_byte_for_byte():
    data = shipped_dataset().read_bytes()
    recorded = re.search(r"SHA-256\*\*: `([0-9a-f]{64})`", (shipped_dataset().parent / "PROVENANCE.md").read_text())
    assert recorded and hashlib.sha256(data).hexdigest() == recorded.group(1)
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\n") >= 929
    if SHARED_CSV.is_file():
        assert data == SHARED_CSV.read_bytes()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source") / "enginebugs"
    # Built from a copy of the tracked tree: a stale build/ folder in the checkout cannot leak in.
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(source)], check=True, capture_output=True, text=True)
    (path,) = out.glob("enginebugs-*.whl")
    return path


def test_wheel_installs_only_the_enginebugs_namespace_and_carries_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"enginebugs"}
    missing = [f for f in DATA_FILES if f not in names]
    assert not missing
    packages = {str(p.parent.relative_to(ROOT)) for folder in ("mining", "taxonomy", "difftest", "reports", "datasets")
                for p in (ROOT / folder).rglob("__init__.py")}
    shipped = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    assert {f"enginebugs/{p}" for p in packages} <= shipped, "a sub-package is missing from pyproject's packages"


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (not editable); third-party packages come from the test
    environment through a .pth file, so nothing is downloaded and the checkout is not importable."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(purelib, "_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", purelib, str(wheel)],
                   check=True, capture_output=True, text=True)
    return python


def _run(python: Path, cwd: Path, home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ENGINEBUGS_DB", "ENGINEBUGS_CACHE")}
    environ.update(HOME=str(home), **(env or {}))
    return subprocess.run([str(python), "-m", "enginebugs.cli", *args], cwd=cwd, env=environ, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_installed_wheel_runs_the_study_and_the_classifier_from_an_empty_directory(installed, tmp_path):
    cwd, home = tmp_path / "empty", tmp_path / "home"
    cwd.mkdir(), home.mkdir()
    where = subprocess.run([str(installed), "-c", "import enginebugs.mining as m; print(m.__file__)"], cwd=cwd,
                           capture_output=True, text=True, env={**os.environ, "HOME": str(home)})
    assert "site-packages" in where.stdout and str(ROOT) not in where.stdout
    imported = _run(installed, cwd, home, "study", "import")
    assert imported.returncode == 0, imported.stderr
    assert "imported 929 bugs" in imported.stdout
    report = _run(installed, cwd, home, "report", "study", "--json")
    assert report.returncode == 0, report.stderr
    stats = json.loads(report.stdout)
    assert stats["bugs"] == 929 and stats["collections"] == {"paper": 929}
    evaluation = _run(installed, cwd, home, "classify", "eval", "--json", "--folds", "2")
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout)["symptom"]["macro_f1"] > 0
    assert sorted(p.name for p in cwd.iterdir()) == ["enginebugs.db"]


@pytest.mark.slow
@pytest.mark.engines
def test_installed_wheel_runs_a_two_engine_difftest(installed, tiny_model, tmp_path):
    pytest.importorskip("llama_cpp")
    cwd, home = tmp_path / "empty", tmp_path / "home"
    cwd.mkdir(), home.mkdir()
    cache = Path(tiny_model.files["hf"]).parents[2]
    result = _run(installed, cwd, home, "difftest", "run", "--model", "tiny", "--engines", "transformers,llamacpp",
                  "--configs", "transformers:f32,llamacpp:f32", "--suite", "smoke", "--quiet",
                  "--cache-dir", str(cache), "--json-out", "r.json")
    assert result.returncode in (0, 1), result.stderr
    data = json.loads((cwd / "r.json").read_text())
    assert [c["label"] for c in data["run"]["configs"]] == ["transformers:f32", "llamacpp:f32"]
    assert all(c["status"] == "ok" for c in data["run"]["configs"])
