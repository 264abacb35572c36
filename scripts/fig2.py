"""Rule fig2: test reconstruction MSE against n/d and K (lmscope.plots.fig2)."""
from lmscope.logs import log_to
from lmscope.plots import fig2, read_fig2_points

log_to(snakemake.log[0])
fig2(read_fig2_points(snakemake.params.points, snakemake.input.metrics), snakemake.output.pdf,
     snakemake.output.csv)
