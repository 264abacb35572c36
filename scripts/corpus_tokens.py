"""Rule corpus_tokens: BOS + first tokens, 1:1 balance, aligned labels (lmscope.corpus.tokenize)."""
from lmscope.corpus import tokenize
from lmscope.logs import log_to

log_to(snakemake.log[0])
p, out = snakemake.params, snakemake.output
tokenize(snakemake.input.documents, snakemake.input.spans, p.tokenizer, p.bos_token_id, p.tokens_per_doc,
         p.languages, p.balance, p.seed, p.key, out.documents, out.tokens, out.concepts, out.stats)
