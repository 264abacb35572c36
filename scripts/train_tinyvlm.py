"""Rule train_tinyvlm: the tiny LLaVA on every domain's synthetic train split (lmscope.tinyvlm.run)."""
import torch

from lmscope.logs import log_to
from lmscope.tinyvlm import run

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
samples = {domain: snakemake.input[domain] for domain in snakemake.params.roles}
run({d: f"{p}/train.parquet" for d, p in samples.items()}, {d: f"{p}/validation.parquet" for d, p in samples.items()},
    snakemake.output[0], snakemake.params.train, snakemake.params.roles)
