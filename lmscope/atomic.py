"""Outputs appear whole or not at all.

Every artifact is written under a temporary name beside its target and renamed into place when complete, so a
killed job never leaves a file or a Zarr store that Snakemake or a user could mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path


def _temporary_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temporary path beside `target` (file or directory); rename it to `target` on success.

    On an exception the temporary path is removed and `target` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(target)
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
