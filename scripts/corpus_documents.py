"""Rule corpus_documents: read the sources, split by document (lmscope.corpus.collect_documents)."""
from lmscope.corpus import collect_documents
from lmscope.logs import log_to

log_to(snakemake.log[0])
p = snakemake.params
collect_documents(p.sources, p.languages, p.max_chars, p.split, p.seed, p.key,
                  snakemake.output.documents, snakemake.output.spans, snakemake.output.stats)
