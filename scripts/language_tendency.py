"""Rule language_tendency: the 90% rule per feature and the checkpoint's tally (lmscope.language.run)."""
from lmscope.language import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
run(i.contexts, i.features, i.documents, o.table, o.tally, snakemake.wildcards.ckpt, threshold=p.threshold,
    by=p.by, tokens_path=i.tokens, tokenizer_source=p.tokenizer)
