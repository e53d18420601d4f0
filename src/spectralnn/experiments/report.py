"""The reproduction report: ``report.md`` and a self-contained ``report.html``.

The report is built once as a list of blocks (headings, paragraphs, tables, images) and
rendered twice, so both files always say the same thing. The HTML embeds the PNGs (base64).
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Block", "build_report", "render_html", "render_markdown"]


@dataclass
class Block:
    kind: str                     # "h1" | "h2" | "h3" | "p" | "table" | "image" | "list"
    content: Any



def _rates_text(train: dict) -> str:
    """How the rates were chosen (``[train] lr``; ``rates`` in older summaries)."""
    lr = train.get("lr", train.get("rates", "search"))
    return "paper" if lr in ("search", "paper") else str(lr)

def _per_model(settings: dict, key: str, default: Any) -> str:
    """``[train] key``, with the models that set their own (``10001 (DF: 20001)``)."""
    base = settings["train"].get(key, default)
    own = [f"{name.upper()}: {table[key]}" for name, table in settings.get("models", {}).items()
           if isinstance(table, dict) and key in table and table[key] != base]
    return f"{base}" + (f" ({', '.join(own)})" if own else "")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return str(v)


_RUN_COLUMNS = [("model", "model"), ("problem", "problem"), ("learning_rate", "lr"),
                ("train_loss", "train loss"), ("test_loss", "held-out loss"),
                ("relative_error", "rel. error"), ("nuclear_norm", "‖X‖_*"),
                ("effective_rank", "eff. rank"), ("psnr", "PSNR (dB)"),
                ("diverged", "diverged"), ("unstable", "oscillating"), ("seconds", "seconds")]


def _runs_table(runs: list[dict]) -> Block:
    cols = [(k, name) for k, name in _RUN_COLUMNS
            if any(r.get(k) is not None for r in runs) or k in ("model", "diverged")]
    cols = [(k, name) for k, name in cols if k != "unstable" or any(r.get(k) for r in runs)]
    rows = [[_fmt(r.get(k)) for k, _ in cols] for r in runs]
    return Block("table", ([name for _, name in cols], rows))


def _claims(fig: dict) -> list[list[str]]:
    """Rows ``[paper's claim, what this run found, agrees?]`` for one figure summary."""
    name, found = fig["figure"], fig.get("findings", [])
    runs = [r for r in fig["runs"] if not r.get("diverged")]
    out: list[list[str]] = []
    if name == "fig2":
        best = min(found, key=lambda f: f["nuclear_norm_gap"]) if found else None
        kkt = fig.get("extra", {}).get("kkt", {})
        check = fig.get("extra", {}).get("reduced_vs_full", {})
        if best:
            out.append([
                "GD on the SNN converges to the minimum-nuclear-norm solution fitting the data",
                f"best rate lr={best['lr']:g}: ‖X‖_* = {best['final_nuclear_norm']:.5f} vs "
                f"optimum {best['optimal_nuclear_norm']:.5f} (gap {best['nuclear_norm_gap']:.2e}"
                f", distance {best['distance_to_optimum']:.2e})",
                _fmt(best["nuclear_norm_gap"] < 1e-2)])
        if kkt:
            out.append([
                "The limit satisfies the KKT conditions of nuclear-norm minimisation",
                f"primal residual {kkt['primal_residual']:.2e}, tangent residual "
                f"{kkt['tangent_residual']:.2e}, ‖P_T⊥(Z)‖₂ = {kkt['normal_norm']:.4f} "
                f"(rank {kkt['rank']}, least-squares target)", _fmt(kkt["holds"])])
        rate = fig.get("extra", {}).get("rate")
        if rate:
            n = len(rate.get("phases", []))
            out.append(["The training loss decays exponentially (Theorem 2)",
                        f"excess loss over the least-squares optimum: {n} exponential "
                        f"phase(s); the last, steps {rate['window'][0]}–{rate['window'][1]}, "
                        f"rate {rate['rate']:.3e} per step (R² = {rate['r2']:.4f})",
                        _fmt(rate["r2"] >= 0.99 and rate["rate"] > 0)])
        if check:
            out.append(["Theorem 1: under Assumptions 1–2 the SNN reduces to vector dynamics",
                        f"full SNN vs reduced model after {check['steps']} steps at "
                        f"lr={check['lr']:g}: relative difference "
                        f"{check['relative_difference']:.2e}",
                        _fmt(check["relative_difference"] < 1e-8)])
    elif name == "fig3":
        errs = {f["model"]: f["best_relative_error"] for f in found}
        if errs:
            best = min(errs, key=lambda k: errs[k] if math.isfinite(errs[k]) else math.inf)
            text = ", ".join(f"{k.upper()} {v:.3g}" for k, v in errs.items())
            out.append(["Beyond Assumption 1 the SNN still trains and recovers X* better than "
                        "the linear model", f"best relative error per model: {text}",
                        _fmt(best == "snn")])
    elif name in ("fig4", "fig5"):
        pairs = [(f.get("snn_relative_error"), f.get("lg_relative_error")) for f in found]
        pairs = [(s, g) for s, g in pairs if s is not None and g is not None]
        wins = sum(s < g for s, g in pairs)
        if pairs:
            mean_s = sum(s for s, _ in pairs) / len(pairs)
            mean_g = sum(g for _, g in pairs) / len(pairs)
            out.append(["On MNIST digits the SNN reconstructs better than linear regression (LG)",
                        f"SNN error below LG's on {wins} of {len(pairs)} digit(s); mean relative "
                        f"error SNN {mean_s:.3f} vs LG {mean_g:.3f}", _fmt(wins == len(pairs))])
        nnm = [f.get("nnm_relative_error") for f in found if f.get("nnm_relative_error")]
        if nnm:
            out.append(["(extra) convex nuclear-norm minimisation on the same measurements",
                        f"mean relative error {sum(nnm) / len(nnm):.3f}", "—"])
        for key, what in (("nnm", "exact-interpolation NNM (A(X) = y)"),
                          ("nnm_noise", "noise-aware NNM (‖A(X) − y‖₂ ≤ σ√m)")):
            vs = [(f.get("snn_relative_error"), f.get(f"{key}_relative_error")) for f in found]
            vs = [(s, n) for s, n in vs if s is not None and n is not None]
            if vs and any(f.get("nnm_noise_relative_error") is not None for f in found):
                won = sum(s < n for s, n in vs)
                out.append([f"(extra) the SNN against {what}",
                            f"SNN error below it on {won} of {len(vs)} digit(s); mean relative "
                            f"error SNN {sum(s for s, _ in vs) / len(vs):.4f} vs "
                            f"{sum(n for _, n in vs) / len(vs):.4f}",
                            "SNN better" if won > len(vs) / 2 else "SNN not better"])
    if not runs:
        out.append(["(runs)", "every run diverged", "no"])
    return out


def build_report(figures: list[dict], total_seconds: float, quick: bool) -> list[Block]:
    """Blocks of the report from the figures' summaries (as written to summary.json)."""
    blocks = [Block("h1", "spectralnn: reproduction of Chu, Ghosh, Lam & Mukherjee (ICML 2024)")]
    mode = "quick mode (reduced steps; a smoke test, not the paper's settings)" if quick else \
        "the paper's settings"
    blocks.append(Block("p", f"Run with {mode}. Total time {total_seconds:.1f} s. Figures: "
                        + ", ".join(f"{f['figure']} ({f['seconds']:.1f} s)" for f in figures)
                        + "."))
    blocks.append(Block("h2", "The paper's claims next to what this run found"))
    claim_rows = [[f["figure"], *row] for f in figures for row in _claims(f)]
    blocks.append(Block("table", (["figure", "paper's claim", "this run", "agrees"],
                                  claim_rows)))
    for fig in figures:
        blocks.append(Block("h2", fig["title"]))
        s = fig["settings"]
        prob = s["problem"]
        desc = (f"Problem {prob.get('name')}: shape {prob.get('shape')}, "
                f"{prob.get('measurements')} training measurements (+ as many held out), "
                f"noise std {prob.get('noise_std')}; {s['dtype']} on {s['device']}; "
                f"{_per_model(s, 'steps', None)} steps; learning rates: "
                f"{_rates_text(s['train'])} (keep {_per_model(s, 'keep', '—')}).")
        if "engine" in s:
            desc += f" Engine: {s['engine']}."
        if "learning_rates" in s:
            desc += " Rates used: " + ", ".join(f"{k.upper()} {v:g}"
                                                 for k, v in s["learning_rates"].items()) + "."
        blocks.append(Block("p", desc))
        for png in fig["pngs"]:
            blocks.append(Block("image", f"{fig['figure']}/{png}"))
        blocks.append(Block("h3", "Runs (final values)"))
        blocks.append(_runs_table(fig["runs"]))
        rejected = fig.get("extra", {}).get("rates_rejected_as_divergent")
        if rejected:
            blocks.append(Block("p", "Rates rejected as divergent: "
                                + ", ".join(f"{r:g}" for r in rejected) + "."))
    return blocks


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + b.content, ""]
        elif b.kind == "p":
            lines += [b.content, ""]
        elif b.kind == "image":
            lines += [f"![{b.content}]({b.content})", ""]
        elif b.kind == "list":
            lines += [f"- {item}" for item in b.content] + [""]
        elif b.kind == "table":
            head, rows = b.content
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "---|" * len(head))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def render_html(blocks: list[Block], root: Path) -> str:
    """Self-contained HTML: images under ``root`` are embedded as base64 data URIs."""
    esc = html.escape
    body: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}>{esc(b.content)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{esc(b.content)}</p>")
        elif b.kind == "list":
            body.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.content) + "</ul>")
        elif b.kind == "image":
            data = base64.b64encode((root / b.content).read_bytes()).decode("ascii")
            body.append(f'<img alt="{esc(b.content)}" src="data:image/png;base64,{data}">')
        elif b.kind == "table":
            head, rows = b.content
            body.append("<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>"
                                  for r in rows) + "</table>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "img{max-width:100%;margin:1em 0}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>spectralnn report</title>"
            f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n")
