"""Rule corpus_tokenizer: a byte-level BPE on the training split (lmscope.sae_checkpoints.corpus)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.corpus import run_tokenizer

log_to(snakemake.log[0])
run_tokenizer(
    sources=snakemake.input.sources,
    tokenizer=snakemake.output.tokenizer,
    vocab_size=snakemake.params.vocab_size,
    min_frequency=snakemake.params.min_frequency,
)
