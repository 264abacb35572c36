"""Rule granularity_sheet: the sampled features of a checkpoint as a sheet to label
(lmscope.sae_checkpoints.labelling)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.labelling import run

log_to(snakemake.log[0])
run(
    language=snakemake.input.language,
    features=snakemake.input.features,
    contexts=snakemake.input.contexts,
    documents=snakemake.input.documents,
    tokens=snakemake.input.tokens,
    sheet=snakemake.output.sheet,
    page=snakemake.output.page,
    n_features=snakemake.params.n_features,
    min_texts=snakemake.params.min_texts,
    seed=snakemake.params.seed,
    texts_shown=snakemake.params.texts_shown,
    tokenizer=snakemake.params.tokenizer,
    ckpt=snakemake.wildcards.ckpt,
)
