"""PNG plots of a difftest results file: KL-divergence and Δp histograms per configuration pair.

A pair whose metrics carry per-position values (``distribution`` = ``{"kld": [...], "delta_p":
[...]}``, written by ``difftest campaign``) is drawn as a histogram; a pair with only the
percentile summary (``difftest run``) as its quantile curve, so every run still gets a picture.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np

#: Smallest KL divergence drawn on the log axis; smaller values (and exact zeros) go to the first bin.
KLD_FLOOR = 1e-9
PERCENTILE_KEYS = ("p1", "p5", "p10", "p50", "p90", "p95", "p99", "p99.9")


def _pair_name(m: dict[str, Any]) -> str:
    return f"{m['expected']} vs {m['actual']}"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(8, 3.8))


def kld_histogram(pairs: list[dict[str, Any]]) -> bytes:
    """Per-position KL divergence of every pair, log-spaced bins, counts on a log axis."""
    values = {_pair_name(m): np.maximum(np.asarray(m["distribution"]["kld"], dtype=np.float64), KLD_FLOOR)
              for m in pairs}
    top = max(float(v.max()) for v in values.values())
    bins = np.logspace(np.log10(KLD_FLOOR), np.log10(max(top, KLD_FLOOR * 10)) + 1e-9, 61)
    fig, ax = _figure()
    for name, v in values.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, label=f"{name} (n={len(v)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"KL divergence per position (nats; values < {KLD_FLOOR:g} in the first bin)")
    ax.set_ylabel("positions")
    ax.set_title("KL divergence histogram (reference vs configuration, fp32 log-softmax)")
    ax.legend(fontsize=7)
    return _png(fig)


def delta_p_histogram(pairs: list[dict[str, Any]]) -> bytes:
    """Per-position Δp (probability of the scored token, configuration minus reference)."""
    values = {_pair_name(m): np.asarray(m["distribution"]["delta_p"], dtype=np.float64) for m in pairs}
    edge = max(float(np.abs(v).max()) for v in values.values()) or 1e-6
    bins = np.linspace(-edge, edge, 81)
    fig, ax = _figure()
    for name, v in values.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, label=f"{name} (n={len(v)})")
    ax.set_yscale("log")
    ax.set_xlabel("Δp of the scored token (configuration - reference)")
    ax.set_ylabel("positions")
    ax.set_title("Δp histogram")
    ax.legend(fontsize=7)
    return _png(fig)


def quantile_plot(pairs: list[dict[str, Any]], metric: str) -> bytes:
    """The percentiles a plain run records (p1 ... p99.9), one curve per pair."""
    fig, ax = _figure()
    xs = [float(k[1:]) for k in PERCENTILE_KEYS]
    for m in pairs:
        stats = m[metric]
        ys = [stats.get(k) for k in PERCENTILE_KEYS]
        if metric == "kld":
            ys = [max(y, KLD_FLOOR) if y is not None else None for y in ys]
        ax.plot(xs, ys, marker="o", label=_pair_name(m))
    if metric == "kld":
        ax.set_yscale("log")
    ax.set_xlabel("percentile of positions")
    ax.set_ylabel("KL divergence (nats)" if metric == "kld" else "Δp")
    ax.set_title(("KL divergence" if metric == "kld" else "Δp") + " quantiles (no per-position values in this file)")
    ax.legend(fontsize=7)
    return _png(fig)


def plots(data: dict[str, Any]) -> dict[str, bytes]:
    """``{name: PNG bytes}``: ``kld_histogram``/``delta_p_histogram`` over the pairs with per-position
    values, ``kld_quantiles``/``delta_p_quantiles`` over the pairs with only percentiles."""
    pairs = [m for m in data.get("metrics", {}).get("pairs", []) if m.get("positions")]
    with_values = [m for m in pairs if m.get("distribution", {}).get("kld")]
    only_summary = [m for m in pairs if m not in with_values and "kld" in m]
    out: dict[str, bytes] = {}
    if with_values:
        out["kld_histogram"] = kld_histogram(with_values)
        out["delta_p_histogram"] = delta_p_histogram(with_values)
    if only_summary:
        out["kld_quantiles"] = quantile_plot(only_summary, "kld")
        out["delta_p_quantiles"] = quantile_plot(only_summary, "delta_p")
    return out
