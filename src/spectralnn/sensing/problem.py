"""Matrix sensing problems: ground truth, operators, measurements, held-out set, files.

A problem is ``y = A(X*) + ε``, ``ε ~ N(0, noise_std² I_m)``, plus an independent held-out
set ``y_test = A_test(X*) + ε_test`` (the paper draws ``2m`` measurements and splits them in
half). Models are trained on ``½·mean_i (⟨A_i, X⟩ − y_i)²`` (:meth:`SensingProblem.loss`).
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from .._io import atomic_write
from ..data import mnist_digit, synthetic_low_rank
from ..data import normalize as normalize_matrix
from ..errors import ConfigError, DataError, ShapeError, unknown_name
from ..validate import (
    as_int,
    as_matrix,
    entry_count,
    generator,
    measurements_from_fraction,
    positive_number,
    real_dtype,
)
from .memory import check_dense_fits, dense_bytes
from .operators import (
    EntrySampling,
    GaussianOperator,
    SensingOperator,
    SubsampledDCT,
    WellSpecifiedOperator,
    operator_from_state,
)

__all__ = [
    "MEASUREMENTS",
    "SensingProblem",
    "make_problem",
    "paper_mnist_problem",
    "paper_synthetic_problem",
]

MEASUREMENTS = ("dct", "entries", "gaussian", "well_specified")
_FORMAT = "spectralnn.SensingProblem/1"


def _check_vector(y: object, name: str, m: int, dtype: torch.dtype) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape ({m},), got {type(y).__name__}")
    if tuple(y.shape) != (m,):
        raise ShapeError(f"{name} has shape {tuple(y.shape)}; expected ({m},)")
    if y.dtype != dtype:
        raise ConfigError(f"{name} has dtype {y.dtype}; expected {dtype}, the operator's dtype")
    if not bool(torch.isfinite(y).all()):
        bad = int((~torch.isfinite(y)).sum())
        raise DataError(f"{name} contains {bad} NaN/Inf value(s); expected only finite values")
    return y


@dataclass(eq=False)
class SensingProblem:
    """A matrix sensing problem.

    Attributes:
        X_star: ground truth ``(d1, d2)`` (normalised; ``scale · X_star`` is the original), or
            ``None`` for real data whose truth is unknown (metrics that need it are NaN).
        operator: training operator, ``m`` measurements.
        y: ``(m,)`` training measurements ``A(X_star) + noise``.
        test_operator, y_test: held-out operator and ``(m_test,)`` measurements, or ``None``.
        noise_std: std of the Gaussian noise added to ``y`` and ``y_test``.
        seed: the seed everything random was drawn from.
        scale: normalisation factor (e.g. the digit's nuclear norm in pixel units).
        name: optional label.
    """

    X_star: torch.Tensor | None
    operator: SensingOperator
    y: torch.Tensor
    test_operator: SensingOperator | None = None
    y_test: torch.Tensor | None = None
    noise_std: float = 0.0
    seed: int = 0
    scale: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.operator, SensingOperator):
            raise ConfigError(
                f"operator must be a SensingOperator, got {type(self.operator).__name__}"
            )
        dtype = self.operator.dtype
        if self.X_star is not None:
            X = as_matrix(self.X_star, "X_star")
            if tuple(X.shape) != self.operator.shape:
                raise ShapeError(
                    f"X_star has shape {tuple(X.shape)}; expected {self.operator.shape}, "
                    "the operator's shape"
                )
            if X.dtype != dtype:
                raise ConfigError(
                    f"X_star has dtype {X.dtype}; expected {dtype}, the operator's dtype"
                )
            self.X_star = X
        self.y = _check_vector(self.y, "y", self.operator.num_measurements, dtype)
        if (self.test_operator is None) != (self.y_test is None):
            raise ConfigError(
                "test_operator and y_test must be given together; got only "
                + ("test_operator" if self.y_test is None else "y_test")
            )
        if self.test_operator is not None:
            if not isinstance(self.test_operator, SensingOperator):
                raise ConfigError(
                    "test_operator must be a SensingOperator, got "
                    f"{type(self.test_operator).__name__}"
                )
            if self.test_operator.shape != self.operator.shape:
                raise ShapeError(
                    f"test_operator has shape {self.test_operator.shape}; expected "
                    f"{self.operator.shape}, the operator's shape"
                )
            if self.test_operator.dtype != dtype:
                raise ConfigError(
                    f"test_operator has dtype {self.test_operator.dtype}; expected {dtype}"
                )
            self.y_test = _check_vector(
                self.y_test, "y_test", self.test_operator.num_measurements, dtype
            )
        self.noise_std = positive_number(self.noise_std, "noise_std", allow_zero=True)
        self.seed = as_int(self.seed, "seed")
        self.scale = positive_number(self.scale, "scale")
        if self.name is not None and not isinstance(self.name, str):
            raise ConfigError(f"name must be a str or None, got {self.name!r}")

    # ---- views
    @property
    def shape(self) -> tuple[int, int]:
        """``(d1, d2)``."""
        return self.operator.shape

    @property
    def has_truth(self) -> bool:
        """Whether the ground truth ``X_star`` is known (``False`` for real data)."""
        return self.X_star is not None

    @property
    def truth(self) -> torch.Tensor:
        """``X_star``; raises :class:`~spectralnn.errors.DataError` when it is unknown."""
        if self.X_star is None:
            raise DataError("the problem has no ground truth (X_star is None); expected a "
                            "problem built from a known matrix")
        return self.X_star

    @property
    def num_measurements(self) -> int:
        """``m``, the number of training measurements."""
        return self.operator.num_measurements

    @property
    def dtype(self) -> torch.dtype:
        return self.operator.dtype

    @property
    def device(self) -> torch.device:
        return self.operator.device

    # ---- objectives
    def loss(self, X: torch.Tensor, held_out: bool = False) -> torch.Tensor:
        """``½·mean_i (A(X)_i − y_i)²`` for ``X`` of shape ``(..., d1, d2)`` → ``(...)``;
        on the held-out set when ``held_out``. Differentiable in ``X``."""
        if held_out:
            if self.test_operator is None or self.y_test is None:
                raise ConfigError("held_out=True but this problem has no held-out measurements")
            return 0.5 * (self.test_operator(X) - self.y_test).square().mean(-1)
        return 0.5 * (self.operator(X) - self.y).square().mean(-1)

    def relative_error(self, X: torch.Tensor) -> torch.Tensor:
        """``‖X − X*‖_F / ‖X*‖_F`` for ``X`` of shape ``(..., d1, d2)`` → ``(...)``; NaN when
        the ground truth is unknown (``X_star is None``)."""
        if not isinstance(X, torch.Tensor) or tuple(X.shape[-2:]) != self.shape:
            got = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ShapeError(f"X has shape {got}; expected (..., {self.shape[0]}, {self.shape[1]})")
        if self.X_star is None:
            return torch.full(X.shape[:-2], math.nan, dtype=X.dtype, device=X.device)
        X_star = self.X_star.to(device=X.device, dtype=X.dtype)
        num = torch.linalg.matrix_norm(X - X_star)
        return num / torch.linalg.matrix_norm(X_star)

    # ---- conversion
    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SensingProblem:
        """A copy with every tensor (and operator) on ``device`` / in ``dtype``."""
        if dtype is not None:
            real_dtype(dtype)
        test_op = None if self.test_operator is None else self.test_operator.to(device, dtype)
        y_test = None if self.y_test is None else self.y_test.to(device=device, dtype=dtype)
        return SensingProblem(
            X_star=None if self.X_star is None else self.X_star.to(device=device, dtype=dtype),
            operator=self.operator.to(device, dtype),
            y=self.y.to(device=device, dtype=dtype),
            test_operator=test_op,
            y_test=y_test,
            noise_std=self.noise_std,
            seed=self.seed,
            scale=self.scale,
            name=self.name,
        )

    # ---- files
    def _arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {
            "format": np.asarray(_FORMAT),
            "y": self.y.detach().cpu().numpy(),
            "noise_std": np.asarray(self.noise_std, dtype=np.float64),
            "seed": np.asarray(self.seed, dtype=np.int64),
            "scale": np.asarray(self.scale, dtype=np.float64),
        }
        if self.X_star is not None:
            out["X_star"] = self.X_star.detach().cpu().numpy()
        if self.name is not None:
            out["name"] = np.asarray(self.name)
        for key, value in self.operator.state().items():
            out[f"operator.{key}"] = value
        if self.test_operator is not None and self.y_test is not None:
            out["y_test"] = self.y_test.detach().cpu().numpy()
            for key, value in self.test_operator.state().items():
                out[f"test_operator.{key}"] = value
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the problem to an ``.npz`` file at ``path`` (exact path, no suffix added).

        Atomic: written to a temporary file in the same directory, then renamed over
        ``path``; on failure nothing is left behind and an existing file is untouched.
        Returns the path written.
        """
        target = Path(path)
        directory = target.parent
        if not directory.is_dir():
            raise ConfigError(f"directory {str(directory)!r} of {str(target)!r} does not exist")
        if target.is_dir():
            raise ConfigError(f"{str(target)!r} is a directory; expected a file path")
        arrays = self._arrays()
        atomic_write(target, lambda f: _write_npz(f, arrays))
        return target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], device: torch.device | str | None = None
    ) -> SensingProblem:
        """Read a problem written by :meth:`save`, exactly (dtypes and operators included)."""
        p = Path(path)
        if not p.is_file():
            raise DataError(f"problem file {str(p)!r} does not exist")
        try:
            with np.load(p, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"cannot read problem file {str(p)!r}: {reason}") from None
        fmt = str(arrays["format"].item()) if "format" in arrays else None
        if fmt != _FORMAT:
            raise DataError(f"{str(p)!r} has format {fmt!r}; expected {_FORMAT!r}")
        for key in ("y", "noise_std", "seed", "scale"):
            if key not in arrays:
                raise DataError(f"problem file {str(p)!r} has no {key!r} entry")
        op = operator_from_state(_prefixed(arrays, "operator."))
        test_op = None
        y_test = None
        if "y_test" in arrays:
            test_op = operator_from_state(_prefixed(arrays, "test_operator."))
            y_test = torch.from_numpy(np.array(arrays["y_test"]))
        problem = cls(
            X_star=torch.from_numpy(np.array(arrays["X_star"])) if "X_star" in arrays else None,
            operator=op,
            y=torch.from_numpy(np.array(arrays["y"])),
            test_operator=test_op,
            y_test=y_test,
            noise_std=float(arrays["noise_std"]),
            seed=int(arrays["seed"]),
            scale=float(arrays["scale"]),
            name=str(arrays["name"].item()) if "name" in arrays else None,
        )
        return problem if device is None else problem.to(device=device)

    def __repr__(self) -> str:
        held = "none" if self.test_operator is None else str(self.test_operator.num_measurements)
        return (
            f"SensingProblem(name={self.name!r}, shape={self.shape}, "
            f"operator={self.operator.kind}, m={self.num_measurements}, held_out={held}, "
            f"noise_std={self.noise_std:g}, seed={self.seed}, dtype={self.dtype})"
        )


def _write_npz(f: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle


def _prefixed(arrays: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}


def _measurement_seed(seed: int) -> int:
    """The seed of the measurement stream, derived from ``seed`` so that a ground truth drawn
    with the same ``seed`` (e.g. :func:`synthetic_low_rank`) is independent of it."""
    state = np.random.SeedSequence([seed, 0x53454E53]).generate_state(1, dtype=np.uint64)
    return int(state[0]) % 2**63


def make_problem(
    X_star: torch.Tensor | np.ndarray,
    measurement: str = "gaussian",
    *,
    m: int | None = None,
    fraction: float | None = None,
    noise_std: float = 0.0,
    seed: int = 0,
    std: float | None = None,
    normalize: str | None = "nuclear",
    held_out: bool = True,
    dtype: torch.dtype = torch.float64,
    name: str | None = None,
) -> SensingProblem:
    """Build a sensing problem around ``X_star`` ``(d1, d2)``.

    1. ``X_star`` is normalised (``"nuclear"``: ``‖X*‖_* = 1``, ``"frobenius"``, or ``None``);
       the factor is kept as ``scale``.
    2. ``m`` measurements (or ``round(fraction·d1·d2)``; give exactly one) of kind
       ``measurement``:

       - ``"gaussian"``: :class:`GaussianOperator`, entries ``N(0, std²)``, ``std = n =
         min(d1, d2)`` by default (the paper's mis-specified ``A_i = n·G_i``);
       - ``"well_specified"``: :meth:`WellSpecifiedOperator.paper`, ``A_i = Φ diag(d_i) Ψᵀ``
         with ``Φ, Ψ`` the singular vectors of ``X*``, ``d_i = sort_desc(std·g_i)``,
         ``std = n`` by default;
       - ``"entries"``: :class:`EntrySampling`, ``m ≤ d1·d2`` distinct entries;
       - ``"dct"``: :class:`SubsampledDCT`, ``m ≤ d1·d2`` coefficients.

    3. With ``held_out``, an independent operator of the same kind and size gives ``y_test``
       (for ``"entries"``: ``min(m, d1·d2 − m)`` entries disjoint from the training ones, none
       when every entry is observed).
    4. ``y = A(X*) + noise_std·ε``, ``ε ~ N(0, I)`` (same for ``y_test``).

    Operators and noise are drawn, in that order, from one generator seeded by a value derived
    from ``seed``; everything is computed in float64 and converted to ``dtype`` at the end.
    """
    X = as_matrix(X_star, "X_star").to(torch.float64)
    if measurement not in MEASUREMENTS:
        raise unknown_name("measurement", measurement, MEASUREMENTS)
    if normalize is None:
        scale = 1.0
    else:
        X, scale = normalize_matrix(X, normalize)
    dtype = real_dtype(dtype)
    noise = positive_number(noise_std, "noise_std", allow_zero=True)
    if not isinstance(held_out, bool):
        raise ConfigError(f"held_out must be a bool, got {held_out!r}")
    if std is not None and measurement in ("entries", "dct"):
        raise ConfigError(
            f"std={std!r} does not apply to {measurement!r} measurements; expected std=None"
        )
    d1, d2 = X.shape
    total = d1 * d2
    if measurement in ("entries", "dct"):
        m = entry_count(total, fraction, m)
    else:
        if (fraction is None) == (m is None):
            raise ConfigError(
                f"got fraction={fraction!r} and m={m!r}; expected exactly one of them"
            )
        if m is None:
            m = measurements_from_fraction(fraction, total)
    g = generator(seed)  # validates seed
    g.manual_seed(_measurement_seed(int(seed)))
    shape = (d1, d2)

    if measurement == "gaussian":  # refuse before anything is allocated
        copies = 2 if held_out else 1
        need = dense_bytes(m, (d1, d2), torch.float64, copies)
        if dtype != torch.float64:
            need += dense_bytes(m, (d1, d2), dtype, copies)
        check_dense_fits(need, f"{copies} dense Gaussian operator(s) of {m} measurements of "
                               f"{d1}×{d2} matrices")
    test_op: SensingOperator | None = None
    if measurement == "gaussian":
        s = float(min(d1, d2)) if std is None else std
        op: SensingOperator = GaussianOperator(shape, m, s, g)
        if held_out:
            test_op = GaussianOperator(shape, m, s, g)
    elif measurement == "well_specified":
        op = WellSpecifiedOperator.paper(X, m, g, std)
        if held_out:
            test_op = WellSpecifiedOperator.paper(X, m, g, std)
    elif measurement == "entries":
        perm = torch.randperm(total, generator=g)
        op = EntrySampling(shape, perm[:m])
        m_test = min(m, total - m)
        if held_out and m_test > 0:
            test_op = EntrySampling(shape, perm[m : m + m_test])
    else:
        op = SubsampledDCT(shape, m, g)
        if held_out:
            test_op = SubsampledDCT(shape, m, g)
    y = op(X) + noise * torch.randn(op.num_measurements, generator=g, dtype=torch.float64)
    _check_finite(y, "y")
    y_test = None
    if test_op is not None:
        y_test = test_op(X) + noise * torch.randn(
            test_op.num_measurements, generator=g, dtype=torch.float64
        )
        _check_finite(y_test, "y_test")
    problem = SensingProblem(
        X_star=X,
        operator=op,
        y=y,
        test_operator=test_op,
        y_test=y_test,
        noise_std=noise,
        seed=int(seed),
        scale=scale,
        name=name,
    )
    return problem if dtype == torch.float64 else problem.to(dtype=dtype)


def _check_finite(t: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(t).all()):
        raise DataError(f"{name} has NaN/Inf values (overflow?); expected finite measurements")


# --------------------------------------------------------------------------- paper settings

PAPER_N, PAPER_RANK, PAPER_M, PAPER_NOISE_STD = 10, 6, 75, 1e-2
MNIST_SIDE, MNIST_M, MNIST_NOISE_STD = 28, round(0.6 * 28 * 28), 1e-2


def paper_synthetic_problem(well_specified: bool, seed: int = 0) -> SensingProblem:
    """The paper's synthetic problem (Figs. 2–3): ``X* = B Bᵀ``, ``B ∈ R^{10×6}``
    uniform(0, 1), nuclear norm 1; ``m = 75`` training + 75 held-out measurements, noise std
    1e-2. ``well_specified``: ``A_i = Φ diag(sort_desc(10·g_i)) Ψᵀ`` (Fig. 2); else
    ``A_i = 10·G_i``, ``G_i`` iid ``N(0, 1)`` (Fig. 3).
    """
    if not isinstance(well_specified, bool):
        raise ConfigError(f"well_specified must be a bool, got {well_specified!r}")
    X = synthetic_low_rank(PAPER_N, PAPER_RANK, psd=True, seed=seed)
    kind = "well_specified" if well_specified else "gaussian"
    return make_problem(
        X,
        kind,
        m=PAPER_M,
        noise_std=PAPER_NOISE_STD,
        seed=seed,
        std=float(PAPER_N),
        normalize="nuclear",
        name=f"paper-synthetic-{kind.replace('_', '-')}",
    )


def paper_mnist_problem(
    index: int | None = None,
    digit_class: int | None = None,
    seed: int = 0,
    occurrence: int = 0,
) -> SensingProblem:
    """The paper's MNIST problem (Figs. 4–5): one 28×28 digit (see :func:`mnist_digit`)
    scaled to nuclear norm 1 (``scale`` maps back to pixels), ``m = round(0.6·28²) = 470``
    Gaussian measurements ``A_i = 28·G_i`` plus 470 held-out, noise std 1e-2.
    """
    digit = mnist_digit(index=index, digit_class=digit_class, occurrence=occurrence)
    return make_problem(
        digit.image,
        "gaussian",
        m=MNIST_M,
        noise_std=MNIST_NOISE_STD,
        seed=seed,
        std=float(MNIST_SIDE),
        normalize="nuclear",
        name=f"mnist-{digit.index}-digit-{digit.label}",
    )
