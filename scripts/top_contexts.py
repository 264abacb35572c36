"""Rule top_contexts: each feature's top texts on the test split (lmscope.features.run)."""
import torch

from lmscope.features import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p = snakemake.params
run(snakemake.input.sae, snakemake.input.test, snakemake.output.contexts, snakemake.output.features,
    top_n=p.top_n, batch_docs=p.batch_docs, device=p.device)
