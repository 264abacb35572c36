"""Rule browser_page: one checkpoint's feature browser page (lmscope.sae_checkpoints.browser)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.browser import run_page

log_to(snakemake.log[0])
run_page(
    contexts=snakemake.input.contexts,
    features=snakemake.input.features,
    language=snakemake.input.language,
    granularity=snakemake.input.granularity,
    documents=snakemake.input.documents,
    tokens=snakemake.input.tokens,
    page=snakemake.output.page,
    shards=snakemake.output.shards,
    texts_per_feature=snakemake.params.texts_per_feature,
    tokenizer=snakemake.params.tokenizer,
    model=snakemake.wildcards.model,
    ckpt=snakemake.wildcards.ckpt,
    previous_matches=list(snakemake.input.previous_matches),
    next_matches=list(snakemake.input.next_matches),
    neighbours=snakemake.params.neighbours,
)
