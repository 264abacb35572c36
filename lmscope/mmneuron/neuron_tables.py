"""Domain-specific neurons of a VLM from its per-domain counts (METHODS B3), and the tables the paper reports:
every neuron with its probabilities and DAPE (dape.parquet), table 1 (neurons per domain and module), the
overlap between domains, and the per-layer counts behind the paper's figure 5. Entry points: run_dape (rule dape)
and run_tables (rule mmneuron_tables).
"""

from __future__ import annotations

import json
import logging

import numpy as np
import polars as pl

from lmscope.atomic import atomic_path
from lmscope.errors import InputError
from lmscope.mmneuron import neuron_counts
from lmscope.mmneuron.dape import probabilities, select
from lmscope.mmneuron.mlp_neurons import MODULE_NAMES
from lmscope.tables import markdown, write_csv, write_markdown

log = logging.getLogger(__name__)


def neuron_table(count_stores: dict[str, str], filter_rate: float, top_rate: float) -> pl.DataFrame:
    """One row per neuron of every module: module, layer, neuron, p_{domain}..., dape, tau, selected, domains."""
    loaded = {d: neuron_counts.read(path) for d, path in count_stores.items()}
    domains = list(loaded)
    groups = sorted(next(iter(loaded.values()))[0], key=lambda g: list(MODULE_NAMES).index(g))
    frames = []
    for group in groups:
        shapes = {d: loaded[d][0][group].shape for d in domains if group in loaded[d][0]}
        if len(shapes) != len(domains) or len(set(shapes.values())) != 1:
            raise InputError(f"module {group}: counts differ in shape or are missing across domains: {shapes}")
        counts = np.stack([loaded[d][0][group] for d in domains])
        tokens = np.array([loaded[d][1]["tokens"][group] for d in domains])
        p = probabilities(counts, tokens)
        entropy, selected, assigned, tau = select(p, filter_rate, top_rate)
        layers, neurons = np.indices(entropy.shape)
        columns = {"module": group, "layer": layers.ravel(), "neuron": neurons.ravel()}
        columns.update({f"p_{d}": p[..., i].ravel() for i, d in enumerate(domains)})
        flat_assigned = assigned.reshape(-1, len(domains))
        columns.update({"dape": entropy.ravel(), "tau": tau, "selected": selected.ravel(),
                        "domains": [[d for d, a in zip(domains, row) if a] for row in flat_assigned]})
        frames.append(pl.DataFrame(columns).with_columns(pl.col("domains").cast(pl.List(pl.String))))
    return pl.concat(frames)


def domains_of(table: pl.DataFrame) -> list[str]:
    return [c.removeprefix("p_") for c in table.columns if c.startswith("p_")]


def table1(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Rows: domains, then the distinct selected neurons; columns: `{vlm} {module}` (paper table 1)."""
    out = None
    for vlm, table in tables.items():
        domains = domains_of(table)
        for module in table["module"].unique(maintain_order=True):
            rows = table.filter(pl.col("module") == module)
            column = [int(rows["domains"].list.contains(d).sum()) for d in domains] + [int(rows["selected"].sum())]
            frame = pl.DataFrame({"domain": domains + ["selected (distinct)"],
                                  f"{vlm} {MODULE_NAMES.get(module, module)}": column})
            out = frame if out is None else out.join(frame, on="domain", how="full", coalesce=True,
                                                     maintain_order="left")
    return out


def overlap(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """vlm, module, domain, other, shared: selected neurons assigned to both (the diagonal: to the domain)."""
    rows = []
    for vlm, table in tables.items():
        domains = domains_of(table)
        for module in table["module"].unique(maintain_order=True):
            assigned = table.filter(pl.col("module") == module, pl.col("selected"))["domains"].to_list()
            for a in domains:
                for b in domains:
                    rows.append({"vlm": vlm, "module": MODULE_NAMES.get(module, module), "domain": a, "other": b,
                                 "shared": sum(a in s and b in s for s in assigned)})
    return pl.DataFrame(rows)


def by_layer(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """vlm, module, layer, domain, neurons: domain-specific neurons per layer (paper figure 5), in table order:
    VLMs and domains as configured, modules from vision to language model."""
    frames = []
    for vlm, table in tables.items():
        for domain in domains_of(table):
            frames.append(table.group_by("module", "layer", maintain_order=True)
                          .agg(neurons=pl.col("domains").list.contains(domain).sum().cast(pl.Int64))
                          .with_columns(vlm=pl.lit(vlm), domain=pl.lit(domain)))
    out = pl.concat(frames).select("vlm", "module", "layer", "domain", "neurons")
    rank = {"vlm": list(tables), "module": list(MODULE_NAMES), "domain": domains_of(next(iter(tables.values())))}
    keys = [pl.col(c).replace_strict(order, list(range(len(order))), default=len(order)) for c, order in rank.items()]
    return out.sort(keys[0], keys[1], "layer", keys[2], maintain_order=True)


def table1_markdown(table: pl.DataFrame) -> str:
    """Bold: the domain with the most neurons in each module, as the paper marks it."""
    return markdown(table, mark="max", unmarked=("selected (distinct)",))


def overlap_markdown(table: pl.DataFrame) -> str:
    """One domain x domain matrix per VLM and module."""
    parts = []
    for (vlm, module), rows in table.group_by("vlm", "module", maintain_order=True):
        wide = rows.pivot(on="other", index="domain", values="shared")
        parts.append(f"### {vlm} {module}\n\n" + markdown(wide))
    return "\n".join(parts)



def counts_summary(count_stores: dict[str, str]) -> pl.DataFrame:
    """One row per domain: what its counts rest on (samples, candidates, positions per module, the budget) and
    whether the domain ran out of samples before the budget."""
    rows = []
    for domain, path in count_stores.items():
        attrs = neuron_counts.read_attrs(path)
        rows.append({"domain": domain, "samples": attrs["samples"], "candidates": attrs.get("candidates"),
                     "too_long": attrs.get("too_long", 0), "lm_tokens": attrs["tokens"].get("lm"),
                     "vision_tokens": attrs["tokens"].get("vision"), "budget": json.dumps(attrs["budget"]),
                     "exhausted": attrs["exhausted"]})
    return pl.DataFrame(rows)


def read_tables(dape: dict[str, str]) -> dict[str, pl.DataFrame]:
    """{vlm: its dape.parquet read} from {vlm: path}, in that order."""
    return {vlm: pl.read_parquet(path) for vlm, path in dape.items()}


def run_dape(*, counts: dict[str, str], dape: str, summary: str, filter_rate: float, top_rate: float) -> None:
    """Rule dape: dape.parquet of one VLM from its counts.zarr per domain ({domain: path}, in config order), and
    the counts' summary (CSV), which names a domain that ran out before its budget."""
    table = neuron_table(counts, filter_rate, top_rate)
    with atomic_path(dape) as tmp:
        table.write_parquet(tmp)
    short = counts_summary(counts)
    write_csv(short, summary)
    for domain in short.filter(pl.col("exhausted"))["domain"]:
        log.warning("domain %s ran out of samples before its budget: its counts rest on fewer samples (%s)", domain,
                    summary)


def run_tables(*, dape: dict[str, str], table1_csv: str, table1_md: str, overlap_csv: str, overlap_md: str) -> None:
    """Rule mmneuron_tables: table 1 and the overlap between domains, as CSV and markdown, from every VLM's
    dape.parquet ({vlm: path}, in config order)."""
    tables = read_tables(dape)
    counts = table1(tables)
    write_csv(counts, table1_csv)
    write_markdown(table1_markdown(counts), table1_md)
    shared = overlap(tables)
    write_csv(shared, overlap_csv)
    write_markdown(overlap_markdown(shared), overlap_md)
