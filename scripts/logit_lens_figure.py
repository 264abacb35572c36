"""Rule logit_lens_figure: the paper's figure 6 for one domain, one row per VLM (lmscope.plots.logit_lens)."""
from pathlib import Path

import polars as pl

from lmscope.logs import log_to
from lmscope.plots import logit_lens

log_to(snakemake.log[0])
tops = {vlm: pl.read_parquet(f"{d}/top_tokens.parquet").to_dicts()
        for vlm, d in zip(snakemake.params.vlms, snakemake.input)}
question = Path(snakemake.input[0], "question.txt").read_text().strip()
logit_lens(tops, f"Logit lens, {snakemake.wildcards.domain}: {question}", snakemake.output[0])
