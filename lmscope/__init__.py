"""lmscope: SAE features across LLM training checkpoints, and domain-specific neurons in vision-language models.

The library behind the Snakemake workflow. It never imports snakemake: every function takes plain values and
paths, so each stage can be used and tested on its own.

    lmscope/                 what both studies share: config messages, errors, atomic writes, job logs, the hub,
                             model and tokenizer loading, fonts, tables and figure helpers
    lmscope/sae_checkpoints  branch A: SAE features across an LLM's training checkpoints
    lmscope/mmneuron         branch B: domain-specific neurons in vision-language models

Imports point down: a study imports the shared modules, never the other study; shared modules import no study.
"""

__version__ = "0.1.0"
