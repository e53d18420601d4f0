"""Feeding a recovery :class:`~spectralnn.recovery.stopping.Monitor` by hand: one validation
error and one training loss per step, as the SNN's callback would. Shared by the tests of
the stopping rules."""

from __future__ import annotations

import torch


def feed(monitor, errors, losses=None, dtype=torch.float32):
    """Step the monitor through ``errors`` (and ``losses``, same length; default 1.0 each) on
    a zero ``2×2`` iterate of ``dtype``; returns ``(step, status)`` of the first stop, or
    ``(None, None)``."""
    X = torch.zeros(2, 2, dtype=dtype)
    losses = [1.0] * len(errors) if losses is None else losses
    for step, (err, loss) in enumerate(zip(errors, losses, strict=True)):
        monitor.validation.error = lambda _X, e=err: e  # type: ignore[method-assign]
        status = monitor.update(step, loss, X)
        if status is not None:
            return step, status
    return None, None


class ConstantValidation:
    """A validation part whose error is always 1 (overwritten step by step by :func:`feed`)."""

    def error(self, X):
        return 1.0
