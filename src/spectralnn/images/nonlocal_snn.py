"""The non-local SNN for images — the ``snn-patches`` method.

A photograph is not low-rank; a group of its similar patches is. Per outer round:

1. **Match** (:func:`~.patches.match_patches`): on the current estimate (luminance for colour),
   every reference patch (``k×k``, on a stride) gets its ``n`` nearest patches in a search
   window. Group ``g`` is the ``(channels·k²) × n`` matrix of their pixels.
2. **Complete each group with an SNN**, all groups in one batch: ``inner`` times, fill the
   group's unobserved pixels with the current estimate (one majorise–minimise step of the
   masked loss ``½‖P_Ω(X − Y)‖²``, as in soft-impute), subtract the mean patch, and replace the
   rest by the output of its SNN trained from a small initialisation and stopped early
   (:func:`~.shrinkage.snn_shrink`, exact through the reduced dynamics): a spectral shrinkage
   whose threshold is ``θ = κ·τ·(√(channels·k²) + √n)`` — the largest singular value of a
   ``τ``-noise matrix of the group's size, times ``κ``.
3. **Aggregate** the overlapping estimates (weighted mean, weight ``1/(1 + rank_g)`` as in BM3D),
   keep the observed pixels, and lower ``τ ← decay·τ`` for the next round.

A seeded 5 % of the observed pixels is held out: the first estimate is the linear
interpolation (:mod:`.interpolate`) of the others, ``τ_0`` its RMS error on the held-out
pixels, and the round whose estimate has the lowest held-out error is returned (the held-out
pixels then put back). ``τ`` decreasing from the first estimate's error is a coarse-to-fine
schedule: strong shrinkage while matching on a rough estimate, weaker as it sharpens.
Defaults from the image size (:func:`default_settings`); measured in docs/recovery.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._threaded import eigh
from ..errors import ConfigError
from ..validate import compute_device, positive_int, positive_number
from .interpolate import interpolate_pixels
from .patches import aggregate, gather_groups, match_patches, patch_table
from .pixels import observed_pixels
from .shrinkage import snn_shrink

if TYPE_CHECKING:
    from ..recovery.stopping import StoppingRules
    from ..recovery.validation import Validation
    from ..sensing.problem import SensingProblem

__all__ = ["GRAM_CUTOFF", "default_settings", "fit_nonlocal_snn", "nonlocal_snn",
           "shrink_groups"]

HOLD_OUT = 0.05


def default_settings(shape: tuple[int, int], fraction: float) -> dict[str, Any]:
    """Patch size, group size, stride, search window and rounds for an image of ``shape``
    with ``fraction`` of its pixels observed: 8×8 patches (6×6 below 128 pixels a side,
    4×4 below 48, the smaller side below 4), 32 patches a group, reference stride ``k − 2``,
    a ±10 window, 6 rounds (``fraction`` does not change them: the schedule starts from the
    measured ``τ_0``)."""
    side = min(shape)
    k = min(8 if side >= 128 else (6 if side >= 48 else 4), max(1, side))
    return {"patch": k, "group": 32, "stride": max(1, k - 2), "window": 10, "rounds": 6,
            "inner": 2, "kappa": 2.0, "decay": 0.75, "eps": 1e-3}


#: Singular values below this fraction of a group's largest are dropped by
#: :func:`shrink_groups`: a float32 Gram matrix does not resolve them (its eigenvalues carry
#: an error of about ``eps·z₁²``), and an unfitted value's output is only ``2·ε²·z₁`` anyway.
GRAM_CUTOFF = 1e-3


def shrink_groups(Z: torch.Tensor, theta: float, eps: float
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Each group's trained SNN: ``Σ_i x_i φ_i ψ_iᵀ`` for ``Z = Σ_i z_i φ_i ψ_iᵀ`` (``Z``:
    (G, a, n)) and ``x = snn_shrink(z, θ)``.

    Computed without an SVD, through the eigendecomposition ``W diag(z²) Wᵀ`` of the smaller
    Gram matrix (``ZᵀZ`` for tall groups): the output is ``Z W diag(x/z) Wᵀ`` (``W diag(x/z)
    Wᵀ Z`` for wide ones). Returns ``(output (G, a, n), x (G, r) descending, steps run)``."""
    tall = Z.shape[-2] >= Z.shape[-1]
    lam, W = eigh(Z.mT @ Z if tall else Z @ Z.mT)   # ascending
    z = lam.flip(-1).clamp_min(0).sqrt()
    W = W.flip(-1)
    x, steps = snn_shrink(z, torch.tensor(theta, dtype=z.dtype, device=z.device), eps=eps)
    kept = z > GRAM_CUTOFF * z[:, :1]
    ratio = torch.where(kept, x / torch.where(kept, z, 1.0), 0.0)
    P = (W * ratio.unsqueeze(-2)) @ W.mT
    return (Z @ P if tall else P @ Z), x, steps


def _split(mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, held)`` masks: a seeded :data:`HOLD_OUT` part of the observed pixels held out
    (none when there are too few)."""
    obs = np.argwhere(mask)
    pick = np.random.default_rng(seed).random(len(obs)) < HOLD_OUT
    held = np.zeros_like(mask)
    if pick.sum() >= 1 and (~pick).sum() >= 3:
        held[tuple(obs[pick].T)] = True
    return mask & ~held, held


def nonlocal_snn(values: np.ndarray, mask: np.ndarray, *, seed: int = 0,
                 max_seconds: float | None = None,
                 device: torch.device | str | None = None,
                 on_round: Callable[[int, np.ndarray, dict[str, Any]], None] | None = None,
                 **settings: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Inpaint the pixels where ``mask`` is False.

    Args:
        values: ``(d1, d2)`` grey or ``(C, d1, d2)`` channels (only observed pixels are read).
        mask: ``(d1, d2)`` bool, True = observed (shared by the channels).
        seed: seed of the held-out part (``τ_0`` and the choice of the round).
        on_round: called after every round with ``(round, estimate, record)``.
        settings: overrides of :func:`default_settings` (``patch``, ``group``, ``stride``,
            ``window``, ``rounds``, ``inner``, ``kappa``, ``decay``, ``eps``).
        max_seconds: stop after the round that crosses this time (the best round so far is
            returned).
        device: torch device of the groups (matching, Gram eigendecompositions, shrinkage,
            aggregation), e.g. ``"cuda"``; ``None``: CPU. The first estimate is computed on
            the CPU and the result comes back as a NumPy array.

    Returns:
        ``(estimate of values' shape, float64; info)`` with the settings, a per-round history
        (seconds, τ, held-out RMSE, SNN steps, mean group rank) and the status:
        ``"converged"`` after every round, ``"budget_reached"`` when ``max_seconds`` cut them
        short.
    """
    start = time.perf_counter()
    dev = compute_device(device)
    vals = np.asarray(values, dtype=np.float64)
    grey = vals.ndim == 2
    vals = vals[None] if grey else vals
    mask = np.asarray(mask, dtype=bool)
    if vals.ndim != 3 or mask.shape != vals.shape[1:]:
        raise ConfigError(f"values of shape {np.shape(values)} and mask of shape {mask.shape} "
                          "do not match; expected (d1, d2) or (C, d1, d2) and (d1, d2)")
    if not mask.any():
        raise ConfigError("no observed pixel; expected at least one")
    d1, d2 = mask.shape
    cfg = default_settings((d1, d2), float(mask.mean()))
    unknown = set(settings) - set(cfg)
    if unknown:
        raise ConfigError(f"unknown option(s) {sorted(unknown)} for snn-patches; expected "
                          f"some of {sorted(cfg)}")
    cfg.update(settings)
    k = positive_int(cfg["patch"], "patch")
    if k > min(d1, d2):
        raise ConfigError(f"patch = {k} exceeds the image's smaller side {min(d1, d2)}")
    for name in ("group", "stride", "rounds", "inner"):
        positive_int(cfg[name], name)
    positive_int(cfg["window"], "window")
    for name in ("kappa", "decay", "eps"):
        positive_number(cfg[name], name)
    C = vals.shape[0]
    ref = float(np.sqrt(np.mean(vals[:, mask] ** 2))) or 1.0
    given, vals = vals, vals / ref
    fit_mask, held = _split(mask, seed)
    X = torch.from_numpy(np.stack([interpolate_pixels(ch, fit_mask) for ch in vals]))
    X = X.to(dev, torch.float32)
    Y = torch.from_numpy(np.where(mask, vals, 0.0)).to(dev, torch.float32)
    M = torch.from_numpy(fit_mask).to(dev, torch.float32)
    H = torch.from_numpy(held).to(dev)
    Ytab = torch.cat([patch_table(ch, k) for ch in Y])   # (C·k², P)
    Mtab = patch_table(M, k).repeat(C, 1)
    history: list[dict[str, Any]] = []
    n_rows = C * k * k

    def held_out_error(est: torch.Tensor) -> float:
        if not bool(H.any()):
            return float(torch.sqrt(torch.mean(Y[:, M > 0] ** 2)))
        return float(torch.sqrt(torch.mean((est[:, H] - Y[:, H]) ** 2)))

    tau = held_out_error(X)  # τ_0: the first estimate's error
    best_X, best_tau = X, tau
    for rd in range(cfg["rounds"]):
        groups = match_patches(X.mean(0), k, cfg["stride"], cfg["window"], cfg["group"])
        n = groups.shape[1]
        Xg = gather_groups(torch.cat([patch_table(ch, k) for ch in X]), groups)
        Yg, Mg = gather_groups(Ytab, groups), gather_groups(Mtab, groups)
        theta = cfg["kappa"] * tau * (math.sqrt(n_rows) + math.sqrt(n))
        steps, rank = 0, torch.zeros(groups.shape[0], device=dev)
        for _ in range(cfg["inner"]):
            Z = Mg * Yg + (1 - Mg) * Xg
            mean = Z.mean(2, keepdim=True)
            shrunk, s_out, steps = shrink_groups(Z - mean, theta, cfg["eps"])
            rank = (s_out > 0.5 * theta).sum(1).float()
            Xg = mean + shrunk
        weights = 1.0 / (1.0 + rank)
        num = torch.stack([aggregate(Xg[:, c * k * k:(c + 1) * k * k], groups, weights,
                                     (d1, d2), k)[0] for c in range(C)])
        _, den = aggregate(Xg[:, :k * k], groups, weights, (d1, d2), k)
        estimate = torch.where(den > 0, num / den.clamp_min(1e-30), X)
        X = torch.where(M > 0, Y, estimate)
        err = held_out_error(X)
        record = {"round": rd, "seconds": time.perf_counter() - start, "tau": tau * ref,
                  "held_out_rmse": err * ref, "snn_steps": steps,
                  "mean_rank": float(rank.mean()), "groups": int(groups.shape[0])}
        history.append(record)
        if on_round is not None:
            out = torch.where(H, Y, X).double().cpu().numpy() * ref
            on_round(rd, out[0] if grey else out, record)
        if err < best_tau or not bool(H.any()):  # nothing held out: the last round
            best_X, best_tau, record["best"] = X, err, True
        tau *= cfg["decay"]
        if max_seconds is not None and time.perf_counter() - start >= max_seconds:
            break
    X = torch.where(H, Y, best_X)
    out = X.double().cpu().numpy() * ref
    out[:, mask] = given[:, mask]  # observed pixels exactly as given
    info = {"settings": cfg, "history": history, "tau0": history[0]["tau"] if history else None,
            "rounds_run": len(history), "held_out_rmse": best_tau * ref,
            "status": "converged" if len(history) == cfg["rounds"] else "budget_reached"}
    return (out[0] if grey else out), info


def fit_nonlocal_snn(problem: SensingProblem, validation: Validation | None, *,
                     rules: StoppingRules, seed: int = 0, progress: bool = False,
                     image: bool = False, **settings: Any) -> dict[str, Any]:
    """Recovery-registry runner (entries only; every observed pixel is data, no validation
    part: the threshold comes from a held-out part of the pixels inside). The groups are
    computed on the problem's device (``fit(..., device="cuda")``)."""
    px = observed_pixels(problem, "snn-patches")
    X, info = nonlocal_snn(px.values, px.mask, seed=seed, max_seconds=rules.max_seconds,
                           device=problem.device, **settings)
    status = info["status"]
    settings_out = dict(info["settings"], tau0=info["tau0"], rounds_run=info["rounds_run"])
    return {"X": torch.from_numpy(X).to(problem.dtype), "status": status,
            "steps": info["rounds_run"], "settings": settings_out, "history": info["history"]}
