"""The logit lens (METHODS B5): read every layer of a VLM's language model through its own unembedding.

    logits_l = lm_head(final_norm(h_l))      h_l = hidden_states[l], the output of block l (0: the embeddings)

transformers returns `hidden_states[-1]` after the final norm already, so the last layer is unembedded as it is —
normalising it twice is the classic logit-lens bug. Positions are split into image tokens (LLaVA's image token;
InstructBLIP's query tokens, which take the image token's id in the input) and text tokens.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import polars as pl
import torch

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron.sample_plan import planned
from lmscope.mmneuron.samples import read_rows
from lmscope.mmneuron.vlm_inputs import evaluation_inputs, on_device
from lmscope.models import load_vlm, resolve_device, resolve_dtype

FINAL_NORMS = ("norm", "final_layer_norm", "ln_f")


def language_model(model: torch.nn.Module) -> torch.nn.Module:
    """The decoder stack whose blocks produce hidden_states: a VLM's language model, else the base model."""
    base = model.base_model
    inner = getattr(base, "language_model", base)
    return getattr(inner, "model", inner)


def final_norm(model: torch.nn.Module) -> torch.nn.Module:
    lm = language_model(model)
    for owner in (lm, getattr(lm, "decoder", None)):
        for name in FINAL_NORMS:
            module = getattr(owner, name, None) if owner is not None else None
            if isinstance(module, torch.nn.Module):
                return module
    raise InputError(f"no final norm ({', '.join(FINAL_NORMS)}) found on {type(lm).__name__}")


def lm_hidden_states(output) -> tuple[torch.Tensor, ...]:
    """The language model's hidden states from a forward pass with output_hidden_states=True (InstructBLIP keeps
    them in language_model_outputs; reading `hidden_states` there is what crashes the reference code)."""
    states = getattr(output, "hidden_states", None)
    return states if states is not None else output.language_model_outputs.hidden_states


POSITION_CHUNK = 512  # positions unembedded at once: [512, vocab] float32 is 64 MB at a 32k vocabulary


@torch.no_grad()
def unembedded(model: torch.nn.Module, hidden_states: tuple[torch.Tensor, ...], layer: int,
               positions: slice | torch.Tensor = slice(None)) -> torch.Tensor:
    """[batch, positions, vocab] float32 logits of one layer at `positions`; the last layer is already normed."""
    h = hidden_states[layer][:, positions]
    if layer != len(hidden_states) - 1:
        h = final_norm(model)(h)
    return model.get_output_embeddings()(h).float()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the next-token distribution at every position."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def top_tokens(logits: torch.Tensor, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, token ids) of the k most likely next tokens at every position."""
    return torch.softmax(logits.float(), dim=-1).topk(k, dim=-1)


def image_positions(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Positions holding image features: LLaVA's image tokens, InstructBLIP's query tokens (same id); none in a
    text-only model."""
    config = model.config
    token = getattr(config, "image_token_id", None)
    token = getattr(config, "image_token_index", None) if token is None else token
    return input_ids == token if token is not None else torch.zeros_like(input_ids, dtype=torch.bool)


@torch.no_grad()
def read_sample(model, inputs, layers: list[int] | None, top_k: int) -> dict:
    """Entropy per layer over image and text positions, and the top-k tokens at the middle image token and the
    last text token, for one prompt. Each layer is unembedded POSITION_CHUNK positions at a time and only its
    entropies and top-k are kept: a 7B model's full stack, [33, T, 32,064] float32, is 12 GB at T = 2.9k."""
    states = lm_hidden_states(model(**inputs, output_hidden_states=True))
    chosen = layers if layers is not None else list(range(len(states)))
    if max(chosen) >= len(states):
        raise InputError(f"config key lens.layers: layer {max(chosen)} asked for, the model has {len(states)} "
                         f"hidden states (0 to {len(states) - 1})")
    is_image = image_positions(model, inputs["input_ids"][0])
    length = is_image.shape[0]
    image_at = int(torch.nonzero(is_image)[len(torch.nonzero(is_image)) // 2]) if is_image.any() else None
    at = torch.tensor([image_at if image_at is not None else length - 1, length - 1])
    entropies, top_probs, top_ids = [], [], []
    for layer in chosen:
        entropies.append(torch.cat([entropy(unembedded(model, states, layer, slice(start, start + POSITION_CHUNK))[0])
                                    for start in range(0, length, POSITION_CHUNK)]))
        probs, ids = top_tokens(unembedded(model, states, layer, at)[0], top_k)
        top_probs.append(probs)
        top_ids.append(ids)
    ent, probs, ids = torch.stack(entropies), torch.stack(top_probs), torch.stack(top_ids)  # [layers, ...]
    return {"layers": chosen, "image_entropy": ent[:, is_image].mean(-1) if is_image.any() else None,
            "text_entropy": ent[:, ~is_image].mean(-1),
            "top": {"image": (probs[:, 0], ids[:, 0]) if image_at is not None else None,
                    "text": (probs[:, 1], ids[:, 1])}}


def run(*, samples: str, lens: str, model: dict, frames: str, role: str, n_samples: int, seed: int,
        context_overflow: str, layers: list[int] | None, top_k: int, device: str, dtype: str, domain: str,
        threads: int) -> None:
    """entropy.parquet (layer, tokens, entropy averaged over samples) and top_tokens.parquet (the first sample:
    layer, tokens, rank, token, probability) in `lens`, of one VLM (`model`: {name, path} or {name, repo,
    revision}) on `n_samples` validation questions of one domain's samples directory in a seeded order."""
    torch.set_num_threads(threads)
    processor, family, chosen = planned(model, samples, "validation",
                                        partial(evaluation_inputs, role=role, frames=frames), {"samples": n_samples},
                                        domain, context_overflow, seed)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    vlm = load_vlm(model, dev, dt)
    sums, top_rows, first = {}, [], None
    for index, row in enumerate(read_rows(samples, "validation", chosen.positions)):
        read = read_sample(vlm, on_device(evaluation_inputs(family, processor, row, role, frames), dev, dt), layers,
                           top_k)
        for kind in ("image", "text"):
            if read[f"{kind}_entropy"] is not None:
                sums.setdefault(kind, []).append(read[f"{kind}_entropy"])
        if index == 0:
            first = row
            for kind, pair in read["top"].items():
                if pair is None:
                    continue
                probs, ids = pair
                for i, layer in enumerate(read["layers"]):
                    for rank in range(top_k):
                        top_rows.append({"layer": layer, "tokens": kind, "rank": rank + 1,
                                         "token": processor.tokenizer.decode([int(ids[i, rank])]),
                                         "probability": float(probs[i, rank])})
    entropy_rows = [{"layer": layer, "tokens": kind, "entropy": float(value), "samples": len(values)}
                    for kind, values in sums.items()
                    for layer, value in zip(read["layers"], torch.stack(values).mean(0))]
    with atomic_path(lens) as tmp:
        Path(tmp).mkdir(parents=True)
        pl.DataFrame(entropy_rows).write_parquet(Path(tmp) / "entropy.parquet")
        pl.DataFrame(top_rows).write_parquet(Path(tmp) / "top_tokens.parquet")
        (Path(tmp) / "question.txt").write_text(f"{first['id']}: {first['question']}\n")
