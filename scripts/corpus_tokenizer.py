"""Rule corpus_tokenizer: a byte-level BPE on the training split (lmscope.corpus.train_tokenizer)."""
from lmscope.corpus import train_tokenizer
from lmscope.logs import log_to

log_to(snakemake.log[0])
train_tokenizer(snakemake.input.documents, snakemake.output[0], snakemake.params.vocab_size,
                snakemake.params.min_frequency)
