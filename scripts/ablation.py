"""Rule ablation: one VLM on one domain's validation questions with its neurons off (lmscope.ablation.run)."""
import torch

from lmscope.ablation import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
run(p.model, f"{snakemake.input.samples}/validation.parquet", snakemake.input.dape, snakemake.output[0],
    snakemake.wildcards.domain, p.groups, p.role, p.metric, p.generation, p.seeds, p.samples, p.device, p.dtype,
    p.judge)
