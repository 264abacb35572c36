"""Brute-force versions of the two text-selection rules of lmscope.sae_checkpoints.top_texts, over a whole split
held in memory, for the streaming implementations to be compared with: on small stores made in a test
(tests/sae_checkpoints/test_top_texts.py) and on the micro workflow's own SAEs and stores
(tests/workflow/test_workflow.py); and of contexts.parquet, each window read on its own."""

import numpy as np
import polars as pl
import torch

from lmscope.sae_checkpoints import top_texts


def brute_force(sae, rows, top_n, T):
    """Per feature, its top_n documents by highest activation (then doc index), as (value, doc, position)."""
    with torch.no_grad():
        z = sae.dense_latents(rows).view(-1, T, sae.d_sae)
    value, position = z.max(1)  # [docs, features]; first position on ties within a document
    out = {}
    for f in range(sae.d_sae):
        ranked = sorted(((-value[d, f].item(), d) for d in range(len(value)) if value[d, f] > 0))[:top_n]
        out[f] = [(-v, d, position[d, f].item()) for v, d in ranked]
    return out, z


def brute_force_threshold(sae, rows, top_n, threshold, seed, T):
    """The authors' collect_feature_pattern.py on the whole split at once: per feature, the documents in the
    seeded shuffled order, the first top_n in which the feature is among the K active latents at some position
    with an activation strictly above threshold x its maximum before ReLU and TopK (floored at 0)."""
    with torch.no_grad():
        pre = torch.nn.functional.linear(sae.encoder_input(rows), sae.W_enc_t, sae.b_enc)
        vals, idx = sae.encode(rows)  # [rows, K]: latent_acts, latent_indices
        z = sae.dense_latents(rows).view(-1, T, sae.d_sae)
    act_thresholds = threshold * pre.max(0).values.clamp_min(0)
    exceed = act_thresholds[idx] < vals
    value, position = z.max(1)
    out = {}
    for f in range(sae.d_sae):
        taken = []
        for d in top_texts.shuffled_order(len(z), seed).tolist():
            if len(taken) < top_n and (idx[d * T:(d + 1) * T][exceed[d * T:(d + 1) * T]] == f).any():
                taken.append((value[d, f].item(), d, position[d, f].item()))
        out[f] = taken
    return out, z


def brute_force_contexts(sae, store, top, doc_id_offset, T):
    """contexts.parquet as lmscope wrote it before context_windows (issue 19): every live entry of `top`, its
    document's window read and encoded on its own, the table built whole in memory."""
    value, doc, pos = top["value"], top["doc"], top["position"]
    feats, ranks = (value > 0).nonzero(as_tuple=True)
    windows = {}
    with torch.no_grad():
        for f, r in zip(feats.tolist(), ranks.tolist()):
            d = int(doc[f, r])
            z = sae.dense_latents(torch.from_numpy(store[d * T:(d + 1) * T].astype(np.float32)))
            windows[(f, d)] = z[:, f].tolist()
    return pl.DataFrame({
        "feature": feats.numpy().astype(np.int32),
        "rank": ranks.numpy().astype(np.int16),
        "activation": value[feats, ranks].numpy(),
        "doc_id": (doc[feats, ranks] + doc_id_offset).numpy(),
        "position": pos[feats, ranks].numpy().astype(np.int16),
        "activations": [windows[(f, int(doc[f, r]))] for f, r in zip(feats.tolist(), ranks.tolist())],
    }, schema_overrides={"activations": pl.List(pl.Float32)})
