"""Rule train_tinylm: a small Llama with checkpoints at the configured steps (lmscope.tinylm.run)."""
import torch

from lmscope.logs import log_to
from lmscope.tinylm import run

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run(snakemake.input.documents, snakemake.params.tokenizer, snakemake.output[0], snakemake.params.train,
    snakemake.params.steps, snakemake.params.device, snakemake.params.bos_token_id, snakemake.params.key)
