"""The embedded VLM: a tiny LLaVA (CLIP vision tower, projector, Llama) trained here on the synthetic domains.

No hub model can be downloaded here, so branch B gets a model of the paper's architecture, small enough to train
on a CPU in minutes: a word-level tokenizer over the prompts' words, LLaVA's own processor (PIL CLIP image
processor), and LlavaForConditionalGeneration. It learns to answer with the evaluation prompts of the paper's
table 5 (lmscope.mmneuron.prompts); the loss is on the answer tokens only. Training stops once every domain's validation
accuracy beats the question-prior baseline (the train split's most frequent answer to the same question) by the
configured margin, or at the step limit. The result is saved with save_pretrained, model and processor in one
directory, and loaded back with from_pretrained exactly like a hub checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

from lmscope.atomic import atomic_path
from lmscope.mmneuron import prompts
from lmscope.mmneuron.samples import read_split
from lmscope.mmneuron.vlm_inputs import evaluation_inputs
from lmscope.tokenizer import SPECIAL_TOKENS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TinyVLMConfig:
    image_size: int = 48
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_intermediate: int = 256
    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 512
    batch_size: int = 32
    max_steps: int = 3000
    lr: float = 1e-3
    warmup_steps: int = 100
    eval_every: int = 250
    eval_samples: int = 200  # validation questions per domain
    margin: float = 0.15  # stop when every domain beats its question-prior baseline by this much
    max_new_tokens: int = 3
    seed: int = 0


def build_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Word-level: every word and punctuation mark of the prompts and answers is one token; `<image>` is special."""
    words = sorted({w for t in texts for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(t)})
    specials = [*SPECIAL_TOKENS.values(), prompts.IMAGE]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(specials + words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", specials.index("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, extra_special_tokens={"image_token": prompts.IMAGE},
                                   **SPECIAL_TOKENS)


def build(cfg: TinyVLMConfig, tokenizer: PreTrainedTokenizerFast) -> tuple[LlavaForConditionalGeneration,
                                                                         LlavaProcessor]:
    image_processor = CLIPImageProcessorPil(size={"shortest_edge": cfg.image_size},
                                            crop_size={"height": cfg.image_size, "width": cfg.image_size})
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=cfg.patch_size,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=cfg.vision_hidden, intermediate_size=cfg.vision_intermediate,
                              num_hidden_layers=cfg.vision_layers, num_attention_heads=4, image_size=cfg.image_size,
                              patch_size=cfg.patch_size)
    text = LlamaConfig(hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                       num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                       num_key_value_heads=cfg.num_heads, vocab_size=len(tokenizer),
                       max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids(prompts.IMAGE),
                         vision_feature_layer=-1, vision_feature_select_strategy="default")
    return LlavaForConditionalGeneration(config), processor


@dataclass
class Encoded:
    """One question, ready for the model: prompt ids, answer ids, its images as pixels."""

    domain: str
    prompt: list[int]
    answer: list[int]
    pixels: torch.Tensor  # [frames, 3, H, W]
    answers: list[str]
    question: str


def encode(table: pl.DataFrame, processor: LlavaProcessor, role: dict[str, str], frames: str) -> list[Encoded]:
    """Every question with the evaluation prompt, its frames shown as `frames` says (vlm_inputs)."""
    out = []
    tokenizer = processor.tokenizer
    for row in table.iter_rows(named=True):
        batch = evaluation_inputs("llava", processor, row, role.get(row["domain"], ""), frames)
        answer = tokenizer(row["answers"][0], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        out.append(Encoded(row["domain"], batch["input_ids"][0].tolist(), answer, batch["pixel_values"],
                           row["answers"], row["question"]))
    return out


def collate(items: list[Encoded], pad: int, with_answers: bool) -> dict[str, torch.Tensor]:
    """Training batches pad on the right with the loss on answers only; generation batches pad on the left."""
    seqs = [e.prompt + e.answer if with_answers else e.prompt for e in items]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(items), width), pad)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100)
    for i, (e, s) in enumerate(zip(items, seqs)):
        if with_answers:
            ids[i, :len(s)], mask[i, :len(s)] = torch.tensor(s), 1
            labels[i, len(e.prompt):len(s)] = torch.tensor(e.answer)
        else:
            ids[i, width - len(s):], mask[i, width - len(s):] = torch.tensor(s), 1
    batch = {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.cat([e.pixels for e in items])}
    if with_answers:
        batch["labels"] = labels
    return batch


@torch.no_grad()
def answer(model, processor, items: list[Encoded], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """Greedy answers to encoded questions."""
    model.eval()
    out = []
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        batch = collate(chunk, processor.tokenizer.pad_token_id, with_answers=False)
        generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                   pad_token_id=processor.tokenizer.pad_token_id)
        out += [t.strip() for t in processor.tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:],
                                                                      skip_special_tokens=True)]
    return out


def prior_baseline(train: list[Encoded], items: list[Encoded]) -> list[str]:
    """The train split's most frequent answer to the same question: what a model blind to the image can do."""
    by_question = defaultdict(Counter)
    for e in train:
        by_question[e.question][e.answers[0]] += 1
    overall = Counter(e.answers[0] for e in train).most_common(1)[0][0]
    return [by_question[e.question].most_common(1)[0][0] if e.question in by_question else overall for e in items]


def accuracy_by_domain(items: list[Encoded], predicted: list[str]) -> dict[str, float]:
    hits = defaultdict(list)
    for e, p in zip(items, predicted):
        hits[e.domain].append(p.lower() in {a.lower() for a in e.answers})
    return {d: sum(h) / len(h) for d, h in hits.items()}


def fit(model, processor, train_items: list[Encoded], val_items: list[Encoded], cfg: TinyVLMConfig) -> dict:
    """AdamW with linear warm-up and cosine decay over max_steps; evaluation every eval_every steps."""
    rng = random.Random(cfg.seed)
    baseline = accuracy_by_domain(val_items, prior_baseline(train_items, val_items))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    pad = processor.tokenizer.pad_token_id
    history, losses = [], []
    for step in range(1, cfg.max_steps + 1):
        model.train()
        progress = max(0.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * min(1.0, step / cfg.warmup_steps) * 0.5 * (1 + math.cos(math.pi * progress))
        loss = model(**collate(rng.sample(train_items, cfg.batch_size), pad, with_answers=True)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            acc = accuracy_by_domain(val_items, answer(model, processor, val_items, cfg.max_new_tokens))
            history.append({"step": step, "loss": sum(losses) / len(losses), "accuracy": acc})
            log.info("step %d: train loss %.3f, validation accuracy %s", step, history[-1]["loss"],
                     {d: round(a, 3) for d, a in acc.items()})
            losses = []
            if all(acc[d] >= baseline[d] + cfg.margin for d in acc):
                break
    return {"baseline": baseline, "history": history, "steps": history[-1]["step"],
            "accuracy": history[-1]["accuracy"],
            "above_baseline": all(history[-1]["accuracy"][d] >= baseline[d] + cfg.margin for d in baseline)}


def uniform_chance(train_items: list[Encoded], items: list[Encoded]) -> dict[str, float]:
    """Guessing uniformly among the answers the train split gives to the same question (options for choice)."""
    answers = defaultdict(set)
    for e in train_items:
        answers[e.question].add(e.answers[0])
    by_domain = defaultdict(list)
    for e in items:
        by_domain[e.domain].append(1 / max(1, len(answers[e.question])))
    return {d: sum(v) / len(v) for d, v in by_domain.items()}


def run(*, samples: list[str], model: str, train: dict, frames: str, roles: dict[str, str], threads: int) -> dict:
    """Train on the train split of every domain's samples directory (in the order of `samples`), validate on the
    first eval_samples of each validation split, and save model + processor + accuracy.json into `model`.
    `train`: the vlms.train config block; `frames`: how several frames are shown (vlm_inputs); `roles`: each
    domain's role text; `threads`: torch's threads."""
    torch.set_num_threads(threads)
    cfg = TinyVLMConfig(**train)
    torch.manual_seed(cfg.seed)
    train_df = pl.concat([read_split(d, "train") for d in samples])
    val_df = pl.concat([read_split(d, "validation").head(cfg.eval_samples) for d in samples])
    texts = []
    for row in pl.concat([train_df, val_df]).iter_rows(named=True):
        texts += [prompts.evaluation("llava", row["question"], row["choices"], roles.get(row["domain"], "")),
                  prompts.identification(row["question"]), *row["answers"]]
    tokenizer = build_tokenizer(texts)
    vlm, processor = build(cfg, tokenizer)
    log.info("tiny LLaVA: %d parameters, vocabulary %d", sum(p.numel() for p in vlm.parameters()), len(tokenizer))
    train_items, val_items = encode(train_df, processor, roles, frames), encode(val_df, processor, roles, frames)
    result = fit(vlm, processor, train_items, val_items, cfg)
    result["chance"] = uniform_chance(train_items, val_items)
    result["validation_samples"] = dict(Counter(e.domain for e in val_items))
    if not result["above_baseline"]:
        log.warning("tiny LLaVA stopped at step %d without beating the question-prior baseline by %.2f in every "
                    "domain: %s vs %s", result["steps"], cfg.margin, result["accuracy"], result["baseline"])
    with atomic_path(model) as tmp:
        vlm.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (Path(tmp) / "accuracy.json").write_text(json.dumps(result, indent=1))
    return result
