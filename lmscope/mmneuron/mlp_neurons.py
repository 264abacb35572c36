"""MLP neurons of (vision-)language models: where they are, how often they fire, and switching them off
(METHODS B1, B2, B4).

A neuron is one output of an MLP's activation function: Llama `act_fn(gate_proj(x))`, CLIP
`activation_fn(fc1(x))`, the LLaVA projector's `act(linear_1(x))`, InstructBLIP's Q-Former
`intermediate_act_fn(dense(x))` (in `intermediate` and in `intermediate_query`, kept apart), OPT's and GPT-NeoX's
activation modules. They are found by type — every module of `transformers.activations` or
`torch.nn.modules.activation` — so a new architecture needs no list of names; only the grouping into the
paper's modules (vision encoder, projector or Q-Former, language model) reads the model's component attributes.

One forward hook per activation module does both jobs: it zeroes the chosen neurons of that layer (ablation)
and counts, per neuron, the positions where the value is > 0 and how many positions the module saw.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import torch

from lmscope.errors import InputError

ACTIVATION_MODULES = ("transformers.activations", "torch.nn.modules.activation")
# The modules a VLM's neurons are grouped in (Site.group, the `module` of the DAPE tables), from image to text, with
# the names the paper's tables and figures give them.
MODULE_NAMES = {"vision": "Vision Encoder", "projector": "MLP Projector", "qformer": "Q-Former",
                "qformer_query": "Q-Former (query)", "lm": "LLM"}
# The module groups switched off together (METHODS B4): a group is named as its first module, and the Q-Former's
# two MLPs (intermediate and intermediate_query) are one group.
GROUP_MODULES = {"vision": ("vision",), "projector": ("projector",), "qformer": ("qformer", "qformer_query"),
                 "lm": ("lm",)}
# model attribute -> group; searched on the model and on its `.model` (transformers 5 wraps the parts there)
COMPONENTS = (("vision_tower", "vision"), ("vision_model", "vision"), ("multi_modal_projector", "projector"),
              ("qformer", "qformer"), ("language_model", "lm"))


@dataclass(frozen=True)
class Site:
    """One activation module: its group (vision, projector, qformer, qformer_query, lm), layer and path."""

    group: str
    layer: int
    path: str


def _is_activation(module: torch.nn.Module) -> bool:
    return type(module).__module__ in ACTIVATION_MODULES


def _components(model: torch.nn.Module) -> list[tuple[str, str]]:
    """(path prefix, group) of the model's parts; a text-only model is all language model."""
    found = []
    for owner_path, owner in (("", model), ("model.", getattr(model, "model", None))):
        if owner is None:
            continue
        for attr, group in COMPONENTS:
            if isinstance(getattr(owner, attr, None), torch.nn.Module):
                found.append((f"{owner_path}{attr}.", group))
    return found or [("", "lm")]


def find_sites(model: torch.nn.Module) -> list[Site]:
    """Every activation module, grouped and numbered by layer (the first number in its path within its part;
    0 for a part without layers, like the projector), in module order."""
    parts = _components(model)
    sites = []
    for path, module in model.named_modules():
        if not _is_activation(module):
            continue
        prefix, group = next(((p, g) for p, g in parts if path.startswith(p)), (None, None))
        if group is None:
            continue  # an activation outside the studied parts
        inner = path[len(prefix):]
        if group == "qformer" and ".intermediate_query." in f".{inner}":
            group = "qformer_query"
        number = re.search(r"(?:^|\.)(\d+)\.", inner)
        sites.append(Site(group, int(number.group(1)) if number else 0, path))
    return sites


class NeuronHooks:
    """Counting and deactivation hooks on a model's activation modules.

    with hooks.counting():                  # accumulate hooks.counts[group][layer] and hooks.tokens[group]
        model(**inputs)
    with hooks.deactivated({"lm": {3: torch.tensor([5, 17])}}):   # zero neurons 5 and 17 of lm layer 3
        model.generate(**inputs)

    Counts include every position a module sees, so feed unpadded inputs (one sample at a time)."""

    def __init__(self, model: torch.nn.Module, sites: list[Site] | None = None):
        self.model = model
        self.sites = sites if sites is not None else find_sites(model)
        self.counts: dict[str, dict[int, torch.Tensor]] = {}
        self.tokens: dict[str, int] = {}
        self._counting = False
        self._zero: dict[tuple[str, int], torch.Tensor] = {}
        modules = dict(model.named_modules())
        self._handles = [modules[s.path].register_forward_hook(self._hook(s)) for s in self.sites]

    def _hook(self, site: Site):
        def hook(module, inputs, output):
            zero = self._zero.get((site.group, site.layer))
            if zero is not None:
                output = output.clone()
                output[..., zero.to(output.device)] = 0
            if self._counting:
                fired = (output > 0).reshape(-1, output.shape[-1]).sum(0).to("cpu", torch.int64)
                layers = self.counts.setdefault(site.group, {})
                layers[site.layer] = layers[site.layer] + fired if site.layer in layers else fired
                if site.layer == min(s.layer for s in self.sites if s.group == site.group):
                    self.tokens[site.group] = self.tokens.get(site.group, 0) + output[..., 0].numel()
            return output
        return hook

    @contextlib.contextmanager
    def counting(self):
        self._counting = True
        try:
            yield self
        finally:
            self._counting = False

    @contextlib.contextmanager
    def deactivated(self, chosen: dict[str, dict[int, torch.Tensor]]):
        unknown = {(g, layer) for g, layers in chosen.items() for layer in layers} - {(s.group, s.layer)
                                                                                      for s in self.sites}
        if unknown:
            raise InputError(f"no activation module at (group, layer) {sorted(unknown)}")
        self._zero = {(g, layer): torch.as_tensor(idx, dtype=torch.long)
                      for g, layers in chosen.items() for layer, idx in layers.items() if len(idx)}
        try:
            yield self
        finally:
            self._zero = {}

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
