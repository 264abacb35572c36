"""Send a job's logging, warnings and tqdm progress into its Snakemake log file.

tqdm and Python warnings write to stderr, so pointing stderr at the log file (line-buffered) captures progress
bars as they advance, next to the logging records.
"""

from __future__ import annotations

import logging
import sys


def log_to(path: str) -> None:
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
