"""Top activating texts per SAE feature (METHODS A4), in one streaming pass over a split's activations.

For each feature, up to `top_n` documents ranked by the feature's highest activation in the document (one
entry per document, at its highest-activating token). Memory is bounded by features × (top_n + a batch of
documents), never by the split: each batch's per-document maxima are merged into the running top list with a
stable sort, so ties keep the earlier document (the result equals a brute-force ranking by activation, then
doc_id). A second, targeted pass re-encodes only the documents that made some list, to store every token's
activation of the window for highlighting.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
import zarr

from lmscope.atomic import atomic_path
from lmscope.models import resolve_device
from lmscope.sae_checkpoints.activation_store import CheckedStore
from lmscope.sae_checkpoints.sae import TopKSAE


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
    for start in range(0, n_docs, batch_docs):
        stop = min(start + batch_docs, n_docs)
        rows = torch.from_numpy(store[start * tokens_per_doc:stop * tokens_per_doc].astype(np.float32)).to(device)
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


@torch.no_grad()
def window_activations(sae: TopKSAE, store: zarr.Array, tokens_per_doc: int, pairs: dict[int, list[int]],
                       device="cpu") -> dict[tuple[int, int], list[float]]:
    """{(feature, doc): the feature's activation at every position of the doc} for the requested pairs
    ({doc: [features]}), encoding each document once."""
    out = {}
    for doc, feats in pairs.items():
        rows = torch.from_numpy(store[doc * tokens_per_doc:(doc + 1) * tokens_per_doc].astype(np.float32))
        z = sae.dense_latents(rows.to(device)).cpu()
        for f in feats:
            out[(f, doc)] = z[:, f].tolist()
    return out


def contexts_table(sae: TopKSAE, store: zarr.Array, top: dict, doc_id_offset: int, tokens_per_doc: int,
                   device="cpu") -> tuple[pl.DataFrame, pl.DataFrame]:
    """contexts (feature, rank, activation, doc_id, position, activations) for every entry with a positive
    activation, and per-feature statistics (frequency, max_activation, n_texts, dead)."""
    value, doc, pos = top["value"], top["doc"], top["position"]
    live = value > 0
    feats, ranks = live.nonzero(as_tuple=True)
    pairs: dict[int, list[int]] = {}
    for f, r in zip(feats.tolist(), ranks.tolist()):
        pairs.setdefault(int(doc[f, r]), []).append(f)
    windows = window_activations(sae, store, tokens_per_doc, pairs, device)
    contexts = pl.DataFrame({
        "feature": feats.numpy().astype(np.int32),
        "rank": ranks.numpy().astype(np.int16),
        "activation": value[feats, ranks].numpy(),
        "doc_id": (doc[feats, ranks] + doc_id_offset).numpy(),
        "position": pos[feats, ranks].numpy().astype(np.int16),
        "activations": [windows[(f, int(doc[f, r]))] for f, r in zip(feats.tolist(), ranks.tolist())],
    }, schema_overrides={"activations": pl.List(pl.Float32)})
    n_texts = live.sum(1)
    stats = pl.DataFrame({"feature": np.arange(sae.d_sae, dtype=np.int32), "frequency": top["frequency"].numpy(),
                          "max_activation": top["max_activation"].numpy(), "n_texts": n_texts.numpy(),
                          "dead": (n_texts == 0).numpy()})
    return contexts, stats


def run(*, sae, test, contexts, features, top_n: int, batch_docs: int, device: str, threads: int) -> None:
    """Rule top_contexts: contexts.parquet and features.parquet for one checkpoint's SAE on the test split."""
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    model = TopKSAE.load(sae).to(dev)
    store = CheckedStore(test)
    per_doc = store.attrs["tokens_per_doc"]
    top = top_documents(model, store, per_doc, top_n, batch_docs, dev)
    context_table, stats = contexts_table(model, store, top, store.attrs["doc_id_offset"], per_doc, dev)
    for frame, path in ((context_table, contexts), (stats, features)):
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp)
