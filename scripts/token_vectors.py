"""Rule token_vectors: the final checkpoint's vector of each unit of text (lmscope.sae_checkpoints.token_vectors)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.token_vectors import run

log_to(snakemake.log[0])
run(
    test=snakemake.input.test,
    tokens=snakemake.input.tokens,
    vectors=snakemake.output.vectors,
    max_docs=snakemake.params.max_docs,
    seed=snakemake.params.seed,
    tokenizer=snakemake.params.tokenizer,
)
