"""Outputs appear whole or not at all.

Every artifact is written under a temporary name beside its target and renamed into place when complete, so a
killed job never leaves a file or a Zarr store that Snakemake or a user could mistake for a finished one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from pathlib import Path

from lmscope.errors import user_facing


def _temporary_sibling(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike):
    """Yield a temporary path beside `target` (file or directory); rename it to `target` on success.

    On an exception the temporary path is removed and `target` is left untouched. Temporary siblings a killed
    run left behind are removed first: Snakemake runs one job per target at a time, so they are nobody's.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{glob.escape(target.name)}.tmp-*"):  # left by a killed run of this job
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    tmp = _temporary_sibling(target)
    try:
        yield tmp
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except Exception as error:
        full = user_facing(error)
        if isinstance(full, OSError):  # a full disk: say which output did not fit (the OS does not)
            raise OSError(full.errno, f"{full.strerror} while writing {target}") from error
        raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
