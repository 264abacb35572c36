"""Rule granularity: classifier, planted truth and people's labels of one checkpoint (lmscope.granularity.run)."""
from lmscope.granularity import run
from lmscope.logs import log_to

log_to(snakemake.log[0])
i, p = snakemake.input, snakemake.params
run(i.sheet, i.contexts, i.tokens, p.tokenizer, i.concepts, i.vectors, snakemake.output[0], p.token_share,
    p.related_percentile, p.truth_share, p.seed, people_sheet=i.get("people"))
