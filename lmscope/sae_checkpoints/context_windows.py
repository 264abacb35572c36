"""contexts.parquet: each feature's texts with every token's activation in the text's window, written in one pass
over the activation store in storage order, in memory that does not grow with the split.

At the paper's scale (32,768 features x top 50 texts on a test split of ~258k documents x 64 tokens) the texts
are 1.64M windows: 420 MB as float32 arrays, 3-5 GB as Python floats, and about 1 TB decompressed (issue 19's
estimate) when each text's document is read on its own, in no order, since every read decodes a whole chunk.
Instead the documents that hold some text are visited in storage order, span by span of whole chunks: one read per
span decodes each of its chunks once and keeps only the needed documents' rows, which are encoded `batch_docs` at
a time. Each text's window goes to a temporary bucket file by its place in the output (feature, then rank), so a
bucket is a block of features; at the end each bucket in turn is put in order and appended to contexts.parquet as
row groups. Peak memory: one span, one batch's latents, one flush buffer and one bucket.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from lmscope.atomic import atomic_path
from lmscope.logs import progress
from lmscope.sae_checkpoints.sae import TopKSAE

# polars' own types for these columns (List is arrow's large_list), so the file reads back as it always did
SCHEMA = pa.schema([("feature", pa.int32()), ("rank", pa.int16()), ("activation", pa.float32()),
                    ("doc_id", pa.int64()), ("position", pa.int16()),
                    ("activations", pa.large_list(pa.field("element", pa.float32())))])
BUCKET_ROWS = 1 << 18  # texts per bucket: 64 MiB of windows at 64 tokens
FLUSH_ROWS = 1 << 16  # windows held before they go to their buckets: 16 MiB at 64 tokens
ROW_GROUP_ROWS = 1 << 16  # a reader of a few features (scan + filter) decodes a row group or two


@torch.no_grad()
def windows_in_storage_order(sae: TopKSAE, store, docs: np.ndarray, features: np.ndarray, tokens_per_doc: int,
                             batch_docs: int = 32, device="cpu") -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(texts, windows [len(texts), tokens_per_doc] float32): the windows of the texts (indices into `docs` and
    `features`, the document and feature of each text), by document in storage order, each document encoded
    once. Spans are whole chunks (a store written by extract_activations has whole documents per chunk); a chunk
    that holds no text's document is never read."""
    by_doc = np.argsort(docs, kind="stable")
    sorted_docs = docs[by_doc]
    needed = np.unique(docs)
    chunk_docs = max(1, store.chunks[0] // tokens_per_doc)
    span_docs = chunk_docs * -(-batch_docs // chunk_docs)
    offsets = np.arange(tokens_per_doc)
    bar = progress(len(needed) * tokens_per_doc, "windows")
    for span in np.unique(needed // span_docs):
        in_span = needed[np.searchsorted(needed, span * span_docs):np.searchsorted(needed, (span + 1) * span_docs)]
        rows = store[(in_span[:, None] * tokens_per_doc + offsets).ravel()]  # decodes each chunk it touches once
        for start in range(0, len(in_span), batch_docs):
            batch = in_span[start:start + batch_docs]
            x = torch.from_numpy(rows[start * tokens_per_doc:(start + len(batch)) * tokens_per_doc].astype(np.float32))
            z = sae.dense_latents(x.to(device)).view(len(batch), tokens_per_doc, sae.d_sae)
            texts = by_doc[np.searchsorted(sorted_docs, batch[0]):np.searchsorted(sorted_docs, batch[-1], "right")]
            at = torch.from_numpy(np.searchsorted(batch, docs[texts])).to(device)
            yield texts, z[at, :, torch.from_numpy(features[texts]).to(device)].cpu().numpy()
            bar.update(len(batch) * tokens_per_doc)
    bar.close()


class Buckets:
    """Windows kept on disk in `n` Arrow IPC files by their index in the output ([i * rows, (i + 1) * rows) in
    bucket i), and read back a bucket at a time in output order.

    Windows wait in one buffer allocated once: holding each batch's small array instead let the heap fragment
    between the batches' large latents (measured: 10 MB of windows held that way raised RSS by 1.7 GB)."""

    def __init__(self, directory: Path, n: int, rows: int, tokens_per_doc: int, flush_rows: int = FLUSH_ROWS):
        self.paths = [directory / f"bucket-{i}.arrow" for i in range(n)]
        self.rows, self.tokens_per_doc = rows, tokens_per_doc
        self.schema = pa.schema([("index", pa.int64()),
                                 ("window", pa.list_(pa.float32(), tokens_per_doc))])
        self.writers = [pa.ipc.new_file(str(p), self.schema) for p in self.paths]
        self.index = np.empty(flush_rows, dtype=np.int64)
        self.windows = np.empty((flush_rows, tokens_per_doc), dtype=np.float32)
        self.n_held = 0

    def add(self, index: np.ndarray, windows: np.ndarray) -> None:
        done = 0
        while done < len(index):
            take = min(len(index) - done, len(self.index) - self.n_held)
            held = slice(self.n_held, self.n_held + take)
            self.index[held], self.windows[held] = index[done:done + take], windows[done:done + take]
            self.n_held, done = self.n_held + take, done + take
            if self.n_held == len(self.index):
                self.flush()

    def flush(self) -> None:
        index, windows = self.index[:self.n_held], self.windows[:self.n_held]
        self.n_held = 0
        bucket = index // self.rows
        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(len(self.paths) + 1))
        for i, writer in enumerate(self.writers):
            part = order[bounds[i]:bounds[i + 1]]
            if len(part):
                flat = pa.array(windows[part].ravel())
                writer.write_batch(pa.record_batch(
                    [pa.array(index[part]), pa.FixedSizeListArray.from_arrays(flat, self.tokens_per_doc)],
                    schema=self.schema))

    def in_order(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first output index, windows) of each bucket in turn; every index of the bucket must have come."""
        self.flush()
        for writer in self.writers:
            writer.close()
        for i, path in enumerate(self.paths):
            with pa.OSFile(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
            index = table["index"].to_numpy()
            windows = (table["window"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
                       .reshape(len(index), self.tokens_per_doc)) if len(index) else \
                np.empty((0, self.tokens_per_doc), dtype=np.float32)
            order = np.argsort(index)
            if not np.array_equal(index[order], np.arange(i * self.rows, i * self.rows + len(index))):
                raise RuntimeError(f"bucket {i}: windows missing or repeated")  # a bug, never bad input
            yield i * self.rows, windows[order]
            path.unlink()


def write_contexts(sae: TopKSAE, store, top: dict, doc_id_offset: int, tokens_per_doc: int, path,
                   batch_docs: int = 32, device="cpu", bucket_rows: int = BUCKET_ROWS,
                   flush_rows: int = FLUSH_ROWS) -> None:
    """contexts.parquet (feature, rank, activation, doc_id, position, activations) at `path`: every entry of
    `top` (top_texts' layout) with a positive activation, sorted by feature then rank."""
    value, doc, pos = top["value"], top["doc"], top["position"]
    feats, ranks = (value > 0).nonzero(as_tuple=True)  # row-major: the output's order
    columns = {"feature": feats.numpy().astype(np.int32), "rank": ranks.numpy().astype(np.int16),
               "activation": value[feats, ranks].numpy(), "doc_id": (doc[feats, ranks] + doc_id_offset).numpy(),
               "position": pos[feats, ranks].numpy().astype(np.int16)}
    n_texts = len(feats)
    docs, features = doc[feats, ranks].numpy(), columns["feature"]
    # the scratch folder is named as atomic_path's temporaries, so that a killed run's is removed by the next
    with atomic_path(path) as tmp, tempfile.TemporaryDirectory(dir=Path(path).parent,
                                                               prefix=f".{Path(path).name}.tmp-buckets-") as scratch:
        buckets = Buckets(Path(scratch), max(1, -(-n_texts // bucket_rows)), bucket_rows, tokens_per_doc,
                          flush_rows)
        for texts, windows in windows_in_storage_order(sae, store, docs, features, tokens_per_doc, batch_docs,
                                                       device):
            buckets.add(texts, windows)
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            for first, windows in buckets.in_order():
                rows = slice(first, first + len(windows))
                activations = pa.LargeListArray.from_arrays(
                    np.arange(0, windows.size + 1, tokens_per_doc, dtype=np.int64), pa.array(windows.ravel()),
                    type=SCHEMA.field("activations").type)
                writer.write_table(pa.table({**{name: values[rows] for name, values in columns.items()},
                                             "activations": activations}, schema=SCHEMA),
                                   row_group_size=ROW_GROUP_ROWS)
