"""Shuffled batches of activation rows from one or more Zarr stores, for SAE training.

Every row is visited exactly once per epoch, in an order fixed by (seed, epoch):
1. the chunks of all stores are put in a seeded random order (chunk-order shuffle: reads stay whole-chunk);
2. they are read a window at a time (enough chunks to hold `buffer_tokens` rows), in parallel threads;
3. each window's rows, with the rows left over from the previous window, are permuted (in-memory shuffle
   buffer) and cut into batches of `batch_tokens`; what does not fill a batch is carried to the next window.
A background thread does all of this ahead of the consumer (`prefetch` batches), so that training does not
wait for decompression; tensors are handed over on the target device in the requested dtype.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from lmscope.errors import InputError
from lmscope.sae_checkpoints.activation_store import CheckedStore

_DONE = object()
NUMPY_DTYPES = {torch.float32: np.float32, torch.float16: np.float16, torch.float64: np.float64}


class ShuffledBatches:
    def __init__(self, stores: list[str | Path], batch_tokens: int, *, seed: int = 0, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, buffer_tokens: int | None = None, prefetch: int = 4,
                 workers: int = 4, drop_last: bool = False):
        self.arrays = [CheckedStore(p) for p in stores]
        widths = {a.shape[1] for a in self.arrays}
        if len(widths) != 1:
            raise InputError(f"stores have different widths {sorted(widths)}: {[str(p) for p in stores]}")
        self.d = widths.pop()
        self.chunks = [(i, start, min(start + a.chunks[0], a.shape[0]))
                       for i, a in enumerate(self.arrays) for start in range(0, a.shape[0], a.chunks[0])]
        self.n_rows = sum(a.shape[0] for a in self.arrays)
        self.batch_tokens, self.seed, self.drop_last = batch_tokens, seed, drop_last
        self.device, self.dtype = torch.device(device), dtype
        largest_chunk = max((stop - start for _, start, stop in self.chunks), default=1)
        self.window = max(1, math.ceil((buffer_tokens or 8 * batch_tokens) / largest_chunk))
        self.prefetch, self.workers = prefetch, workers

    def __len__(self) -> int:
        """Batches per epoch."""
        return self.n_rows // self.batch_tokens if self.drop_last else math.ceil(self.n_rows / self.batch_tokens)

    def _batches(self, epoch: int) -> Iterator[np.ndarray]:
        """The epoch's batches as numpy arrays, in their final order (runs in the background thread)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = [self.chunks[i] for i in rng.permutation(len(self.chunks))]
        carry = np.empty((0, self.d), dtype=self.arrays[0].dtype if self.arrays else np.float32)
        with ThreadPoolExecutor(self.workers) as pool:
            for w in range(0, len(order), self.window):
                blocks = list(pool.map(lambda c: self.arrays[c[0]][c[1]:c[2]], order[w:w + self.window]))
                rows = np.concatenate([carry, *blocks])
                rows = rows[rng.permutation(len(rows))]
                n_full = len(rows) // self.batch_tokens * self.batch_tokens
                for b in range(0, n_full, self.batch_tokens):
                    yield rows[b:b + self.batch_tokens]
                carry = rows[n_full:]
        if len(carry) and not self.drop_last:
            yield carry

    def epoch(self, epoch: int = 0) -> Iterator[torch.Tensor]:
        """Batches of `epoch` as [rows, d] tensors on the device; the last may be short unless drop_last."""
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        pin = self.device.type == "cuda"

        def put(item) -> bool:
            """Hand `item` over unless the consumer has gone away; False when it has."""
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            try:
                for batch in self._batches(epoch):
                    if pin:  # float16 to the GPU, converted there
                        t = torch.from_numpy(np.ascontiguousarray(batch)).pin_memory()
                    else:  # numpy converts in this thread alone; torch would use its intra-op pool, which
                        # the training step on the same cores needs
                        t = torch.from_numpy(batch.astype(NUMPY_DTYPES[self.dtype]))
                    if not put(t):
                        return
                put(_DONE)
            except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
                put(e)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item.to(self.device, non_blocking=True).to(self.dtype) if pin else item
        finally:
            stop.set()
            thread.join()
