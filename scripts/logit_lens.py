"""Rule logit_lens: one VLM on one domain's validation questions (lmscope.lens.run)."""
import torch

from lmscope.lens import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
run(p.model, f"{snakemake.input.samples}/validation.parquet", snakemake.output[0], p.role, p.samples, p.layers,
    p.top_k, p.device, p.dtype)
