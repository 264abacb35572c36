"""Activation stores opened for reading, checked: a damaged store is an error naming it, never silent zeros.

Zarr reads a missing chunk as the fill value and reports a chunk that does not decode with the codec's words
only ("Zstd decompression error"), without the store. `CheckedStore` counts the chunks (every chunk of a finished
activation store is written: rows are L2-normalised, never all zero) and turns a decode failure into an
InputError naming the store and the rows.
"""

from __future__ import annotations

from pathlib import Path

import zarr

from lmscope.errors import InputError

REMEDY = "the store is damaged: delete it and rerun the rule that wrote it (extract_activations)"


class CheckedStore:
    """A read-only zarr Array (shape, chunks, dtype, attrs as usual) whose reads name the store when they fail."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.array = zarr.open_array(str(path), mode="r")
        missing = self.array.nchunks - self.array.nchunks_initialized
        if missing:
            raise InputError(f"activation store {self.path}: {missing} of {self.array.nchunks} chunks are missing; "
                             f"{REMEDY}")

    def __getattr__(self, name):
        return getattr(self.array, name)

    def __getitem__(self, key):
        try:
            return self.array[key]
        except (RuntimeError, ValueError) as error:
            raise InputError(f"activation store {self.path}: rows {_rows(key)} cannot be decoded ({error}); "
                             f"{REMEDY}") from None


def _rows(key) -> str:
    first = key[0] if isinstance(key, tuple) else key
    if isinstance(first, slice):
        return f"{first.start or 0}:{'' if first.stop is None else first.stop}"
    return str(first)
