"""Rule language_tendency: the 90% rule per feature and the checkpoint's tally (lmscope.sae_checkpoints.language)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.language import run

log_to(snakemake.log[0])
run(
    contexts=snakemake.input.contexts,
    features=snakemake.input.features,
    documents=snakemake.input.documents,
    tokens=snakemake.input.tokens,
    language=snakemake.output.language,
    tally_csv=snakemake.output.tally_csv,
    threshold=snakemake.params.threshold,
    strict=snakemake.params.strict,
    by=snakemake.params.by,
    tokenizer=snakemake.params.tokenizer,
    ckpt=snakemake.wildcards.ckpt,
)
