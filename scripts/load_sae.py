"""Rule load_sae: a checkpoint's SAE trained elsewhere, in lmscope's layout (lmscope.sae_checkpoints.released_saes)."""
from lmscope.logs import log_to
from lmscope.sae_checkpoints.released_saes import run

log_to(snakemake.log[0])
run(
    source=snakemake.params.source,
    key=snakemake.params.key,
    d_model=snakemake.params.d_model,
    normalized=snakemake.params.normalized,
    sae=snakemake.output.sae,
)
