"""Rule sae_sweep: one (n/d, K) point of fig2, metrics only (lmscope.sae_train.run)."""
import torch

from lmscope.logs import log_to
from lmscope.sae_train import run

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
i, p = snakemake.input, snakemake.params
run(i.train, i.validation, i.test, snakemake.output[0], p.state, p.train, p.device, metrics_only=True)
