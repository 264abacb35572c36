"""Rule train_tinylm: a small Llama with checkpoints at the configured steps (lmscope.sae_checkpoints.tinylm)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.tinylm import run

log_to(snakemake.log[0])
run(
    documents=snakemake.input.documents,
    checkpoints=snakemake.output.checkpoints,
    train=snakemake.params.train,
    steps=snakemake.params.steps,
    tokenizer=snakemake.params.tokenizer,
    bos_token_id=snakemake.params.bos_token_id,
    key=snakemake.params.key,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
