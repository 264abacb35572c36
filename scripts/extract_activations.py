"""Rule extract_activations: one layer of one checkpoint on every split (lmscope.activations.run)."""
import torch

from lmscope.activations import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p, out = snakemake.params, snakemake.output
stores = {split: out[split] for split in ("train", "validation", "test")}
run(snakemake.input.tokens, stores, p.checkpoint, p.layer, out.throughput,
    device=p.device, dtype=p.dtype, normalize=p.normalize, store_dtype=p.store_dtype,
    compression=p.compression, batch_size=p.batch_size,
    model_name=snakemake.wildcards.model, corpus=p.corpus, key=p.key)
