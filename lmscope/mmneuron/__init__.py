"""Branch B — domain-specific neurons in vision-language models (the MMNeuron paper; METHODS B1-B5).

The stages, in the order the workflow runs them:
    synthetic_images, domains      VQA samples per image domain: drawn here, a local folder or the hub
    choices, prompts, vlm_inputs   option letters, the paper's prompts, and a prompt with its images as model inputs
    tinyvlm                        the embedded tiny LLaVA
    mlp_neurons                    where a VLM's MLP neurons are (its module groups) and hooks that count or zero them
    neuron_counts                  how often each neuron fires per domain
    dape, neuron_tables            entropy-based selection (DAPE) and table 1, the overlap, neurons per layer
    vqa_metrics, judge, ablation   the benchmarks' metrics, and switching the selected neurons off (tables 2, 3)
    logit_lens                     intermediate layers read through the unembedding (figs. 6, 7)
    figures                        the branch's figures
"""
