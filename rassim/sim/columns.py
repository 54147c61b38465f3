"""Result-table columns built from Python values in bulk, with no per-row pandas work.

Runs record rows as plain tuples (cheap while the clock runs); tables are built at the
end, one column at a time, by these helpers. A missing value is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa


def ints(values: Sequence[int]) -> np.ndarray:
    """An ``int64`` column."""
    return np.fromiter(values, np.int64, len(values))


def floats(values: Sequence[float]) -> np.ndarray:
    """A ``float64`` column."""
    return np.fromiter(values, np.float64, len(values))


def flags(values: Sequence[bool]) -> np.ndarray:
    """A ``bool`` column."""
    return np.fromiter(values, np.bool_, len(values))


def nullable_ints(values: Sequence[int | None], unsigned: bool = False) -> pd.arrays.IntegerArray:
    """An ``Int64`` column (``UInt64`` if ``unsigned``); ``None`` becomes ``<NA>``."""
    array = pa.array(values, type=pa.uint64() if unsigned else pa.int64())
    return pd.arrays.IntegerArray(_filled(array, 0), _missing(array))


def nullable_flags(values: Sequence[bool | None]) -> pd.arrays.BooleanArray:
    """A ``boolean`` column; ``None`` becomes ``<NA>``."""
    array = pa.array(values, type=pa.bool_())
    return pd.arrays.BooleanArray(_filled(array, False), _missing(array))


def strings(values: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """A ``str`` column (enum members of a ``StrEnum`` count as their values)."""
    return _str(pa.array(values, type=pa.large_string()))


def select(
    conditions: Sequence[np.ndarray], choices: Sequence[str], default: str
) -> pd.api.extensions.ExtensionArray:
    """A ``str`` column of, row by row, the first of ``choices`` whose condition holds, or
    ``default`` (``np.select``, choosing places rather than strings)."""
    places = np.select(conditions, list(range(len(choices))), len(choices))
    return _str(pa.array([*choices, default], type=pa.large_string()).take(places))


def _str(array: pa.Array) -> pd.api.extensions.ExtensionArray:
    """A large_string ``array`` as the ``str`` column pandas keeps it in, as it is."""
    # pandas-stubs do not list the overload that takes a pyarrow array.
    return pd.array(array, dtype="str")  # type: ignore[call-overload]


def _filled(array: pa.Array, fill: object) -> np.ndarray:
    return array.fill_null(fill).to_numpy(zero_copy_only=False)


def _missing(array: pa.Array) -> np.ndarray:
    return array.is_null().to_numpy(zero_copy_only=False)
