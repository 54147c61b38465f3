"""Result-table columns built from Python values in bulk, with no per-row pandas work.

Runs record rows as plain tuples (cheap while the clock runs); tables are built at the
end, one column at a time, by these helpers. A missing value is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def ints(values: Sequence[int]) -> np.ndarray:
    """An ``int64`` column."""
    return np.fromiter(values, np.int64, len(values))


def flags(values: Sequence[bool]) -> np.ndarray:
    """A ``bool`` column."""
    return np.fromiter(values, np.bool_, len(values))


def nullable_ints(values: Sequence[int | None], unsigned: bool = False) -> pd.arrays.IntegerArray:
    """An ``Int64`` column (``UInt64`` if ``unsigned``); ``None`` becomes ``<NA>``."""
    objects = np.asarray(values, dtype=object).reshape(len(values))
    missing = np.equal(objects, None)
    data = np.where(missing, 0, objects).astype(np.uint64 if unsigned else np.int64)
    return pd.arrays.IntegerArray(data, missing)


def nullable_flags(values: Sequence[bool | None]) -> pd.arrays.BooleanArray:
    """A ``boolean`` column; ``None`` becomes ``<NA>``."""
    objects = np.asarray(values, dtype=object).reshape(len(values))
    missing = np.equal(objects, None)
    return pd.arrays.BooleanArray(np.where(missing, False, objects).astype(np.bool_), missing)


def strings(values: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """A ``str`` column from a few distinct values (names, enum members, details)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object).reshape(len(values)))
    vocabulary = pd.array(np.asarray([str(u) for u in uniques], dtype=object), dtype="str")
    return vocabulary.take(codes)
