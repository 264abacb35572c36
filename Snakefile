# lmscope: SAE features across training checkpoints (branch A) and domain-specific neurons in VLMs (branch B).
# The embedded default is config.yaml; presets/*.yaml run the papers' models (--configfile). See README.md.
import sys

from snakemake.utils import min_version

min_version("9.0")
# The lmscope library beside this file, installed or not. Jobs find it through scripts/lmscope (a link to it):
# Snakemake puts a script's own directory on sys.path, in any environment the job runs in.
sys.path.insert(0, workflow.basedir)


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"  # validates the config first
include: "workflow/rules/corpus.smk"
include: "workflow/rules/lm.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/sae.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/granularity.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/matching.smk"  # before the browser, which links the matches
include: "workflow/rules/browser.smk"
include: "workflow/rules/domains.smk"
include: "workflow/rules/vlm.smk"
include: "workflow/rules/neurons.smk"
include: "workflow/rules/ablation.smk"
include: "workflow/rules/lens.smk"


rule all:
    default_target: True
    input:
        all_targets(),
