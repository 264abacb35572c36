"""Rule corpus_tokens: BOS + first tokens, 1:1 balance, aligned labels (lmscope.sae_checkpoints.corpus)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.corpus import run_tokens

log_to(snakemake.log[0])
run_tokens(
    sources=snakemake.input.sources,
    spans=snakemake.input.spans,
    documents=snakemake.output.documents,
    tokens=snakemake.output.tokens,
    concepts=snakemake.output.concepts,
    stats=snakemake.output.stats,
    tokenizer=snakemake.params.tokenizer,
    bos_token_id=snakemake.params.bos_token_id,
    tokens_per_doc=snakemake.params.tokens_per_doc,
    languages=snakemake.params.languages,
    balance=snakemake.params.balance,
    seed=snakemake.params.seed,
    key=snakemake.params.key,
)
