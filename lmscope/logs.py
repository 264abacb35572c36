"""Send a job's logging, warnings and tqdm progress into its Snakemake log file, and tell bad input plainly.

tqdm and Python warnings write to stderr, so pointing stderr at the log file (line-buffered) captures progress
bars as they advance, next to the logging records. An `InputError` (or a full disk) that ends the job is written
as one paragraph, to the log and to the terminal Snakemake reports to, instead of a traceback.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

from lmscope.errors import paragraph, user_facing


def log_to(path: str) -> None:
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    terminal = sys.stderr
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)

    def report(kind, error, trace):
        cause = user_facing(error)
        if cause is None:
            sys.__excepthook__(kind, error, trace)  # a bug: the traceback is what its reader needs
            terminal.write(f"lmscope: the job failed with {kind.__name__}; the traceback is in {path}\n")
            return
        message = f"lmscope error: {paragraph(cause)}\n"
        stream.write(message)
        terminal.write(message)

    sys.excepthook = report


def progress(total: int | None, desc: str, unit: str = "tok", initial: int = 0) -> tqdm:
    """A progress bar for a long rule's log: the count in `unit`s per second and, with a total, an ETA.

    One line every 30 s at most, so that a 12-hour job's log stays readable (tqdm in a file redraws with carriage
    returns; `tail` shows the latest). Counts are scaled (k, M) because a paper-scale split is 10^8 tokens."""
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, initial=initial, mininterval=30,
                dynamic_ncols=False, ncols=100, file=sys.stderr)
