"""Rule corpus_documents: read the sources, split by document (lmscope.sae_checkpoints.corpus)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.corpus import run_documents

log_to(snakemake.log[0])
run_documents(
    sources=snakemake.params.sources,
    languages=snakemake.params.languages,
    max_chars=snakemake.params.max_chars,
    split=snakemake.params.split,
    seed=snakemake.params.seed,
    key=snakemake.params.key,
    documents=snakemake.output.documents,
    spans=snakemake.output.spans,
    stats=snakemake.output.stats,
)
