"""Rule token_vectors: the final checkpoint's vector of each unit of text (lmscope.token_vectors.run)."""
from lmscope.logs import log_to
from lmscope.token_vectors import run

log_to(snakemake.log[0])
i, p = snakemake.input, snakemake.params
run(i.test, i.tokens, p.tokenizer, snakemake.output[0], p.max_docs)
