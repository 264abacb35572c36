"""Train a small Llama from scratch and save Hugging Face checkpoints at chosen (log-spaced) steps.

Why: the paper follows features across LLM-jp-3's training checkpoints; offline we need a model with the same
kind of history. A tiny LlamaForCausalLM trained here on the bilingual corpus gives checkpoints from random to
converged, saved with `save_pretrained` so every later stage loads them like hub checkpoints.

The loop reads top to bottom: pack the training split into blocks, AdamW with linear warm-up and cosine decay,
evaluate on the validation split and save at every checkpoint step.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.models import resolve_device
from lmscope.sae_checkpoints.figures import loss_curve
from lmscope.sae_checkpoints.text_sources import row_groups
from lmscope.tokenizer import bos_id, load_tokenizer

log = logging.getLogger(__name__)


@dataclass
class TinyLMConfig:
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    seq_len: int = 128
    batch_size: int = 32
    steps: int = 1000
    lr: float = 3e-3
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    eval_batches: int = 8
    seed: int = 0


def build_model(cfg: TinyLMConfig, vocab_size: int, bos_token_id: int, eos_token_id: int,
                pad_token_id: int | None) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.seq_len, bos_token_id=bos_token_id, eos_token_id=eos_token_id,
        pad_token_id=pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def pack(chunks: Iterable[list[list[int]]], seq_len: int, bos: int, eos: int) -> torch.Tensor:
    """Documents as BOS + tokens + EOS, concatenated and cut into [n, seq_len] blocks (the remainder dropped).
    `chunks` yields the documents' token ids a batch of documents at a time, and each batch becomes an int64 array
    at once: the training split costs 8 bytes a token, where one Python list of every token cost about 100 (the
    rule's peak grew by 390 MB from 20,000 to 80,000 documents; benchmarks/README.md, Branch A against corpus size)."""
    parts = [np.fromiter((t for ids in chunk for t in (bos, *ids, eos)), dtype=np.int64) for chunk in chunks]
    stream = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    n = len(stream) // seq_len
    if n == 0:
        raise InputError(f"the training text holds {len(stream)} tokens, fewer than one block of {seq_len}")
    return torch.from_numpy(stream[:n * seq_len].copy()).view(n, seq_len)


@torch.inference_mode()
def evaluate(model: LlamaForCausalLM, blocks: torch.Tensor, batch_size: int, max_batches: int) -> float:
    """Mean next-token loss over up to `max_batches` batches of `blocks` (the same blocks every time)."""
    was_training = model.training
    model.eval()
    losses = []
    for start in range(0, min(len(blocks), batch_size * max_batches), batch_size):
        batch = blocks[start:start + batch_size]
        losses.append(model(input_ids=batch, labels=batch).loss.item())
    model.train(was_training)
    return sum(losses) / len(losses)


def fit(model: LlamaForCausalLM, train_blocks: torch.Tensor, val_blocks: torch.Tensor, cfg: TinyLMConfig,
          save_steps: list[int], save: Callable[[int, LlamaForCausalLM], None],
          progress: Callable[[int, float], None] | None = None) -> list[dict]:
    """Train for `cfg.steps` steps; call `save(step, model)` at each of `save_steps`.

    Returns the history: one row per step with lr and training loss, and the validation loss at step 0 and at
    every saved step. Batches are drawn without replacement from a seeded permutation of the blocks, refreshed
    each epoch, so a seed gives the same run.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    sched = get_cosine_with_min_lr_schedule_with_warmup(opt, cfg.warmup_steps, cfg.steps,
                                                        min_lr_rate=cfg.min_lr_ratio)
    history = [{"step": 0, "lr": 0.0, "train_loss": math.nan,
                "val_loss": evaluate(model, val_blocks, cfg.batch_size, cfg.eval_batches)}]
    order, cursor = torch.randperm(len(train_blocks), generator=gen), 0
    model.train()
    for step in range(1, cfg.steps + 1):
        if cursor + cfg.batch_size > len(order):
            order, cursor = torch.randperm(len(train_blocks), generator=gen), 0
        batch = train_blocks[order[cursor:cursor + cfg.batch_size].to(train_blocks.device)]
        cursor += cfg.batch_size
        loss = model(input_ids=batch, labels=batch).loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss is {loss.item()} at step {step} (lr {cfg.lr})")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        row = {"step": step, "lr": sched.get_last_lr()[0], "train_loss": loss.item(), "val_loss": math.nan}
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step in save_steps:
            row["val_loss"] = evaluate(model, val_blocks, cfg.batch_size, cfg.eval_batches)
            save(step, model)
            log.info("step %d: train loss %.4f, validation loss %.4f, saved", step, row["train_loss"],
                     row["val_loss"])
        history.append(row)
        if progress:
            progress(step, row["train_loss"])
    return history


def run(*, documents, checkpoints, train: dict, steps: list[int], tokenizer: dict, bos_token_id: int | None, key: str,
        device: str, threads: int) -> None:
    """Rule train_tinylm: train on the corpus's training split, validate on its validation split, and write
    `checkpoints/step-N/` (model + tokenizer) for each of `steps`, `train_log.csv` and `loss.pdf`.

    Documents start with the same BOS id the corpus windows start with (tokenizer.bos_id with the corpus's
    configured `bos_token_id`). The whole directory is built under a temporary name and renamed at the end, so
    a killed run leaves no checkpoint that looks finished."""
    torch.set_num_threads(threads)
    cfg = TinyLMConfig(**train)
    dev = resolve_device(device)
    tok = load_tokenizer(tokenizer)
    bos = bos_id(tok, bos_token_id, key)

    def blocks(split: str) -> torch.Tensor:
        def token_ids():  # a row group of documents at a time, so no list holds the whole split's text
            for group in row_groups(documents, columns=["split", "text"]):
                texts = [t for s, t in zip(group["split"].to_pylist(), group["text"].to_pylist()) if s == split]
                if texts:
                    yield tok(texts, add_special_tokens=False)["input_ids"]

        return pack(token_ids(), cfg.seq_len, bos, tok.eos_token_id).to(dev)

    train_blocks, val_blocks = blocks("train"), blocks("validation")
    log.info("training on %d blocks of %d tokens on %s, validating on %d", len(train_blocks), cfg.seq_len, dev,
             len(val_blocks))
    model = build_model(cfg, len(tok), bos, tok.eos_token_id, tok.pad_token_id).to(dev)
    with atomic_path(checkpoints) as tmp:
        def save(step: int, m: LlamaForCausalLM) -> None:
            m.save_pretrained(tmp / f"step-{step}")
            tok.save_pretrained(tmp / f"step-{step}")

        with tqdm(total=cfg.steps, desc="train", mininterval=5) as bar:
            history = fit(model, train_blocks, val_blocks, cfg, sorted(steps), save,
                            progress=lambda step, loss: (bar.update(), bar.set_postfix(loss=f"{loss:.3f}", refresh=False)))
        pl.DataFrame(history).write_csv(tmp / "train_log.csv")
        loss_curve(history, tmp / "loss.pdf", f"{Path(checkpoints).name}: {cfg.num_layers} layers, "
                                              f"d={cfg.hidden_size}")
