"""Rules fig3 / fig6: example features with highlighted texts at three checkpoints
(lmscope.sae_checkpoints.feature_cards)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.feature_cards import run

log_to(snakemake.log[0])
run(
    contexts=snakemake.input.contexts,
    features=snakemake.input.features,
    language=snakemake.input.language,
    granularity=snakemake.input.granularity,
    documents=snakemake.input.documents,
    tokens=snakemake.input.tokens,
    html_page=snakemake.output.html_page,
    pdf=snakemake.output.pdf,
    csv=snakemake.output.csv,
    stages=snakemake.params.stages,
    n_features=snakemake.params.n_features,
    texts=snakemake.params.texts,
    seed=snakemake.params.seed,
    pinned=snakemake.params.pinned,
    tokenizer=snakemake.params.tokenizer,
    fig=snakemake.wildcards.fig,
)
