"""Matrix completion on real data: incomplete matrices (NaN or empty cells), images with a
mask or an alpha channel, and tables of (row, column, value) triplets.

- :func:`complete` / :class:`SNNCompleter`: NumPy arrays and tensors in Python.
- :func:`complete_file`: files in, files out (``spectralnn complete``).
"""

from spectralnn.completion.estimator import SNNCompleter, complete
from spectralnn.completion.files import complete_file
from spectralnn.completion.reading import read_incomplete, read_mask
from spectralnn.completion.triplets import read_triplets

__all__ = ["SNNCompleter", "complete", "complete_file", "read_incomplete", "read_mask",
           "read_triplets"]
