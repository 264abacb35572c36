"""Which samples a stage runs on, decided before any model runs: a seeded order over a split, a budget, and every
chosen sample's length checked against the model's context.

A stage (counting, ablation, the lens) builds each candidate's inputs with the processor alone, in the seeded
order, and stops once the budget is met:

    {samples: N}                 N samples (the reference: 10K image-question pairs per domain, both models)
    {tokens: N, module: lm}      as many samples as fit in N positions of the language model (image + text)
    {tokens: N, module: vision}  ... of the vision encoder (every crop LLaVA-NeXT makes counts)

A sample whose language-model positions (plus the tokens to be generated) exceed the model's
max_position_embeddings stops the run with its domain, id and both numbers, or is skipped and counted
(`context_overflow: skip`). A split that runs out before the budget is reported as exhausted, never silently
short.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from lmscope.errors import InputError
from lmscope.mmneuron.config_checks import BUDGET_MODULES
from lmscope.mmneuron.samples import read_index, read_rows, seeded_order
from lmscope.models import load_processor, vlm_config

log = logging.getLogger(__name__)

OVERFLOW = ("stop", "skip")


@dataclass
class Plan:
    """The chosen samples (positions in the split, in run order) and what they add up to."""

    positions: list[int] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUDGET_MODULES, 0))
    too_long: list[str] = field(default_factory=list)  # ids skipped by context_overflow: skip
    candidates: int = 0  # samples in the order (one per image with distinct_images)
    exhausted: bool = False  # the order ran out before the budget was met


def context_limit(config) -> int:
    """The language model's positions: text_config.max_position_embeddings (the config itself for a text LM)."""
    text = getattr(config, "text_config", None) or config
    return int(text.max_position_embeddings)


def module_tokens(config, inputs) -> dict[str, int]:
    """Positions each module sees for one prompt: the language model's input ids (image tokens included: the
    processors expand them), and the vision encoder's patches plus class token per crop or image."""
    vision = getattr(config, "vision_config", None)
    pixels = inputs.get("pixel_values")
    if vision is None or pixels is None:
        return {"lm": int(inputs["input_ids"].shape[1]), "vision": 0}
    crops = math.prod(pixels.shape[:-3])
    patch = vision.patch_size
    per_crop = (pixels.shape[-2] // patch) * (pixels.shape[-1] // patch) + 1
    return {"lm": int(inputs["input_ids"].shape[1]), "vision": crops * per_crop}


def planned(model: dict, samples: str, split: str, inputs: Callable[[str, object, dict], dict], budget: dict,
            domain: str, overflow: str = "stop", seed: int = 0, distinct_images: bool = False, generated: int = 0):
    """(processor, family, Plan) of a stage: the VLM's config and processor, without its weights, and the samples
    it runs on as `plan` chooses them; `inputs(family, processor, row)` builds a record's model inputs (the
    identification or the evaluation prompt)."""
    config = vlm_config(model)
    family = config.model_type
    processor = load_processor(model, family)
    chosen = plan(samples, split, lambda row: inputs(family, processor, row), config, budget, domain, overflow,
                  seed, distinct_images, generated)
    return processor, family, chosen


def plan(samples: str, split: str, build: Callable[[dict], dict], config, budget: dict, domain: str,
         overflow: str = "stop", seed: int = 0, distinct_images: bool = False, generated: int = 0) -> Plan:
    """The samples of `split` a stage runs on: the seeded order (one question per image with `distinct_images`)
    taken until `budget` is met ({samples: N} or {tokens: N, module}, as config_checks.budget_of gives it), each
    checked to fit the context with `generated` tokens to spare; `build` turns a record into the processor's
    inputs."""
    if overflow not in OVERFLOW:
        raise InputError(f"config key context_overflow: {overflow!r}, not one of {', '.join(OVERFLOW)}")
    index = read_index(samples, split)
    order = seeded_order(index, seed, distinct_images)
    limit = context_limit(config)
    result = Plan(candidates=len(order), exhausted=True)
    for position, row in zip(order, read_rows(samples, split, order, index)):
        tokens = module_tokens(config, build(row))
        needed = tokens["lm"] + generated
        if needed > limit:
            what = (f"domain {domain}: sample {row['id']} needs {needed} language-model positions "
                    f"({tokens['lm']} prompt" + (f" + {generated} generated" if generated else "") +
                    f"), more than the model's max_position_embeddings {limit}")
            if overflow == "stop":
                raise InputError(f"{what}. Show its frames as one image (vlms[].frames: tile), or set "
                                 f"context_overflow: skip to skip and count such samples")
            log.warning("%s: skipped", what)
            result.too_long.append(row["id"])
            continue
        if "samples" in budget:
            full = len(result.positions) >= budget["samples"]
        else:
            full = result.tokens[budget["module"]] + tokens[budget["module"]] > budget["tokens"]
        if full:
            result.exhausted = False
            break
        result.positions.append(position)
        for module in BUDGET_MODULES:
            result.tokens[module] += tokens[module]
    if not result.positions:
        raise InputError(f"domain {domain}: no {split} sample fits the budget {budget} and the context "
                         f"({len(result.too_long)} too long of {result.candidates})")
    if result.too_long:
        log.warning("domain %s: %d of %d %s samples skipped as too long for the context", domain,
                    len(result.too_long), result.candidates, split)
    return result
