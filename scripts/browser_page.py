"""Rule browser_page: one checkpoint's feature browser page (lmscope.browser.run_checkpoint)."""
from lmscope.browser import run_checkpoint
from lmscope.logs import log_to

log_to(snakemake.log[0])
i, p, w = snakemake.input, snakemake.params, snakemake.wildcards
run_checkpoint(i.contexts, i.features, i.language, i.documents, i.tokens, p.tokenizer, snakemake.output[0], w.model,
               w.ckpt, p.texts_per_feature, i.granularity)
