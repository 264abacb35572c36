"""Switching domain-specific neurons off (METHODS B4): VQA accuracy per module group (table 2) and how far the
last layer's hidden states move (table 3), against as many random neurons per layer.

For domain i and a module group — none, vision encoder, projector (LLaVA) or Q-Former (InstructBLIP, both of
its modules), language model, all — domain i's neurons in that group are zeroed on every token, prompt and
generated (the hooks of mlp_neurons), and domain i's validation questions are answered with the paper's
evaluation prompts (prompts, vlm_inputs) and scored with its benchmark's metric (vqa_metrics).

Deviation of one sample: d = ||H_n − H_d|| / ||H_n||, H the last layer's hidden states over the prompt tokens
(no padding: one sample at a time), n without and d with the neurons off; averaged over samples. Random (Avg.)
draws, for every (module, layer), as many neurons as the "all" set has there, uniformly without replacement,
and averages d over the configured seeds.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import torch

from lmscope.atomic import atomic_path
from lmscope.mmneuron import vqa_metrics
from lmscope.mmneuron.judge import Judge
from lmscope.mmneuron.logit_lens import lm_hidden_states
from lmscope.mmneuron.mlp_neurons import GROUP_MODULES, MODULE_NAMES, NeuronHooks
from lmscope.mmneuron.sample_plan import planned
from lmscope.mmneuron.samples import read_rows
from lmscope.mmneuron.vlm_inputs import evaluation_inputs, on_device
from lmscope.models import load_vlm, resolve_device, resolve_dtype
from lmscope.tables import markdown, write_csv, write_markdown

log = logging.getLogger(__name__)

# The rows of tables 2 and 3: nothing off, each module group, everything off, random neurons
GROUP_NAMES = {"none": "None", **{group: MODULE_NAMES[group] for group in GROUP_MODULES}, "all": "All",
               "random": "Random (Avg.)"}

Chosen = dict[str, dict[int, torch.Tensor]]


def modules_of(group: str, present: set[str]) -> tuple[str, ...]:
    """The DAPE modules a group switches off: `all` is every module the model has, `none` nothing."""
    if group == "none":
        return ()
    if group == "all":
        return tuple(sorted(present))
    return tuple(m for m in GROUP_MODULES[group] if m in present)


def chosen_neurons(table: pl.DataFrame, domain: str, group: str) -> Chosen:
    """{module: {layer: neuron ids}} of the neurons DAPE assigned to `domain`, in the group's modules."""
    modules = modules_of(group, set(table["module"].unique()))
    rows = table.filter(pl.col("module").is_in(modules), pl.col("domains").list.contains(domain))
    chosen: Chosen = {}
    # in (module, layer) order: random_like draws in this order, so a seed must always meet the same sequence
    for (module, layer), part in rows.sort("module", "layer").group_by("module", "layer", maintain_order=True):
        chosen.setdefault(module, {})[int(layer)] = torch.tensor(sorted(part["neuron"].to_list()))
    return chosen


def random_like(chosen: Chosen, widths: dict[str, int], rng: np.random.Generator) -> Chosen:
    """As many neurons per (module, layer) as `chosen`, drawn uniformly without replacement from that layer, in
    sorted (module, layer) order so that a seed gives the same neurons however `chosen` was built."""
    return {module: {layer: torch.tensor(np.sort(rng.choice(widths[module], size=len(chosen[module][layer]),
                                                            replace=False)))
                     for layer in sorted(chosen[module])}
            for module in sorted(chosen)}


def size(chosen: Chosen) -> int:
    return sum(len(ids) for layers in chosen.values() for ids in layers.values())


def deviation(h_normal: torch.Tensor, h_deactivated: torch.Tensor) -> float:
    """||H_n − H_d|| / ||H_n|| over all positions and dimensions of one sample."""
    return float(torch.linalg.vector_norm((h_normal - h_deactivated).float())
                 / torch.linalg.vector_norm(h_normal.float()))


@torch.no_grad()
def last_hidden(model, inputs) -> torch.Tensor:
    return lm_hidden_states(model(**inputs, output_hidden_states=True))[-1][0]


@torch.no_grad()
def answer(model, processor, inputs, generation: dict) -> str:
    out = model.generate(**inputs, **generation, pad_token_id=processor.tokenizer.pad_token_id)
    return processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def metric_for(kind: str, domain_metric: str) -> str:
    """Multiple-choice questions are scored by letter whatever the domain's metric."""
    return "choice" if kind == "choice" else domain_metric


def evaluate(model, processor, family: str, rows, dape_table: pl.DataFrame, domain: str, groups: list[str],
             role: str, frames: str, metric: str, generation: dict, seeds: list[int], device: torch.device,
             dtype: torch.dtype, judge=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(answers: id, group, answer, score; summary: group, neurons, score, deviation) over the records of `rows`.
    With a `judge` (judge.Judge), open answers are scored by it instead of `metric`."""
    hooks = NeuronHooks(model)
    widths = {module: int(top) + 1 for module, top in  # neurons per layer of each module
              dape_table.group_by("module").agg(pl.col("neuron").max()).iter_rows()}
    sets = {g: chosen_neurons(dape_table, domain, g) for g in groups}
    everything = chosen_neurons(dape_table, domain, "all")
    randoms = [random_like(everything, widths, np.random.default_rng(seed)) for seed in seeds]
    answers, deviations = [], {g: [] for g in groups}
    random_deviations = []
    try:
        for row in rows:
            inputs = on_device(evaluation_inputs(family, processor, row, role, frames), device, dtype)
            h_normal = last_hidden(model, inputs)
            for group in groups:
                with hooks.deactivated(sets[group]):
                    text = answer(model, processor, inputs, generation)
                    deviations[group].append(deviation(h_normal, last_hidden(model, inputs)))
                if judge is not None and row["kind"] != "choice":
                    score = judge.score(row["question"], row["answers"], text)
                else:
                    score = vqa_metrics.score(metric_for(row["kind"], metric), text, row["answers"],
                                              row["answer_counts"], row["choices"])
                answers.append({"id": row["id"], "group": group, "answer": text, "score": score})
            sample_random = []
            for chosen in randoms:
                with hooks.deactivated(chosen):
                    sample_random.append(deviation(h_normal, last_hidden(model, inputs)))
            random_deviations.append(float(np.mean(sample_random)) if sample_random else 0.0)
    finally:
        hooks.remove()
    answers = pl.DataFrame(answers, schema={"id": pl.String, "group": pl.String, "answer": pl.String,
                                            "score": pl.Float64})
    summary = pl.DataFrame([{"group": g, "neurons": size(sets[g]),
                             "score": float(answers.filter(pl.col("group") == g)["score"].mean()),
                             "deviation": float(np.mean(deviations[g]))} for g in groups]
                           + [{"group": "random", "neurons": size(everything), "score": None,
                               "deviation": float(np.mean(random_deviations))}],
                           schema={"group": pl.String, "neurons": pl.Int64, "score": pl.Float64,
                                   "deviation": pl.Float64})
    return answers, summary


def run_ablation(*, samples: str, dape: str, ablation: str, model: dict, frames: str, groups: list[str], role: str,
                 metric: str, judge: dict | None, generation: dict, seeds: list[int], n_samples: int, seed: int,
                 context_overflow: str, device: str, dtype: str, domain: str, threads: int) -> None:
    """answers.parquet and summary.csv in `ablation`, of one VLM (`model`: {name, path} or {name, repo, revision})
    on `n_samples` validation questions of one domain's samples directory in a seeded order (`seed`), with that
    domain's neurons of `dape` (its dape.parquet) off per module group; open answers scored by `judge` when one
    is given. Every question is checked to fit the context with the answer's max_new_tokens before the model
    is loaded."""
    torch.set_num_threads(threads)
    processor, family, chosen = planned(model, samples, "validation",
                                        partial(evaluation_inputs, role=role, frames=frames), {"samples": n_samples},
                                        domain, context_overflow, seed, generated=generation.get("max_new_tokens", 0))
    if chosen.exhausted:
        log.warning("%s: %d validation questions, fewer than ablation.samples %d", domain, len(chosen.positions),
                    n_samples)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    vlm = load_vlm(model, dev, dt)
    dape_table = pl.read_parquet(dape)
    present = set(dape_table["module"].unique())
    usable = [g for g in groups if g == "none" or modules_of(g, present)]
    if skipped := [g for g in groups if g not in usable]:
        log.info("%s: no %s module in this model, skipped", model["name"], ", ".join(skipped))
    answers, summary = evaluate(vlm, processor, family, read_rows(samples, "validation", chosen.positions),
                                dape_table, domain, usable, role, frames, metric, generation, seeds, dev, dt,
                                Judge(judge, dev) if judge else None)
    log.info("%s %s:\n%s", model["name"], domain, summary)
    with atomic_path(ablation) as tmp:
        Path(tmp).mkdir(parents=True)
        answers.write_parquet(Path(tmp) / "answers.parquet")
        summary.write_csv(Path(tmp) / "summary.csv")


def _wide(summaries: dict[tuple[str, str], pl.DataFrame], value: str, groups: list[str]) -> pl.DataFrame:
    """vlm, module, then one column per domain (in %), rows in `groups` order per VLM."""
    rows = []
    for (vlm, domain), summary in summaries.items():
        for row in summary.iter_rows(named=True):
            if row["group"] in groups and row[value] is not None:
                rows.append({"vlm": vlm, "module": row["group"], "domain": domain, value: 100 * row[value]})
    long = pl.DataFrame(rows)
    wide = long.pivot(on="domain", index=["vlm", "module"], values=value, maintain_order=True)
    order = pl.col("module").replace_strict(groups, list(range(len(groups))))
    vlms = list(dict.fromkeys(v for v, _ in summaries))
    return (wide.sort(pl.col("vlm").replace_strict(vlms, list(range(len(vlms)))), order)
            .with_columns(pl.col("module").replace_strict(GROUP_NAMES)))


def table2(summaries: dict[tuple[str, str], pl.DataFrame]) -> pl.DataFrame:
    """Scores (%) per VLM and module group (rows) and domain (columns): the paper's table 2."""
    return _wide(summaries, "score", ["none", "vision", "projector", "qformer", "lm", "all"])


def table3(summaries: dict[tuple[str, str], pl.DataFrame]) -> pl.DataFrame:
    """Deviation (%) per VLM and module group, Random (Avg.) first: the paper's table 3."""
    return _wide(summaries, "deviation", ["random", "lm", "vision", "projector", "qformer", "all"])


def table_markdown(table: pl.DataFrame, mark: str) -> str:
    """Table 2 (mark="min": the worst score) or 3 ("max": the largest deviation), the extreme of each column in
    bold per VLM, never in the None and Random (Avg.) rows."""
    return markdown(table, mark=mark, labels=2, block="vlm", unmarked=(GROUP_NAMES["none"], GROUP_NAMES["random"]))


def run_tables(*, ablation: list[str], vlms: list[str], domains: list[str], table2_csv: str, table2_md: str,
               table3_csv: str, table3_md: str) -> None:
    """Tables 2 and 3 as CSV and markdown from every (VLM, domain) ablation directory (`ablation` VLM by VLM, each
    in the order of `domains`)."""
    pairs = [(vlm, domain) for vlm in vlms for domain in domains]
    summaries = {pair: pl.read_csv(Path(path) / "summary.csv") for pair, path in zip(pairs, ablation)}
    for frame, csv_path, md_path, mark in ((table2(summaries), table2_csv, table2_md, "min"),
                                           (table3(summaries), table3_csv, table3_md, "max")):
        write_csv(frame, csv_path)
        write_markdown(table_markdown(frame, mark), md_path)
