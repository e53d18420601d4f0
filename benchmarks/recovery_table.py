"""The recovery table: images × measurements × methods, PSNR and seconds, each run as the
user runs it (``spectralnn recover ... --out DIR`` in a fresh process, default flags).

Images: camera (512×512), astronaut (grey, 512×512), coins (303×384); measurements: sampled
entries and subsampled DCT coefficients at the ``--fractions`` (default 30 %; 1 % relative
noise, the ``recover`` default); methods: snn, softimpute, svt, nnm_noise (noise-aware nuclear
norm), and the image methods snn-patches (non-local SNN), biharmonic, interpolate (entries
only) and tv. Each cell is
``spectralnn recover --image skimage:NAME --fraction F --measurement M --model METHOD``
(plus ``--max-seconds``, default the CLI's 150). ``seconds`` is the wall time of the whole
command (import, problem, fit, files); ``cpu`` its CPU time (user + system).

``--jobs N`` runs N commands at once; with ``--pin`` each is pinned (``taskset``) to its own
pair of cores, so that every command sees a quiet 2-core machine (use it on a machine with at
least 2·N cores). Prints a markdown table and writes OUT/recovery_table.{csv,json}.

    python benchmarks/recovery_table.py OUT [--images camera,astronaut,coins]
        [--measurements entries,dct] [--models snn,softimpute,svt,nnm_noise] [--jobs 1]
        [--fractions 0.3] [--pin] [--size 0] [--max-seconds 150] [--quick]

The image rows of the README (the target of the non-local SNN, minutes):

    python benchmarks/recovery_table.py OUT --measurements entries
        --models biharmonic,interpolate,snn-patches --max-seconds 900
    python benchmarks/recovery_table.py OUT --measurements dct --models tv

The full table of docs/recovery.md (``--full``): camera, astronaut (grey: ``--grey``; colour:
``--colour``, PSNR over the three channels) and coins at 10, 30 and 50 % of the pixels with
snn, snn-patches, softimpute, biharmonic and interpolate, plus 30 % of the DCT coefficients
(grey images) with snn, softimpute and tv — 69 commands, the 30 % cells first:

    python benchmarks/recovery_table.py OUT --full [--resume]

``--images`` and ``--models`` filter the full list; ``--resume`` keeps the cells of OUT that
already have a result (so an interrupted table continues where it stopped); ``--report`` runs
nothing and writes the tables of the cells already there. The table is rewritten after every
cell; each row records the load average at its end (``load``). OUT/recovery_table.md holds one
table per measurement (a row per image and fraction, a column per method).

``--quick`` (smoke test): 48×48 crops resized, one image, 20 s budgets.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

IMAGES = {"camera": "skimage:camera", "astronaut": "skimage:astronaut", "coins": "skimage:coins",
          "astronaut-colour": "skimage:astronaut"}
#: Extra ``recover`` flags of an image key (astronaut is a colour photo: grey or colour).
FLAGS = {"astronaut": ["--grey"], "astronaut-colour": ["--colour"]}

FULL_IMAGES = ("camera", "astronaut", "astronaut-colour", "coins")
FULL_ENTRIES = ("snn-patches", "biharmonic", "interpolate", "softimpute", "snn")
FULL_DCT = ("tv", "softimpute", "snn")


def full_cells() -> list[tuple[str, str, float, str]]:
    """The cells of ``--full`` in the order they run: 30 % of the pixels; DCT with tv and
    soft-impute; 10 % and 50 % with the image methods; DCT with the SNN; 10 % and 50 % with
    soft-impute, then with the whole-image SNN (the longest: it runs to its time budget)."""
    grey = [i for i in FULL_IMAGES if i != "astronaut-colour"]
    cells = [(i, "entries", 0.3, k) for i in FULL_IMAGES for k in FULL_ENTRIES]
    cells += [(i, "dct", 0.3, k) for i in grey for k in FULL_DCT[:2]]
    cells += [(i, "entries", f, k) for f in (0.1, 0.5) for i in FULL_IMAGES
              for k in FULL_ENTRIES[:3]]
    cells += [(i, "dct", 0.3, "snn") for i in grey]
    for model in FULL_ENTRIES[3:]:
        cells += [(i, "entries", f, model) for f in (0.1, 0.5) for i in FULL_IMAGES]
    return cells


def command(image: str, measurement: str, fraction: float, model: str) -> list[str]:
    """The ``spectralnn recover`` arguments of one cell (without ``--out``)."""
    return ["recover", "--image", IMAGES[image], *FLAGS.get(image, []), "--fraction",
            f"{fraction:g}", "--measurement", measurement, "--model", model]


def cell_dir(out: Path, image: str, measurement: str, fraction: float, model: str) -> Path:
    return out / f"{image}-{measurement}-{round(100 * fraction)}-{model}"


def run_one(out: Path, image: str, measurement: str, fraction: float, model: str, size: int,
            max_seconds: float, cpus: str | None) -> subprocess.Popen:
    d = cell_dir(out, image, measurement, fraction, model)
    if d.exists():
        shutil.rmtree(d)
    cmd = [sys.executable, "-m", "spectralnn", *command(image, measurement, fraction, model),
           "--out", str(d), "--quiet", "--max-seconds", str(max_seconds)]
    if size:
        cmd += ["--size", str(size)]
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", default="camera,astronaut,coins")
    ap.add_argument("--measurements", default="entries,dct")
    ap.add_argument("--models", default="snn,softimpute,svt,nnm_noise")
    ap.add_argument("--fractions", default="0.3")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--pin", action="store_true")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=150.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--full", action="store_true", help="the full table (see above)")
    ap.add_argument("--resume", action="store_true", help="keep the cells already in OUT")
    ap.add_argument("--report", action="store_true",
                    help="run nothing: the tables of the cells already in OUT")
    args = ap.parse_args()
    if args.quick:
        args.size, args.max_seconds = 48, 20.0
        args.images = args.images.split(",")[0]
    args.out.mkdir(parents=True, exist_ok=True)
    given = set(sys.argv[1:])
    if args.full:
        cells = [c for c in full_cells()
                 if ("--images" not in given or c[0] in args.images.split(","))
                 and ("--models" not in given or c[3] in args.models.split(","))]
        pending = list(cells)
    else:
        cells = [(i, m, float(f), k) for i in args.images.split(",")
                 for m in args.measurements.split(",") for f in args.fractions.split(",")
                 for k in args.models.split(",")]
        order = {k: j for j, k in enumerate(["snn", "nnm_noise", "svt", "softimpute"])}
        pending = sorted(cells, key=lambda c: order.get(c[3], -1))  # longest runs first
    for i, *_ in cells:
        if i not in IMAGES:
            sys.exit(f"error: unknown image {i!r}; expected one of {', '.join(IMAGES)}")
    rows: list[dict] = []
    if args.resume or args.report:
        for cell in list(pending):
            done = cell_dir(args.out, *cell) / "row.json"
            if done.is_file():
                row = json.loads(done.read_text())
                if row.get("psnr") is not None:
                    rows.append(row)
                    pending.remove(cell)
    if args.report:
        cells, pending = [c for c in cells if c not in pending], []
    running: dict[int, tuple] = {}
    free = list(range(args.jobs))
    while pending or running:
        while pending and free:
            slot = free.pop(0)
            cell = pending.pop(0)
            cpus = f"{2 * slot},{2 * slot + 1}" if args.pin else None
            proc = run_one(args.out, *cell, args.size, args.max_seconds, cpus)
            running[proc.pid] = (proc, cell, slot, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        proc, (image, meas, frac, model), slot, t0 = running.pop(pid)
        wall = time.perf_counter() - t0
        free.append(slot)
        err = proc.stderr.read().strip() if proc.stderr else ""
        d = cell_dir(args.out, image, meas, frac, model)
        row = {"image": image, "measurement": meas, "fraction": frac, "model": model,
               "seconds": wall,
               "cpu": usage.ru_utime + usage.ru_stime, "exit": os.waitstatus_to_exitcode(status),
               "load": round(os.getloadavg()[0], 2),
               "command": "spectralnn " + " ".join(command(image, meas, frac, model))}
        if (d / "summary.json").is_file():
            s = json.loads((d / "summary.json").read_text())
            row.update(psnr=s.get("psnr"), relative_error=s.get("relative_error"),
                       status=s.get("status"), validation_error=s.get("validation_error"),
                       steps=s.get("steps"), warning=s.get("warning"),
                       shape="×".join(map(str, s.get("shape", []))))
        else:
            row.update(psnr=None, status="error", warning=err.splitlines()[-1] if err else "")
        rows.append(row)
        if d.is_dir():
            (d / "row.json").write_text(json.dumps(row, indent=2) + "\n")
        print(f"{image} {meas} {frac:g} {model}: psnr={row.get('psnr')} status={row.get('status')} "
              f"{wall:.1f} s (cpu {row['cpu']:.1f} s, load {row['load']})", flush=True)
        write_table(args.out, rows, cells)
    write_table(args.out, rows, cells)
    print_table(rows)
    (args.out / "recovery_table.md").write_text(pivot_markdown(rows))
    print("\n" + pivot_markdown(rows))


def write_table(out: Path, rows: list[dict], cells: list[tuple]) -> None:
    """OUT/recovery_table.{csv,json}, rows in the order of ``cells``."""
    rows.sort(key=lambda r: cells.index((r["image"], r["measurement"], r["fraction"],
                                         r["model"])))
    keys = ["image", "shape", "measurement", "fraction", "model", "psnr", "relative_error",
            "seconds", "cpu", "load", "status", "steps", "validation_error", "warning", "exit",
            "command"]
    with (out / "recovery_table.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    (out / "recovery_table.json").write_text(json.dumps(rows, indent=2) + "\n")


def pivot_markdown(rows: list[dict]) -> str:
    """One markdown table per measurement: a row per (image, fraction), a column per model,
    cells ``PSNR (seconds)``; the best PSNR of a row in bold, † = stopped at the time budget
    (``budget_reached``), a dash = not run; the load average range under the table."""
    names = {"astronaut": "astronaut (grey)", "astronaut-colour": "astronaut (colour)"}
    text = []
    for meas in dict.fromkeys(r["measurement"] for r in rows):
        sub = [r for r in rows if r["measurement"] == meas]
        models = list(dict.fromkeys(r["model"] for r in sub))
        keys = list(dict.fromkeys((r["image"], r["fraction"]) for r in sub))
        order = [*FULL_IMAGES, *IMAGES]
        keys.sort(key=lambda k: (order.index(k[0]) if k[0] in order else 99, k[1]))
        text += [f"{meas}:", "", "| image | fraction | " + " | ".join(models) + " |",
                 "|---|---:|" + "---:|" * len(models)]
        for image, frac in keys:
            cell = {r["model"]: r for r in sub if (r["image"], r["fraction"]) == (image, frac)}
            best = max((r["psnr"] for r in cell.values() if r.get("psnr") is not None),
                       default=None)
            parts = []
            for m in models:
                r = cell.get(m)
                if r is None or r.get("psnr") is None:
                    parts.append("—")
                    continue
                ps = f"{r['psnr']:.2f}" + ("†" if r.get("status") == "budget_reached" else "")
                ps = f"**{ps}**" if r["psnr"] == best else ps
                parts.append(f"{ps} ({r['seconds']:.0f} s)")
            shape = next((r.get("shape") for r in cell.values() if r.get("shape")), "")
            text.append(f"| {names.get(image, image)} {shape} | {100 * frac:.0f} % | "
                        + " | ".join(parts) + " |")
        text.append("")
    loads = [r["load"] for r in rows if r.get("load") is not None]
    if loads:
        text.append(f"Load average (1 min) at the end of the cells: {min(loads):.1f}–"
                    f"{max(loads):.1f}.")
    return "\n".join(text) + "\n"


def print_table(rows: list[dict]) -> None:
    print("\n| image | measurement | fraction | model | PSNR (dB) | seconds | CPU s | load "
          "| status |")
    print("|---|---|---:|---|---:|---:|---:|---:|---|")
    for r in rows:
        ps = "—" if r.get("psnr") is None else f"{r['psnr']:.2f}"
        print(f"| {r['image']} {r.get('shape', '')} | {r['measurement']} | {r['fraction']:g} "
              f"| {r['model']} | {ps} "
              f"| {r['seconds']:.1f} | {r['cpu']:.1f} | {r.get('load', '')} | {r.get('status')} |")


if __name__ == "__main__":
    main()
