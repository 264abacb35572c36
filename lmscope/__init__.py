"""lmscope: SAE features across LLM training checkpoints, and domain-specific neurons in vision-language models.

The library behind the Snakemake workflow. It never imports snakemake: every function takes plain values and
paths, so each stage can be used and tested on its own.
"""

__version__ = "0.1.0"
