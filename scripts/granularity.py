"""Rule granularity: classifier, planted truth and people's labels of one checkpoint
(lmscope.sae_checkpoints.granularity_table)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.granularity_table import run

log_to(snakemake.log[0])
run(
    sheet=snakemake.input.sheet,
    contexts=snakemake.input.contexts,
    tokens=snakemake.input.tokens,
    concepts=snakemake.input.concepts,
    vectors=snakemake.input.vectors,
    people=snakemake.input.get("people"),
    granularity=snakemake.output.granularity,
    token_share=snakemake.params.token_share,
    related_percentile=snakemake.params.related_percentile,
    truth_share=snakemake.params.truth_share,
    seed=snakemake.params.seed,
    tokenizer=snakemake.params.tokenizer,
)
