"""Texts per SAE feature (METHODS A4), streamed over a split's activations, by one of two rules.

`top` (the default): up to `top_n` documents ranked by the feature's highest activation in the document (one
entry per document, at its highest-activating token). Each batch's per-document maxima are merged into the
running top list with a stable sort, so ties keep the earlier document (the result equals a brute-force ranking
by activation, then doc_id).

`threshold` (the authors' collect_feature_pattern.py, GitHub llm-jp/llm-jp-sae): the first `top_n` documents,
in a seeded shuffled order, in which the feature is among the K active latents at some position with an
activation strictly above `threshold` x m, where m is the feature's maximum on the split. The authors' test split
is itself a random permutation (their prepare_data.py shuffles before splitting); ours is ordered by split and
source, hence the shuffle. As in their code, m is the maximum of the encoder's output before ReLU and TopK
(they hook `sae.encoder`), floored at 0, which can exceed the largest TopK activation. Pass 1 finds m; pass 2
reads the documents in storage order, chunk by chunk, and keeps per feature the qualifying documents earliest
in the shuffled order: the same set as walking the shuffled order, without random reads. The entry's
activation and position are the document's highest-activating token; its rank is the order taken.

Both keep features x top_n entries (plus one batch's latents, batch_docs x tokens x features), never the split.
A second pass (lmscope.sae_checkpoints.context_windows) re-encodes only the documents that made some list, in
storage order, to store every token's activation of the window for highlighting.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
import zarr

from lmscope.atomic import atomic_path
from lmscope.logs import progress
from lmscope.models import resolve_device
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.context_windows import write_contexts
from lmscope.sae_checkpoints.sae import TopKSAE


def document_batches(store: zarr.Array, tokens_per_doc: int, batch_docs: int, device="cpu",
                     desc: str = "documents") -> Iterator[tuple[int, int, torch.Tensor]]:
    """(first doc, stop doc, rows [docs x tokens, d]) in storage order: whole-chunk sequential reads, counted in
    a progress bar named `desc`."""
    n_docs = store.shape[0] // tokens_per_doc
    bar = progress(n_docs * tokens_per_doc, desc)
    for start in range(0, n_docs, batch_docs):
        stop = min(start + batch_docs, n_docs)
        rows = torch.from_numpy(store[start * tokens_per_doc:stop * tokens_per_doc].astype(np.float32)).to(device)
        yield start, stop, rows
        bar.update((stop - start) * tokens_per_doc)
    bar.close()


@torch.no_grad()
def top_documents(sae: TopKSAE, store: zarr.Array, tokens_per_doc: int, top_n: int = 50, batch_docs: int = 32,
                  device="cpu") -> dict:
    """Per feature: the top documents (value, doc index in the split, position), activation frequency over
    tokens and maximum activation. Documents are the store's rows // tokens_per_doc."""
    n_docs = store.shape[0] // tokens_per_doc
    d_sae = sae.d_sae
    best_val = torch.full((d_sae, 0), -1.0, device=device)
    best_doc = torch.zeros((d_sae, 0), dtype=torch.long, device=device)
    best_pos = torch.zeros((d_sae, 0), dtype=torch.long, device=device)
    active_tokens = torch.zeros(d_sae, dtype=torch.long, device=device)
    for start, stop, rows in document_batches(store, tokens_per_doc, batch_docs, device, "top documents"):
        z = sae.dense_latents(rows).view(stop - start, tokens_per_doc, d_sae)
        active_tokens += (z > 0).sum((0, 1))
        doc_max, doc_pos = z.max(dim=1)  # [docs, d_sae]
        docs = torch.arange(start, stop, device=device).expand(d_sae, -1)
        vals = torch.cat([best_val, doc_max.T], 1)
        # stable: among equal activations the earlier document (already in the list, or lower index) stays first
        order = vals.sort(dim=1, descending=True, stable=True).indices[:, :top_n]
        best_val = vals.gather(1, order)
        best_doc = torch.cat([best_doc, docs], 1).gather(1, order)
        best_pos = torch.cat([best_pos, doc_pos.T], 1).gather(1, order)
    return {"value": best_val.cpu(), "doc": best_doc.cpu(), "position": best_pos.cpu(),
            "frequency": (active_tokens.float() / max(1, n_docs * tokens_per_doc)).cpu(),
            "max_activation": best_val[:, 0].clamp_min(0).cpu() if best_val.shape[1] else torch.zeros(d_sae)}


def shuffled_order(n_docs: int, seed: int) -> np.ndarray:
    """The split's documents (indices) in the seeded order the threshold rule takes them."""
    return np.random.default_rng(seed).permutation(n_docs)


@torch.no_grad()
def max_preactivations(sae: TopKSAE, store: zarr.Array, tokens_per_doc: int, batch_docs: int = 32,
                       device="cpu") -> torch.Tensor:
    """[d_sae] each feature's largest encoder output over the split, before ReLU and TopK, floored at 0: what
    the authors' first pass reads from a hook on `sae.encoder` into a zero-initialised maximum."""
    best = torch.zeros(sae.d_sae, device=device)
    for _, _, rows in document_batches(store, tokens_per_doc, batch_docs, device, "maxima"):
        pre = F.linear(sae.encoder_input(rows), sae.W_enc_t, sae.b_enc)  # the SAE's pre-activation (sae.py's encode)
        best = torch.maximum(best, pre.max(0).values)
    return best


@torch.no_grad()
def threshold_documents(sae: TopKSAE, store: zarr.Array, tokens_per_doc: int, top_n: int = 50,
                        threshold: float = 0.7, seed: int = 0, batch_docs: int = 32, device="cpu") -> dict:
    """The threshold rule's documents per feature, in top_documents' layout: value, doc, position [d_sae, top_n]
    in the order taken (a slot with value 0 holds no text), frequency and maximum activation as top_documents.

    Memory: features x top_n entries and three [d_sae] vectors across batches, one int64 rank per document,
    and per batch its latents and a features x (top_n + batch_docs) merge."""
    n_docs = store.shape[0] // tokens_per_doc
    d_sae = sae.d_sae
    limits = threshold * max_preactivations(sae, store, tokens_per_doc, batch_docs, device)
    rank = torch.empty(n_docs, dtype=torch.long)
    rank[torch.from_numpy(shuffled_order(n_docs, seed))] = torch.arange(n_docs)
    rank = rank.to(device)
    never = n_docs  # the rank of a document not taken: after every real one
    best_rank = torch.zeros((d_sae, 0), dtype=torch.long, device=device)
    best_val = torch.zeros((d_sae, 0), device=device)
    best_doc = torch.zeros((d_sae, 0), dtype=torch.long, device=device)
    best_pos = torch.zeros((d_sae, 0), dtype=torch.long, device=device)
    active_tokens = torch.zeros(d_sae, dtype=torch.long, device=device)
    max_act = torch.zeros(d_sae, device=device)
    for start, stop, rows in document_batches(store, tokens_per_doc, batch_docs, device, "threshold"):
        z = sae.dense_latents(rows).view(stop - start, tokens_per_doc, d_sae)
        active_tokens += (z > 0).sum((0, 1))
        doc_max, doc_pos = z.max(dim=1)  # [docs, d_sae]
        max_act = torch.maximum(max_act, doc_max.max(0).values)
        # a latent outside the TopK is 0 in z, and limits >= 0: "> limit" is the authors' TopK test too
        taken = (z > limits).any(dim=1).T  # [d_sae, docs]
        ranks = torch.cat([best_rank, torch.where(taken, rank[start:stop].expand(d_sae, -1), never)], 1)
        order = ranks.sort(dim=1, stable=True).indices[:, :top_n]  # ranks are distinct, but for `never`
        best_rank = ranks.gather(1, order)
        best_val = torch.cat([best_val, doc_max.T], 1).gather(1, order)
        best_doc = torch.cat([best_doc, torch.arange(start, stop, device=device).expand(d_sae, -1)], 1).gather(1, order)
        best_pos = torch.cat([best_pos, doc_pos.T], 1).gather(1, order)
    value = torch.where(best_rank < never, best_val, 0.0)
    return {"value": value.cpu(), "doc": best_doc.cpu(), "position": best_pos.cpu(),
            "frequency": (active_tokens.float() / max(1, n_docs * tokens_per_doc)).cpu(),
            "max_activation": max_act.cpu()}


def feature_stats(top: dict, d_sae: int) -> pl.DataFrame:
    """Per feature: frequency, max_activation, n_texts (entries with a positive activation) and dead."""
    n_texts = (top["value"] > 0).sum(1)
    return pl.DataFrame({"feature": np.arange(d_sae, dtype=np.int32), "frequency": top["frequency"].numpy(),
                         "max_activation": top["max_activation"].numpy(), "n_texts": n_texts.numpy(),
                         "dead": (n_texts == 0).numpy()})


def run(*, sae, test, contexts, features, top_n: int, batch_docs: int, selection: str, threshold: float, seed: int,
        device: str, threads: int) -> None:
    """Rule top_contexts: contexts.parquet and features.parquet for one checkpoint's SAE on the test split, the
    texts chosen by `selection` (top | threshold; `threshold` and `seed` serve the threshold rule only)."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    model = TopKSAE.load(sae).to(dev)
    store = CheckedStore(test)
    per_doc = store.attrs["tokens_per_doc"]
    if selection == "top":
        top = top_documents(model, store, per_doc, top_n, batch_docs, dev)
    elif selection == "threshold":
        top = threshold_documents(model, store, per_doc, top_n, threshold, seed, batch_docs, dev)
    else:
        raise ValueError(f"features.selection must be top or threshold, got {selection!r}")
    write_contexts(model, store, top, store.attrs["doc_id_offset"], per_doc, contexts, batch_docs, dev)
    with atomic_path(features) as tmp:
        feature_stats(top, model.d_sae).write_parquet(tmp)
