"""``spectralnn complete`` end to end on every input kind, and every bad input: one error
line, exit code 2, nothing written."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spectralnn.cli import main

STEPS = ["--max-steps", "300"]


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["complete", *map(str, args)])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def low_rank(d1=20, d2=16, observed=0.7, seed=0):
    rng = np.random.default_rng(seed)
    A = np.outer(rng.standard_normal(d1), rng.standard_normal(d2)) + 2.0
    M = A.copy()
    M[rng.random(A.shape) >= observed] = np.nan
    return A, M


def smooth_image(h=24, w=20):
    """A rank-1 grey image in [40, 240]."""
    return np.outer(np.linspace(40, 200, h), np.linspace(1.0, 1.2, w))


def read_summary(out):
    return json.loads((out / "summary.json").read_text())


def test_npy_with_nan_end_to_end(tmp_path, capsys):
    A, M = low_rank()
    np.save(tmp_path / "m.npy", M)
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, tmp_path / "m.npy", "--out", out, "--test-fraction", "0.2",
                          "--quiet")
    assert code == 0 and stdout == ""
    X = np.load(out / "completed.npy")
    missing = np.isnan(M)
    assert X.shape == M.shape and np.isfinite(X).all()
    np.testing.assert_array_equal(X[~missing], M[~missing])
    assert np.linalg.norm((X - A)[missing]) / np.linalg.norm(A[missing]) < 0.1
    s = read_summary(out)
    assert s["shape"] == [20, 16] and s["observed"] == int((~missing).sum())
    assert s["test_entries"] == round(0.2 * s["observed"])
    assert s["test"]["rmse"] < 0.1 * np.abs(A).mean()
    for key in ("status", "validation_error", "seconds", "model", "warning", "fit"):
        assert key in s
    assert sorted(p.name for p in out.iterdir()) == ["completed.npy", "summary.json"]


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".tsv", "\t")])
def test_delimited_matrix_with_empty_cells(tmp_path, capsys, suffix, delimiter):
    _, M = low_rank(12, 10, seed=1)
    path = tmp_path / f"m{suffix}"
    path.write_text("\n".join(delimiter.join("" if np.isnan(v) else repr(float(v)) for v in row)
                              for row in M) + "\n")
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, path, "--out", out, *STEPS)
    assert code == 0 and "completed 12×10" in stdout
    with (out / f"completed{suffix}").open() as f:
        X = np.array([[float(c) for c in row] for row in csv.reader(f, delimiter=delimiter)])
    observed = ~np.isnan(M)
    assert X.shape == M.shape and np.isfinite(X).all()
    np.testing.assert_array_equal(X[observed], M[observed])


def test_png_with_alpha_channel(tmp_path, capsys):
    truth = smooth_image()
    rng = np.random.default_rng(2)
    alpha = np.where(rng.random(truth.shape) < 0.6, 255, 0).astype(np.uint8)
    grey = np.rint(truth).astype(np.uint8)
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(tmp_path / "a.png")
    out = tmp_path / "out"
    code, _, _ = run(capsys, tmp_path / "a.png", "--out", out, "--test-fraction", "0.1",
                     *STEPS)
    assert code == 0
    with Image.open(out / "completed.png") as img:
        assert img.mode == "L"
        X = np.asarray(img, dtype=np.float64)
    seen = alpha > 0
    np.testing.assert_array_equal(X[seen], grey[seen])
    assert np.abs(X - truth)[~seen].mean() < 10  # grey levels, out of 255
    s = read_summary(out)
    assert s["kind"] == "image" and s["observed"] == int(seen.sum())
    assert s["test"]["psnr"] > 25


@pytest.mark.parametrize("model", ["snn-patches", "biharmonic", "snn"])
def test_image_with_nothing_missing_is_returned_as_given_with_a_warning(tmp_path, capsys,
                                                                        model):
    grey = np.rint(smooth_image()).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "full.png")
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, tmp_path / "full.png", "--out", out, "--model", model)
    assert code == 0 and "status=nothing_missing" in stdout
    assert stderr.strip() == "warning: nothing is missing in this 24×20 image: returned as given"
    with Image.open(out / "completed.png") as img:
        np.testing.assert_array_equal(np.asarray(img), grey)
    assert read_summary(out)["status"] == "nothing_missing"


def test_masked_png_ignores_the_pixels_the_mask_hides(tmp_path, capsys):
    truth = smooth_image()
    rng = np.random.default_rng(3)
    seen = rng.random(truth.shape) < 0.6
    corrupted = np.where(seen, np.rint(truth), 255).astype(np.uint8)  # hidden pixels: white
    Image.fromarray(corrupted).save(tmp_path / "g.png")
    Image.fromarray((seen * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    code, _, _ = run(capsys, tmp_path / "g.png", "--mask", tmp_path / "mask.png", "--out", out,
                     *STEPS)
    assert code == 0
    X = np.asarray(Image.open(out / "completed.png"), dtype=np.float64)
    np.testing.assert_array_equal(X[seen], corrupted[seen])
    assert np.abs(X - truth)[~seen].mean() < 10


def test_jpeg_gives_only_a_lossless_png(tmp_path, capsys):
    img = np.rint(smooth_image()).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "g.jpg")
    with Image.open(tmp_path / "g.jpg") as f:
        decoded = np.asarray(f, dtype=np.float64)
    mask = np.random.default_rng(4).random((24, 20)) < 0.7
    np.save(tmp_path / "mask.npy", mask)
    out = tmp_path / "out"
    code, _, _ = run(capsys, tmp_path / "g.jpg", "--mask", tmp_path / "mask.npy", "--out", out,
                     "--max-steps", "20", "--quiet")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["completed.png", "summary.json"]
    X = np.asarray(Image.open(out / "completed.png"), dtype=np.float64)
    np.testing.assert_array_equal(X[mask], decoded[mask])  # the decoded input's pixels
    assert "lossy" in read_summary(out)["note"]


def test_colour_png_with_alpha_stays_colour_and_keeps_observed_pixels(tmp_path, capsys):
    truth = smooth_image()
    rgb = np.rint(np.dstack([truth, truth[::-1] * 0.9, 255 - truth])).astype(np.uint8)
    alpha = np.where(np.random.default_rng(6).random(truth.shape) < 0.6, 255, 0)
    Image.fromarray(np.dstack([rgb, alpha.astype(np.uint8)]), "RGBA").save(tmp_path / "p.png")
    for model in ("snn-patches", "interpolate", "softimpute"):
        out = tmp_path / model
        code, _, _ = run(capsys, tmp_path / "p.png", "--out", out, "--model", model,
                         "--quiet", *STEPS)
        assert code == 0
        with Image.open(out / "completed.png") as img:
            assert img.mode == "RGB"
            X = np.asarray(img, dtype=np.float64)
        seen = alpha > 0
        np.testing.assert_array_equal(X[seen], rgb[seen])
        assert np.abs(X - rgb)[~seen].mean() < 12, model  # levels out of 255, every channel
        s = read_summary(out)
        assert s["channels"] == "rgb" and s["model"] == model


def test_image_models_refuse_a_matrix(tmp_path, capsys):
    _, M = low_rank()
    np.save(tmp_path / "m.npy", M)
    code, _, err = run(capsys, tmp_path / "m.npy", "--out", tmp_path / "o", "--model",
                       "biharmonic")
    assert code == 2 and "completes images" in err and not (tmp_path / "o").exists()


def ratings(tmp_path, seed=5):
    """A 15×12 rank-1 table of ratings in [1, 5] with string ids, 60 % observed, and a query
    of unobserved pairs (with an extra column)."""
    rng = np.random.default_rng(seed)
    R = np.clip(3 + np.outer(rng.standard_normal(15), rng.standard_normal(12)), 1, 5)
    seen = rng.random(R.shape) < 0.6
    seen[:, 0] = seen[0, :] = True  # every id appears
    users = [f"user {i}" for i in range(15)]
    items = [f"item-{j:02d}" for j in range(12)]
    lines = ["user,item,rating,timestamp"]
    lines += [f"{users[i]},{items[j]},{R[i, j]:.4f},{i * 100 + j}"
              for i, j in zip(*np.nonzero(seen))]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    query = [(users[i], items[j]) for i, j in zip(*np.nonzero(~seen))][:10]
    (tmp_path / "q.csv").write_text("id,item,user\n" + "".join(
        f"{k},{it},{u}\n" for k, (u, it) in enumerate(query)))
    return R, seen, users, items, query


def test_ratings_table_with_string_ids_and_predictions(tmp_path, capsys):
    R, seen, users, items, query = ratings(tmp_path)
    out = tmp_path / "out"
    code, _, _ = run(capsys, tmp_path / "r.csv", "--triplets", "user,item,rating", "--predict",
                     tmp_path / "q.csv", "--out", out, "--test-fraction", "0.1", *STEPS)
    assert code == 0
    with (out / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["user"], r["item"]) for r in rows] == query
    assert list(rows[0]) == ["id", "item", "user", "prediction"]
    pred = np.array([float(r["prediction"]) for r in rows])
    truth = np.array([R[users.index(u), items.index(i)] for u, i in query])
    assert ((pred >= 1) & (pred <= 5)).all()
    assert np.sqrt(np.mean((pred - truth) ** 2)) < 0.5
    with (out / "completed.csv").open() as f:
        full = list(csv.DictReader(f))
    assert len(full) == 15 * 12 and list(full[0]) == ["user", "item", "rating"]
    given = {(users[i], items[j]): f"{R[i, j]:.4f}" for i, j in zip(*np.nonzero(seen))}
    for r in full:
        if (r["user"], r["item"]) in given:
            assert float(r["rating"]) == float(given[r["user"], r["item"]])
    s = read_summary(out)
    assert s["kind"] == "triplets" and s["shape"] == [15, 12] and s["predictions"] == 10
    assert s["observed"] == int(seen.sum()) and "rmse" in s["test"]


def test_semicolon_ratings_with_decimal_commas_as_a_spreadsheet_exports_them(tmp_path, capsys):
    """A decimal-comma locale's export: BOM, CRLF, ';' between cells, '4,5' for 4.5."""
    cells = [(u, i) for u in range(8) for i in range(6) if (u * 7 + i * 3) % 4]
    given = {(f"u{u}", f"i{i}"): 1 + ((u + 2 * i) % 9) / 2 for u, i in cells}
    lines = ["user;item;rating"] + [f"{u}; {i} ;{v:.1f}".replace(".", ",")
                                    for (u, i), v in given.items()]
    (tmp_path / "r.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, tmp_path / "r.csv", "--triplets", "user,item,rating",
                          "--out", out, *STEPS)
    assert code == 0 and "completed 8×6" in stdout
    with (out / "completed.csv").open() as f:
        full = {(r["user"], r["item"]): float(r["rating"]) for r in csv.DictReader(f)}
    assert len(full) == 48 and all(full[k] == v for k, v in given.items())


def test_same_seed_same_files_and_an_empty_existing_directory_is_filled(tmp_path, capsys):
    _, M = low_rank(12, 10, seed=6)
    np.save(tmp_path / "m.npy", M)
    outs = [tmp_path / "a", tmp_path / "b"]
    outs[1].mkdir()
    for out in outs:
        code, _, _ = run(capsys, tmp_path / "m.npy", "--out", out, "--seed", "3",
                         "--test-fraction", "0.2", "--max-steps", "50", "--quiet")
        assert code == 0
    a, b = (np.load(o / "completed.npy") for o in outs)
    np.testing.assert_array_equal(a, b)
    assert read_summary(outs[0])["test"] == read_summary(outs[1])["test"]


def _write(path, text):
    path.write_text(text)
    return path


BAD = {
    "nothing observed": (lambda p: np.save(p / "m.npy", np.full((3, 4), np.nan)),
                         ["@m.npy"], "nothing is observed"),
    "non-numeric cell": (lambda p: _write(p / "m.csv", "1,2\n3,abc\n"), ["@m.csv"],
                         "non-numeric cell 'abc' at line 2, column 2"),
    "ragged csv": (lambda p: _write(p / "m.csv", "1,2,3\n4,5\n"), ["@m.csv"], "ragged"),
    "empty csv": (lambda p: _write(p / "m.csv", ""), ["@m.csv"], "is empty"),
    "empty npy": (lambda p: _write(p / "m.npy", ""), ["@m.npy"], "is empty"),
    "corrupt npy": (lambda p: _write(p / "m.npy", "not an array"), ["@m.npy"], "cannot read"),
    "corrupt png": (lambda p: _write(p / "g.png", "not an image"), ["@g.png"], "cannot read"),
    "infinite value": (lambda p: np.save(p / "m.npy", np.array([[1.0, np.inf]])), ["@m.npy"],
                       "infinite"),
    "3-d array": (lambda p: np.save(p / "m.npy", np.ones((2, 2, 2))), ["@m.npy"], "2-D"),
    "missing input": (lambda p: None, ["@nope.npy"], "does not exist"),
    "unknown extension": (lambda p: _write(p / "m.txt", "1\n"), ["@m.txt"], "extension"),
    "mask of another shape": (
        lambda p: (np.save(p / "m.npy", np.ones((4, 5))),
                   Image.fromarray(np.full((5, 4), 255, np.uint8)).save(p / "mask.png")),
        ["@m.npy", "--mask", "@mask.png"], "mask .* has shape"),
    "test fraction 0": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                        ["@m.npy", "--test-fraction", "0"], "test fraction"),
    "test fraction as a percentage": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                                      ["@m.npy", "--test-fraction", "10"],
                                      r"in \(0, 1\), got 10 \(10 % is 0\.1\)"),
    "test fraction 1": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                        ["@m.npy", "--test-fraction", "1"], "test fraction"),
    "test fraction 1.5": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                          ["@m.npy", "--test-fraction", "1.5"], "test fraction"),
    "test fraction too small": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                                ["@m.npy", "--test-fraction", "0.01"], "holds out 0"),
    "negative seed": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1\n"),
                      ["@r.csv", "--triplets", "u,i,v", "--seed", "-1"], "seed must be"),
    "unknown model": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                      ["@m.npy", "--model", "magic"], "unknown .*model 'magic'"),
    "predict without triplets": (lambda p: np.save(p / "m.npy", np.ones((4, 5))),
                                 ["@m.npy", "--predict", "@q.csv"], "--predict needs"),
    "duplicate triplets": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1\na,x,2\n"),
                           ["@r.csv", "--triplets", "u,i,v"], "one value per"),
    "unknown triplet column": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1\n"),
                               ["@r.csv", "--triplets", "user,i,v"], "column 'user'"),
    "two triplet columns": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1\n"),
                            ["@r.csv", "--triplets", "u,i"], "three distinct column names"),
    "non-numeric rating": (lambda p: _write(p / "r.csv", "u,i,v\na,x,good\n"),
                           ["@r.csv", "--triplets", "u,i,v"], "non-numeric value 'good'"),
    "header only": (lambda p: _write(p / "r.csv", "u,i,v\n"),
                    ["@r.csv", "--triplets", "u,i,v"], "no data rows"),
    "ragged table": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1,9\n"),
                     ["@r.csv", "--triplets", "u,i,v"], "ragged"),
    "query id never seen": (
        lambda p: (_write(p / "r.csv", "u,i,v\na,x,1\nb,y,2\na,y,3\n"),
                   _write(p / "q.csv", "u,i\na,x\nc,y\n")),
        ["@r.csv", "--triplets", "u,i,v", "--predict", "@q.csv"], "row id 'c' at line 3"),
    "mask with triplets": (lambda p: _write(p / "r.csv", "u,i,v\na,x,1\n"),
                           ["@r.csv", "--triplets", "u,i,v", "--mask", "@m.png"],
                           "--mask applies"),
    "plain text named .gz": (lambda p: _write(p / "m.csv.gz", "1,2\n3,\n"),
                             ["@m.csv.gz"], r"m\.csv\.gz'.*not a valid \.gz file"),
    "compressed npy": (lambda p: _write(p / "m.npy.gz", "x"),
                       ["@m.npy.gz"], r"compressed \.npy file; expected a compressed table"),
    "compressed triplets, bad stream": (lambda p: _write(p / "r.csv.bz2", "u,i,v\na,x,1\n"),
                                        ["@r.csv.bz2", "--triplets", "u,i,v"],
                                        r"not a valid \.bz2 file"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, case):
    make, args, message = BAD[case]
    make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out"
    argv = [str(tmp_path / a[1:]) if a.startswith("@") else a for a in args]
    code, stdout, stderr = run(capsys, *argv, "--out", out, "--quiet")
    assert stdout == ""
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary left either


def test_non_empty_out_is_refused_unless_overwrite(tmp_path, capsys):
    """An existing directory with files in it is never written into silently; --overwrite
    replaces an earlier completion's files there and leaves the user's own files alone."""
    _, M = low_rank(12, 10, seed=6)
    np.save(tmp_path / "m.npy", M)
    (tmp_path / "m.csv").write_text("1,,3\n4,5,6\n7,8,\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, stdout, stderr = run(capsys, tmp_path / "m.npy", "--out", out, "--quiet")
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "not empty" in lines[0] and "--overwrite" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    code, _, _ = run(capsys, tmp_path / "m.npy", "--out", out, "--overwrite", "--quiet",
                     "--max-steps", "20")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["completed.npy", "notes.txt",
                                                     "summary.json"]
    code, _, _ = run(capsys, tmp_path / "m.csv", "--out", out, "--overwrite", "--quiet",
                     "--max-steps", "20")
    assert code == 0  # the earlier completed.npy is gone: it was this tool's, not the user's
    assert sorted(p.name for p in out.iterdir()) == ["completed.csv", "notes.txt",
                                                     "summary.json"]
    assert (out / "notes.txt").read_text() == "mine"


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.ones((3, 3)))
    (tmp_path / "out").write_text("keep me")
    code, _, stderr = run(capsys, tmp_path / "m.npy", "--out", tmp_path / "out", "--quiet")
    assert code == 2 and "not a directory" in stderr
    assert (tmp_path / "out").read_text() == "keep me"


@pytest.mark.slow
def test_camera_benchmark_runs_at_a_tiny_size():
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "benchmarks/completion_camera.py", "--size", "24",
                           "--models", "softimpute"], cwd=root, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("softimpute"))
    assert len(row.split()) == 6


def _movielens_lines(seed=0, users=12, items=9, sep="\t"):
    """Ratings of a rank-1 table in MovieLens's layout: 1-based ids, a timestamp column."""
    rng = np.random.default_rng(seed)
    R = np.clip(np.rint(3 + np.outer(rng.standard_normal(users), rng.standard_normal(items))),
                1, 5)
    seen = rng.random(R.shape) < 0.7
    seen[:, 0] = seen[0, :] = True
    lines = [sep.join([str(u + 1), str(i + 1), str(int(R[u, i])), str(880000000 + 7 * k)])
             for k, (u, i) in enumerate(zip(*np.nonzero(seen)))]
    return lines, seen


def test_u_data_as_it_comes_with_predictions_and_recommendations(tmp_path, capsys):
    lines, _ = _movielens_lines()
    order = np.random.default_rng(1).permutation(len(lines))
    lines = [lines[k] for k in order]  # u.data is in no particular order
    (tmp_path / "u.data").write_text("\n".join(lines[10:]) + "\n")
    (tmp_path / "u1.test").write_text("\n".join(lines[:10]) + "\n")
    out = tmp_path / "out"
    code, _, err = run(capsys, tmp_path / "u.data", "--triplets", "0,1,2", "--predict",
                       tmp_path / "u1.test", "--recommend", "3", "--out", out,
                       "--max-steps", "30", "--quiet")
    assert code == 0, err
    with (out / "predictions.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["0", "1", "2", "3", "prediction"]
    assert [r[:4] for r in rows[1:]] == [line.split("\t") for line in lines[:10]]
    assert all(1 <= float(r[4]) <= 5 for r in rows[1:])
    train = {tuple(line.split("\t")[:2]) for line in lines[10:]}
    with (out / "recommendations.csv").open() as f:
        recs = list(csv.DictReader(f))
    assert list(recs[0]) == ["row", "rank", "column", "prediction"]
    users = {line.split("\t")[0] for line in lines[10:]}
    for user in users:
        mine = [r for r in recs if r["row"] == user]
        n_unrated = 9 - sum(1 for u, _ in train if u == user)
        assert [r["rank"] for r in mine] == [str(k) for k in range(1, min(3, n_unrated) + 1)]
        assert not any((user, r["column"]) in train for r in mine)
        scores = [float(r["prediction"]) for r in mine]
        assert scores == sorted(scores, reverse=True)
    s = read_summary(out)
    assert s["shape"] == [12, 9] and s["observed"] == len(lines) - 10
    assert "completed.tsv" in s["outputs"] and s["recommendations"] == 3


def test_ratings_dat_double_colon_as_it_comes(tmp_path, capsys):
    lines, seen = _movielens_lines(seed=2, sep="::")
    (tmp_path / "ratings.dat").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code, _, err = run(capsys, tmp_path / "ratings.dat", "--triplets", "0,1,2", "--out", out,
                       "--max-steps", "30", "--quiet")
    assert code == 0, err
    s = read_summary(out)
    assert s["shape"] == [12, 9] and s["observed"] == int(seen.sum())
    with (out / "completed.csv").open() as f:
        full = list(csv.reader(f))
    assert full[0] == ["0", "1", "2"] and len(full) == 1 + 12 * 9
    given = {tuple(line.split("::")[:2]): float(line.split("::")[2]) for line in lines}
    assert all(float(v) == given[u, i] for u, i, v in full[1:] if (u, i) in given)


def test_sep_option_and_predictions_are_comma_separated_for_a_tsv_query(tmp_path, capsys):
    *_, query = ratings(tmp_path)
    text = (tmp_path / "r.csv").read_text().replace(",", ";")
    (tmp_path / "r.txt").write_text(text)
    (tmp_path / "q.tsv").write_text("user\titem\n" + "".join(f"{u}\t{i}\n" for u, i in query))
    out = tmp_path / "out"
    code, _, err = run(capsys, tmp_path / "r.txt", "--triplets", "user,item,rating", "--sep",
                       ";", "--predict", tmp_path / "q.tsv", "--out", out, "--max-steps", "30",
                       "--quiet")
    assert code == 2 and "column 'user' is not in the header" in err  # q.tsv read with ";"
    (tmp_path / "q.txt").write_text("user;item\n" + "".join(f"{u};{i}\n" for u, i in query))
    code, _, err = run(capsys, tmp_path / "r.txt", "--triplets", "user,item,rating", "--sep",
                       ";", "--predict", tmp_path / "q.txt", "--out", out, "--max-steps", "30",
                       "--quiet")
    assert code == 0, err
    with (out / "predictions.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["user", "item", "prediction"] and len(rows) == 11
    out2 = tmp_path / "out2"
    (tmp_path / "r.tsv").write_text(text.replace(";", "\t"))
    code, _, err = run(capsys, tmp_path / "r.tsv", "--triplets", "user,item,rating",
                       "--predict", tmp_path / "q.tsv", "--out", out2, "--max-steps", "30",
                       "--quiet")
    assert code == 0, err
    assert (out2 / "predictions.csv").read_text().splitlines()[0] == "user,item,prediction"


def test_unknown_query_ids_are_an_error_or_get_the_biases(tmp_path, capsys):
    lines, _ = _movielens_lines(seed=3)
    (tmp_path / "u.data").write_text("\n".join(lines) + "\n")
    (tmp_path / "q.data").write_text("1\t1\t3\t0\n999\t1\t4\t0\n1\t999\t4\t0\n")
    args = [tmp_path / "u.data", "--triplets", "0,1,2", "--predict", tmp_path / "q.data",
            "--max-steps", "30", "--quiet"]
    code, _, err = run(capsys, *args, "--out", tmp_path / "a")
    assert code == 2 and "row id '999' at line 2 of" in err and "--unknown bias" in err
    code, _, err = run(capsys, *args, "--unknown", "bias", "--out", tmp_path / "b")
    assert code == 0, err
    with (tmp_path / "b" / "predictions.csv").open() as f:
        pred = [float(r[-1]) for r in list(csv.reader(f))[1:]]
    assert len(pred) == 3 and all(1 <= p <= 5 for p in pred)
    assert read_summary(tmp_path / "b")["predictions_with_unknown_ids"] == 2


def test_device_reaches_the_fit_or_is_refused_in_one_line(tmp_path, capsys):
    _, M = low_rank()
    np.save(tmp_path / "m.npy", M)
    code, _, _ = run(capsys, tmp_path / "m.npy", "--out", tmp_path / "cpu", "--device", "cpu",
                     *STEPS, "--quiet")
    assert code == 0
    same = np.load(tmp_path / "cpu" / "completed.npy")
    code, _, _ = run(capsys, tmp_path / "m.npy", "--out", tmp_path / "dflt", *STEPS, "--quiet")
    assert code == 0 and np.array_equal(same, np.load(tmp_path / "dflt" / "completed.npy"))
    # a device this machine does not have: one line, exit 2, nothing written
    code, _, err = run(capsys, tmp_path / "m.npy", "--out", tmp_path / "gpu", "--device",
                       "nodevice", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nodevice" in err
    assert not (tmp_path / "gpu").exists()
    # a ratings table is fitted on the CPU: another device is refused, in one line
    (tmp_path / "r.csv").write_text("u,i,r\n1,1,5\n1,2,3\n2,1,4\n")
    code, _, err = run(capsys, tmp_path / "r.csv", "--triplets", "u,i,r", "--out",
                       tmp_path / "rt", "--device", "meta", "--quiet")
    assert code == 2 and "--triplets" in err and len(err.strip().splitlines()) == 1


def test_standardize_on_a_table_and_its_refusals(tmp_path, capsys):
    _, M = low_rank(12, 10, seed=1)
    path = tmp_path / "m.csv"
    path.write_text("\n".join(",".join("" if np.isnan(v) else repr(float(v) * 10.0 ** (j - 5))
                                       for j, v in enumerate(row)) for row in M) + "\n")
    code, _, err = run(capsys, path, "--out", tmp_path / "out", "--standardize", "--quiet")
    assert code == 0, err
    s = read_summary(tmp_path / "out")
    assert s["standardize"] is True and len(s["columns"]["center"]) == 10
    assert "--standardize" not in err and not s["notes"]
    # without it: spreads from 1e-5 to 1e4 times each other, a note says what to do
    code, _, err = run(capsys, path, "--out", tmp_path / "raw", *STEPS)
    assert code == 0 and "note: the columns' spreads differ by" in err and "--standardize" in err
    assert any("--standardize" in n for n in read_summary(tmp_path / "raw")["notes"])
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "p.png")
    code, _, err = run(capsys, tmp_path / "p.png", "--out", tmp_path / "o2", "--standardize")
    assert code == 2 and err.count("\n") == 1 and "--standardize" in err
    assert not (tmp_path / "o2").exists()
    code, _, err = run(capsys, path, "--out", tmp_path / "o3", "--triplets", "0,1,2",
                       "--standardize")
    assert code == 2 and "--standardize applies to matrices" in err
