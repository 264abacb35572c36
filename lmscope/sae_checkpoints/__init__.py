"""Branch A — SAE features across an LLM's training checkpoints (the LLM-jp-3 SAE paper; METHODS A1-A7).

The stages, in the order the workflow runs them:
    text_sources, synthetic_text   documents from files, the hub or the invented bilingual world
    corpus                         splits, BOS + first-64-token windows, 1:1 language balance, planted labels
    tinylm                         the embedded tiny Llama, saved at log-spaced checkpoints
    activations                    one layer's L2-normalised activations per checkpoint and split (Zarr)
    activation_store, shuffled_batches   checked reads and shuffled batches of those stores
    sae, sae_training              the TopK SAE and its learning-rate grid trained side by side
    top_texts                      each feature's texts: its top 50, or the authors' threshold rule
    language                       language tendency (fig. 4)
    granularity, token_vectors, labelling   semantic granularity (fig. 5): planted truth, a classifier, sheets
    highlight, feature_cards, browser       texts with their activating tokens shaded: figs. 3/6 and the browser
    figures                        the branch's figures
"""
