"""Rule granularity_sheet: the sampled features of a checkpoint as a sheet to label (lmscope.labelling.run)."""
from lmscope.labelling import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
run(i.language, i.features, i.contexts, i.documents, i.tokens, p.tokenizer, o.csv, o.html, snakemake.wildcards.ckpt,
    p.n_features, p.min_texts, p.seed, p.texts_shown)
