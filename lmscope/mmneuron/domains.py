"""A domain's samples directory: each source prepared into parquet as it streams, then the sources gathered
without a second copy.

    results/domains/{domain}/sources/{kind}{index}/{split}.parquet, stats.json     one source (rules domains_*)
    results/domains/{domain}/samples/{split}/{index:02d}-{source}.parquet          the domain (rule domains_merge)
    results/domains/{domain}/samples/stats.json                                    its sources' stats side by side

Records (lmscope.mmneuron.records) are written in row groups of at most ROW_GROUP_ROWS samples or
ROW_GROUP_BYTES of images, whichever comes first, so preparing holds one row group however large the split,
and a reader that wants one sample reads its row group only (lmscope.mmneuron.samples). The domain's files are
hard links to its sources' files (one copy on disk; a copy only where the file system cannot link).

Every image is decoded once while preparing: an unreadable one drops its sample, which is counted and named in the
log and in the stats, and never stops a run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron.records import SCHEMA, SPLITS, BadImage
from lmscope.mmneuron.sources import SOURCES

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 16
ROW_GROUP_BYTES = 32 * 2**20


class RowGroupWriter:
    """Records appended one by one to a parquet file, flushed as a row group every ROW_GROUP_ROWS records or
    ROW_GROUP_BYTES of images."""

    def __init__(self, path: Path):
        self.writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self.buffer: list[dict] = []
        self.bytes = 0
        self.rows = 0

    def append(self, row: dict) -> None:
        self.buffer.append(row)
        self.bytes += sum(len(b) for b in row["images"])
        if len(self.buffer) >= ROW_GROUP_ROWS or self.bytes >= ROW_GROUP_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.writer.write_table(pa.Table.from_pylist(self.buffer, schema=SCHEMA))
            self.rows += len(self.buffer)
            self.buffer, self.bytes = [], 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def prepare(domain: str, spec: dict, name: str, out_dir: str | Path) -> dict:
    """Write {split}.parquet and stats.json of one source; returns the stats (samples and skipped per split)."""
    out_dir = Path(out_dir)
    stats = {"domain": domain, "source": name, "kind": spec["kind"], "splits": {}}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for split in SPLITS:
            writer, skipped = RowGroupWriter(tmp / f"{split}.parquet"), []
            try:
                for ident, item in SOURCES[spec["kind"]](domain, split, spec, name):
                    if isinstance(item, BadImage):
                        log.warning("%s %s: skipped sample %s, unreadable image: %s", domain, name, ident, item)
                        skipped.append(ident)
                    else:
                        writer.append(item)
            finally:
                writer.close()
            stats["splits"][split] = {"samples": writer.rows, "skipped": len(skipped), "skipped_ids": skipped}
            log.info("%s %s %s: %d samples, %d skipped", domain, name, split, writer.rows, len(skipped))
        (tmp / "stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as error:  # another file system, or one without hard links
        log.warning("cannot hard-link %s (%s): copying it", source, error)
        shutil.copyfile(source, target)


def merge(domain: str, source_dirs: list[str], out_dir: str | Path) -> None:
    """One domain's splits from all its sources, in config order, with the sources' stats side by side."""
    out_dir = Path(out_dir)
    stats = [json.loads((Path(d) / "stats.json").read_text()) for d in source_dirs]
    for split in SPLITS:
        if not sum(s["splits"][split]["samples"] for s in stats):
            raise InputError(f"domain {domain}: no {split} samples from its sources "
                             f"({', '.join(s['source'] for s in stats)})")
    with atomic_path(out_dir) as tmp:
        for split in SPLITS:
            (tmp / split).mkdir(parents=True)
            for index, (directory, source) in enumerate(zip(source_dirs, stats)):
                if source["splits"][split]["samples"]:
                    _link(Path(directory) / f"{split}.parquet",
                          tmp / split / f"{index:02d}-{source['source']}.parquet")
        (tmp / "stats.json").write_text(json.dumps({"domain": domain, "sources": stats}, indent=1))


def run_source(*, source: dict, source_samples: str, domain: str, index: str) -> dict:
    """Rules domains_synthetic, domains_folder, domains_hf, domains_rsvqa: the `index`-th source of a domain
    (named by its kind and index, e.g. synthetic0) prepared into `source_samples`."""
    return prepare(domain, source, f"{source['kind']}{index}", source_samples)


def run_merge(*, sources: list[str], samples: str, domain: str) -> None:
    """Rule domains_merge: a domain's prepared sources, in config order, gathered into `samples`."""
    merge(domain, sources, samples)
