"""spectralnn._threaded.eigh: the batch split across threads, the same bits as one thread."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
import torch

from spectralnn import _threaded
from spectralnn._threaded import eigh


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _gram(batch: tuple[int, ...], n: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(*batch, n + 3, n, generator=gen, dtype=dtype)
    return A.mT @ A


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n", [5, 28, 32])
def test_split_batch_is_bitwise_one_thread(two_threads: None, n: int,
                                           dtype: torch.dtype) -> None:
    G = _gram((3, 40), n, dtype)               # 120 matrices: two chunks
    lam, W = eigh(G)
    torch.set_num_threads(1)
    lam1, W1 = torch.linalg.eigh(G)
    assert lam.shape == (3, 40, n) and W.shape == (3, 40, n, n)
    assert torch.equal(lam, lam1) and torch.equal(W, W1)


def test_values_are_an_eigendecomposition(two_threads: None) -> None:
    G = _gram((64,), 12, torch.float64)
    lam, W = eigh(G)
    assert torch.all(lam[:, 1:] >= lam[:, :-1])                      # ascending
    assert torch.allclose(W @ torch.diag_embed(lam) @ W.mT, G, atol=1e-10)


def test_thread_count_is_restored(two_threads: None) -> None:
    eigh(_gram((100,), 8, torch.float32))
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("batch,n", [((3,), 8),                   # too few per thread
                                     ((40,), _threaded.MAX_SIZE + 1),  # LAPACK threads these
                                     ((), 6)])                   # one matrix
def test_small_batches_and_large_matrices_are_torch_eigh(two_threads: None,
                                                         batch: tuple[int, ...],
                                                         n: int) -> None:
    G = _gram(batch, n, torch.float64)
    lam, W = eigh(G)
    lam0, W0 = torch.linalg.eigh(G)
    assert torch.equal(lam, lam0) and torch.equal(W, W0)


def test_one_thread_is_torch_eigh() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        G = _gram((200,), 10, torch.float32)
        lam, W = eigh(G)
        lam0, W0 = torch.linalg.eigh(G)
        assert torch.equal(lam, lam0) and torch.equal(W, W0)
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_splits_on_fresh_threads(two_threads: None) -> None:
    """The parent's pool threads do not survive a fork; the child must not wait on them."""
    G = _gram((64,), 8, torch.float64)
    expected = eigh(G)                       # the parent's pool now exists
    pid = os.fork()
    if pid == 0:  # the child (no OpenMP work: libgomp's threads do not survive a fork either)
        ok = False
        try:
            lam, W = eigh(G)
            ok = torch.equal(lam, expected[0]) and torch.equal(W, expected[1])
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the parent's pool")
