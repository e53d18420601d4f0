"""Matrix completion on real data: incomplete matrices (NaN or empty cells), images with a
mask or an alpha channel, and tables of (row, column, value) triplets.

- :func:`complete`: NumPy arrays, tensors and DataFrames in Python.
- :class:`SNNCompleter`: a scikit-learn transformer (fit, transform of new rows); imported on
  first use, so that scikit-learn's import is paid only by code that uses it.
- :func:`complete_file`: files in, files out (``spectralnn complete``).
"""

from typing import Any

from .estimator import CompletionWarning, complete
from .files import complete_file
from .reading import read_incomplete, read_mask
from .tables import read_table
from .triplets import read_triplets


def __getattr__(name: str) -> Any:
    if name == "SNNCompleter":
        from .transformer import SNNCompleter

        return SNNCompleter
    raise AttributeError(f"module 'spectralnn.completion' has no attribute {name!r}")


__all__ = ["CompletionWarning", "SNNCompleter", "complete", "complete_file", "read_incomplete",
           "read_mask", "read_table", "read_triplets"]
