# Config lookups, path helpers and input functions shared by the rule files. Config reaches rules only
# through params: built here, as plain values, so editing config.yaml reruns exactly the stale rules.
import os
import re
import shutil

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from lmscope.config import ConfigError, config_message, sort_keys
from lmscope.mmneuron import config_checks as branch_b
from lmscope.sae_checkpoints import config_checks as branch_a
from lmscope.sae_checkpoints.config_checks import checkpoint_name, step_number

# The schema (which fills in defaults), then the checks it cannot express. Either failure stops the run with one
# paragraph naming the key, as a WorkflowError (which Snakemake prints with its location, not a traceback).
try:
    validate(config, "../schemas/config.schema.yaml")
    branch_a.check(config, workdir=os.getcwd())
    branch_b.check(config, workdir=os.getcwd())
except (ConfigError, WorkflowError) as error:
    raise WorkflowError(config_message(error)) from None
sort_keys(config)  # params then read the same whatever order a config file wrote its keys in

CORPORA = {c["name"]: c for c in config["corpora"]}
MODELS = {m["name"]: m for m in config["models"]}
CORPUS_KEY = {c["name"]: f"corpora[{i}]" for i, c in enumerate(config["corpora"])}
DOMAINS = {d["name"]: d for d in config.get("domains", [])}  # branch B; in config (table) order
VLMS = {v["name"]: v for v in config.get("vlms", [])}


def _one_of(names):
    return "|".join(re.escape(n) for n in names)


SPLITS = ["train", "validation", "test"]  # the rules name them; config.split gives their sizes


wildcard_constraints:
    corpus=_one_of(CORPORA),
    model=_one_of(MODELS),
    ckpt=_one_of({checkpoint_name(c) for m in MODELS.values() for c in m["checkpoints"]}),
    domain=_one_of(DOMAINS) or "(?!)",
    vlm=_one_of(VLMS) or "(?!)",
    index=r"\d+",


def uses_gpu():
    """The gpu resource of torch rules: 1 where the configured device is (or auto finds) a CUDA GPU."""
    device = config["device"]
    if device == "auto":
        return int(shutil.which("nvidia-smi") is not None)
    return int(device.startswith("cuda"))


def corpus_dir(corpus):
    return f"results/corpus/{corpus}"


def tokenizer_is_trained(corpus):
    return CORPORA[corpus]["tokenizer"]["kind"] == "train"


def tokenizer_source(corpus):
    """Where the corpus's tokenizer is loaded from: trained here, a local directory, or a hub repo."""
    tok = CORPORA[corpus]["tokenizer"]
    if tokenizer_is_trained(corpus):
        return {"path": f"{corpus_dir(corpus)}/tokenizer"}
    if "path" in tok:
        return {"path": tok["path"]}
    return {"repo": tok["repo"], "revision": tok["revision"]}


def trained_tokenizer(corpus):
    """The tokenizer directory as an input, when the corpus trains its own (else nothing to wait for)."""
    return [f"{corpus_dir(corpus)}/tokenizer"] if tokenizer_is_trained(corpus) else []


def trained_models():
    return [name for name, m in MODELS.items() if "train" in m]


def checkpoint_entries(model):
    """{ckpt name: {path} or {repo, revision}} — a step of a model trained here is its saved directory."""
    out = {}
    for entry in MODELS[model]["checkpoints"]:
        name = checkpoint_name(entry)
        if step_number(entry) is not None:
            out[name] = {"name": name, "path": f"results/models/{model}/{name}"}
        else:
            out[name] = {key: value for key, value in entry.items() if key != "sae"}
    return out


# {model: {checkpoint: {"previous": name, "next": name}}} in training order, a side absent at either end: what a
# warm start starts from (sae.smk), the pairs matched (matching.smk) and the browser's links (browser.smk)
NEIGHBOURS = {
    m: {
        c: {side: names[j] for side, j in (("previous", i - 1), ("next", i + 1)) if 0 <= j < len(names)}
        for i, c in enumerate(names)
    }
    for m, names in ((m, list(checkpoint_entries(m))) for m in MODELS)
}


def loaded_sae(model, ckpt):
    """The `sae:` of a checkpoint entry that names an SAE trained elsewhere (analysed instead of training one),
    else None."""
    for entry in MODELS[model]["checkpoints"]:
        if checkpoint_name(entry) == ckpt and isinstance(entry, dict):
            return entry.get("sae")
    return None


def sae_dir(model, ckpt):
    """The checkpoint's SAE that everything after it reads: trained here (train_sae), or loaded (load_sae)."""
    return f"results/sae/{model}/loaded/{ckpt}" if loaded_sae(model, ckpt) else f"results/sae/{model}/{ckpt}"


def released_sae_key(model, ckpt):
    """The config key of a checkpoint's `sae:`, for messages."""
    names = [checkpoint_name(c) for c in MODELS[model]["checkpoints"]]
    i = [n for n, m in enumerate(config["models"]) if m["name"] == model][0]
    return f"models[{i}].checkpoints[{names.index(ckpt)}].sae"


def model_width(model, ckpt):
    """What a loaded SAE's d_in must equal: hidden_size of a model trained here, else the checkpoint entry whose
    config.json the job reads it from."""
    if "train" in MODELS[model]:
        return MODELS[model]["train"]["hidden_size"]
    return {"config": checkpoint_entries(model)[ckpt]}


def activation_stores(model, ckpt):
    """The three split stores of one checkpoint, by split."""
    return {split: f"results/activations/{model}/{ckpt}/{split}.zarr" for split in SPLITS}


KEEP_STORES = config["activations"]["keep"]
# With activations.keep false the rules that read a checkpoint's stores go before the next extraction, wherever
# both wait for the one GPU, so that Snakemake deletes those stores before another checkpoint's are written.
STORE_READERS_PRIORITY = 0 if KEEP_STORES else 1


def store_output(path):
    """An extraction store as an output: kept, or (activations.keep false) deleted once its readers are done."""
    return directory(path) if KEEP_STORES else temp(directory(path))


FIGURE_MODEL = config["models"][0]["name"]  # fig2 is drawn for the first model, at its final checkpoint


def corpus_of(model):
    return corpus_dir(MODELS[model]["corpus"])


def labelled_checkpoints():
    """The first model's checkpoints with a filled labelling sheet (granularity.sheets), in training order."""
    return [c for c in checkpoint_entries(FIGURE_MODEL) if c in config["granularity"]["sheets"]]


def has_planted_concepts(corpus):
    """Whether the corpus has concept labels to measure the granularity classifier against."""
    return any(source["kind"] == "synthetic" for source in CORPORA[corpus]["sources"])


def corpus_outputs(corpus):
    d = corpus_dir(corpus)
    return [f"{d}/documents.parquet", f"{d}/tokens.zarr", f"{d}/concepts.parquet", f"{d}/stats.json"]


def vlm_entry(vlm):
    """{name, path} of a VLM trained here or given as a directory, or {name, repo, revision} of a hub VLM."""
    spec = VLMS[vlm]
    if "train" in spec:
        return {"name": vlm, "path": f"results/vlms/{vlm}"}
    return {key: value for key, value in spec.items() if key in ("name", "path", "repo", "revision")}


def trained_vlm_dir(vlm):
    """The training output as an input, for the VLM trained here (else nothing to wait for)."""
    return [f"results/vlms/{vlm}"] if "train" in VLMS[vlm] else []


def branch_b_targets():
    if not (DOMAINS and VLMS):
        return []
    names = [
        "table1.csv",
        "table1.md",
        "overlap.csv",
        "overlap.md",
        "neurons_by_layer.pdf",
        "table2.csv",
        "table2.md",
        "table3.csv",
        "table3.md",
        "entropy.pdf",
    ] + [f"logit_lens_{d}.pdf" for d in DOMAINS]
    return [f"results/figures/mmneuron/{name}" for name in names]


def all_targets():
    targets = [path for corpus in CORPORA for path in corpus_outputs(corpus)]
    targets += [f"results/models/{model}" for model in trained_models()]
    if KEEP_STORES:  # a temporary store asked for as a target would never be deleted
        targets += [
            store
            for model in MODELS
            for ckpt in checkpoint_entries(model)
            for store in activation_stores(model, ckpt).values()
        ]
    targets += [sae_dir(model, ckpt) for model in MODELS for ckpt in checkpoint_entries(model)]
    targets += ["results/figures/fig2.pdf", "results/figures/fig4.pdf"]
    targets += [f"results/figures/{fig}.{ext}" for fig in ("fig3", "fig6") for ext in ("html", "pdf")]
    targets += [f"results/browser/{model}/index.html" for model in MODELS]
    targets += ["results/figures/fig5.pdf"]
    targets += [f"results/sae/{model}/quality.{ext}" for model in MODELS for ext in ("csv", "md")]
    targets += [
        f"results/sae/{model}/quality/{ckpt}/core.json" for model in MODELS for ckpt in checkpoint_entries(model)
    ]
    targets += MATCHING_TARGETS  # matching.smk
    if has_planted_concepts(MODELS[FIGURE_MODEL]["corpus"]):
        targets += ["results/figures/granularity_accuracy.csv"]
    if labelled_checkpoints():
        targets += ["results/figures/granularity_agreement.csv"]
    return targets + branch_b_targets()
