"""Compressed input files (``.gz``, ``.bz2``, ``.xz``) read as they come, by the CLI and the
readers, with the same result as the file uncompressed."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os

import numpy as np
import pytest

from spectralnn._compressed import format_suffix, is_compressed, read_bytes
from spectralnn.cli import main
from spectralnn.errors import DataError
from spectralnn.movielens import read_ratings

COMPRESS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


@pytest.mark.parametrize(("name", "suffix", "compressed"), [
    ("ratings.csv", ".csv", False), ("ratings.CSV.GZ", ".csv", True),
    ("m.tsv.bz2", ".tsv", True), ("u.data.xz", ".data", True), ("archive.gz", "", True),
    ("noext", "", False), ("photo.png", ".png", False)])
def test_format_suffix(name: str, suffix: str, compressed: bool) -> None:
    assert format_suffix(name) == suffix
    assert is_compressed(name) is compressed


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_read_bytes_decompresses_by_extension(tmp_path, ext: str) -> None:
    data = b"a,b\n1,2\n" * 100
    (tmp_path / f"t.csv{ext}").write_bytes(COMPRESS[ext](data))
    (tmp_path / "t.csv").write_bytes(data)
    assert read_bytes(tmp_path / f"t.csv{ext}") == data
    assert read_bytes(tmp_path / "t.csv") == data


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_invalid_compressed_data_is_a_data_error_naming_the_file(tmp_path, ext: str) -> None:
    path = tmp_path / f"t.csv{ext}"
    path.write_bytes(b"1,2\n3,4\n")
    with pytest.raises(DataError, match=rf"'.*t\.csv\{ext}'.*not a valid \{ext} file"):
        read_bytes(path)


def test_a_missing_file_is_an_os_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "absent.csv.gz")


def _complete(capsys, *args: object) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["complete", *map(str, args), "--max-steps", "200", "--quiet"])
    assert exc.value.code == 0, capsys.readouterr().err
    return capsys.readouterr().out


@pytest.mark.parametrize("ext", sorted(COMPRESS))
def test_compressed_table_completes_like_the_plain_one(tmp_path, capsys, ext: str) -> None:
    rng = np.random.default_rng(0)
    M = np.outer(rng.standard_normal(12), rng.standard_normal(9)) + 1.0
    M[rng.random(M.shape) < 0.3] = np.nan
    text = "\n".join("\t".join("" if np.isnan(v) else f"{v:.6f}" for v in row) for row in M)
    (tmp_path / "m.tsv").write_text(text + "\n")
    (tmp_path / f"m.tsv{ext}").write_bytes(COMPRESS[ext]((text + "\n").encode()))
    _complete(capsys, tmp_path / "m.tsv", "--out", tmp_path / "plain")
    _complete(capsys, tmp_path / f"m.tsv{ext}", "--out", tmp_path / "packed")
    assert sorted(os.listdir(tmp_path / "packed")) == ["completed.tsv", "summary.json"]
    assert ((tmp_path / "packed" / "completed.tsv").read_bytes()
            == (tmp_path / "plain" / "completed.tsv").read_bytes())


def test_compressed_triplets_and_query_predict_like_the_plain_ones(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    cells = [(u, i) for u in range(12) for i in range(10) if rng.random() < 0.6]
    lines = ["user,item,rating"] + [f"u{u},i{i},{1 + (u * i) % 5}" for u, i in cells]
    data = ("\n".join(lines) + "\n").encode()
    query = b"user,item\nu1,i2\nu3,i4\n"
    (tmp_path / "r.csv").write_bytes(data)
    (tmp_path / "q.csv").write_bytes(query)
    (tmp_path / "r.csv.gz").write_bytes(gzip.compress(data))
    (tmp_path / "q.csv.xz").write_bytes(lzma.compress(query))
    spec = ("--triplets", "user,item,rating")
    _complete(capsys, tmp_path / "r.csv", *spec, "--predict", tmp_path / "q.csv",
              "--out", tmp_path / "plain")
    _complete(capsys, tmp_path / "r.csv.gz", *spec, "--predict", tmp_path / "q.csv.xz",
              "--out", tmp_path / "packed")
    for name in ("predictions.csv", "completed.csv"):
        assert (tmp_path / "packed" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_read_ratings_of_a_gzipped_u_data(tmp_path) -> None:
    text = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
    (tmp_path / "u.data.gz").write_bytes(gzip.compress(text.encode()))
    table = read_ratings(tmp_path / "u.data.gz")
    np.testing.assert_array_equal(table.ratings, [3.0, 3.0, 1.0])
