"""Run every ``bench_*.py`` module in this folder, one after another."""
import importlib
import pkgutil
import sys

import benchmarks

only = set(sys.argv[1:])
for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
    if info.name.startswith("bench_") and (not only or info.name in only):
        print(f"== {info.name}", flush=True)
        importlib.import_module(f"benchmarks.{info.name}").main()
