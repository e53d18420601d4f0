"""Sweeps: a grid of runs, each a normal run directory, aggregated into one table.

A **sweep configuration** (TOML) holds a base run configuration (the ``[problem]``,
``[model]``, ``[train]`` tables of :mod:`spectralnn.config`, under ``[base]``), the grid axes
and optional named variants::

    [sweep]
    name = "phase_transition"    # label of the progress display and the report
    threads = 1                  # torch threads per worker (see below)

    [base.problem]               # any run configuration, as for ``spectralnn train``
    kind = "synthetic"
    n = 20

    [grid]                       # axes: every combination is one run
    seed = [0, 1, 2]             # special axis: sets problem.seed and model.seed
    [grid.problem]
    rank = [1, 2, 3]             # = "problem.rank"
    fraction = [0.2, 0.4]        # measurement ratio m / (d1·d2)

    [variants.snn]               # the "variant" axis: tables merged over [base]
    model = { name = "snn", widths = [2, 2, 2, 2] }
    train = { steps = 1000, lr = 0.5 }
    [variants.nnm]
    model = { name = "nnm" }

    [report]                     # optional: the phase-transition study of the table
    kind = "phase_transition"
    threshold = 1e-2

Grid keys are ``seed`` or ``SECTION.KEY`` paths (``problem.rank``, ``train.lr`` …; written as
nested tables or as quoted dotted keys), each a non-empty list. The runs are the Cartesian
product ``variants × axis_1 × … × axis_k`` (in that order); run ``i``'s configuration is
``base ⊕ variant ⊕ grid point`` (later tables override earlier keys). A ``[train]`` table is
dropped for solver models (``nnm``, ``svt``), which take none, so one base serves every
variant. Every configuration is resolved (:func:`~spectralnn.config.resolve_config`) before any
run starts: a bad key fails the whole sweep at once, naming the key.

**Output** ``DIR``::

    DIR/sweep.json            the parsed sweep configuration and its run names
    DIR/runs/<name>/          one run directory per grid point (:mod:`spectralnn.runs`)
    DIR/results.csv           one row per finished or failed run (:data:`TABLE_COLUMNS`)
    DIR/status.json           counts, failed runs with their one-line errors, seconds
    DIR/phase_transition.*    with a [report]: .csv (probabilities), .json, .png

Run names are ``<label>-<value>`` pairs joined by ``__`` (``snn__rank-2__fraction-0.3__seed-0``):
the same grid point always maps to the same directory. ``results.csv`` and ``status.json`` are
rewritten atomically each time a run finishes, so the table grows as the sweep progresses.

**Resuming.** A run whose directory holds ``summary.json`` is finished and is skipped; every
other run (new, interrupted, or failed) is executed, interrupted ones resuming from their
checkpoint. A run raising an exception is recorded as ``failed`` with its message; the sweep
goes on and the next invocation retries it. A diverged run is a finished run (status
``diverged``), not retried. A run directory holding a different configuration is refused
before anything runs.

**Backends** (``backend=``): ``"inprocess"`` (one run after another in this process),
``"processes"`` (``concurrent.futures`` with ``spawn`` workers) and ``"dask"`` (Dask
distributed: a ``LocalCluster`` of ``jobs`` single-threaded worker processes, or the cluster
at ``address``; workers must be able to import spectralnn and share ``DIR``'s filesystem with
the client). Every worker calls ``torch.set_num_threads(threads)`` (default 1) before a run:
these small decompositions do not speed up with threads, and processes sharing cores with
several threads each slow down by orders of magnitude (measured: two processes with 2 threads
each on 2 cores, 2.1 s per SNN step instead of 5.7 ms).

Modules: :mod:`~spectralnn.sweeps.config` (file format, grid expansion),
:mod:`~spectralnn.sweeps.worker` (one run), :mod:`~spectralnn.sweeps.backends` (where runs
execute), :mod:`~spectralnn.sweeps.table` (``results.csv``), :mod:`~spectralnn.sweeps.driver`
(:func:`run_sweep`), :mod:`~spectralnn.sweeps.transition` (phase-transition maths),
:mod:`~spectralnn.sweeps.report` (its files and heat maps). The package is ``sweeps``:
``spectralnn.sweep`` is the learning-rate sweep function.
"""

from .backends import BACKENDS
from .config import RunSpec, SweepConfig, expand_grid, load_sweep_config, parse_sweep_config
from .driver import SweepResult, run_sweep
from .report import plot_phase_transition, write_phase_transition
from .table import TABLE_COLUMNS, read_table
from .transition import PhaseTransition, phase_transition
from .worker import execute_run

__all__ = [
    "BACKENDS",
    "TABLE_COLUMNS",
    "PhaseTransition",
    "RunSpec",
    "SweepConfig",
    "SweepResult",
    "execute_run",
    "expand_grid",
    "load_sweep_config",
    "parse_sweep_config",
    "phase_transition",
    "plot_phase_transition",
    "read_table",
    "run_sweep",
    "write_phase_transition",
]
