"""Rule count_neurons: one VLM's neuron activation counts on one domain (lmscope.neuron_counts.run)."""
import torch

from lmscope.logs import log_to
from lmscope.neuron_counts import run

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
run(p.model, f"{snakemake.input.samples}/{p.split}.parquet", snakemake.output[0], p.budget, p.device, p.dtype,
    snakemake.wildcards.domain)
