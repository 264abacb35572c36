"""Rule top_contexts: each feature's texts on the test split, top or threshold (lmscope.sae_checkpoints.top_texts)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.top_texts import run

log_to(snakemake.log[0])
run(
    sae=snakemake.input.sae,
    test=snakemake.input.test,
    contexts=snakemake.output.contexts,
    features=snakemake.output.features,
    top_n=snakemake.params.top_n,
    batch_docs=snakemake.params.batch_docs,
    selection=snakemake.params.selection,
    threshold=snakemake.params.threshold,
    seed=snakemake.params.seed,
    device=snakemake.params.device,
    threads=snakemake.threads,
)
