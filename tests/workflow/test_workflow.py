"""The micro workflow end to end: corpus and tiny-LM rules through Snakemake in a temporary directory."""
import json
import re
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest
import torch
import zarr

from brute_force import brute_force, brute_force_threshold
from conftest import MICRO, MICRO_SAE, snakemake
from lmscope import fonts
from lmscope.sae_checkpoints import feature_matching, language, top_texts
from lmscope.sae_checkpoints.sae import TopKSAE
from lmscope.models import load_causal_lm
from lmscope.tokenizer import load_tokenizer

pytestmark = pytest.mark.slow


def test_corpus_artifacts_agree_with_each_other(built, micro_config):
    d = built / "results" / "corpus" / "micro"
    docs = pl.read_parquet(d / "documents.parquet")
    tokens = zarr.open_array(str(d / "tokens.zarr"), mode="r")
    stats = json.loads((d / "stats.json").read_text())
    assert tokens.dtype == np.int32 and tokens.shape == (len(docs), 1 + micro_config["corpora"][0]["tokens_per_doc"])
    tok = load_tokenizer({"path": str(d / "tokenizer")})
    assert (tokens[:, 0] == tok.bos_token_id).all()
    # every row is its document's first tokens
    for doc_id in (0, len(docs) - 1):
        ids = tok(docs["text"][doc_id], add_special_tokens=False)["input_ids"][:tokens.shape[1] - 1]
        assert tokens[doc_id, 1:].tolist() == ids
    for split, (start, stop) in stats["split_offsets"].items():
        assert set(docs["split"][start:stop]) == {split}
        langs = docs["lang"][start:stop].value_counts().sort("lang")["count"].to_list()
        assert len(langs) == 2 and langs[0] == langs[1]
    assert tokens.attrs["bos_token_id"] == tok.bos_token_id
    assert sum(stats["documents"].values()) == len(docs)
    concepts = pl.read_parquet(d / "concepts.parquet")
    assert concepts["doc_id"].max() < len(docs) and concepts["position"].max() < tokens.shape[1] - 1


def test_checkpoints_load_with_from_pretrained_and_the_model_learned(built):
    d = built / "results" / "models" / "micromodel"
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) == ["loss.pdf", "step-10", "step-3", "step-30", "train_log.csv"]
    for step in (3, 10, 30):
        model = load_causal_lm({"path": str(d / f"step-{step}")}, torch.device("cpu"), torch.float32)
        assert model.config.num_hidden_layers == 2
        assert load_tokenizer({"path": str(d / f"step-{step}")}).bos_token_id is not None
    log = pl.read_csv(d / "train_log.csv")
    assert log["step"].to_list() == list(range(31))
    val = log.filter(pl.col("val_loss").is_not_nan())
    assert val["step"].to_list() == [0, 3, 10, 30]
    assert val["val_loss"][-1] < val["val_loss"][0]
    assert (d / "loss.pdf").read_bytes().startswith(b"%PDF")


def test_activation_stores_hold_the_layer_of_every_checkpoint_and_split(built, micro_config):
    corpus = built / "results" / "corpus" / "micro"
    tokens = zarr.open_array(str(corpus / "tokens.zarr"), mode="r")
    per_doc, layer = tokens.shape[1] - 1, micro_config["models"][0]["layer"]
    for step in (3, 10, 30):
        model = load_causal_lm({"path": str(built / "results" / "models" / "micromodel" / f"step-{step}")},
                               torch.device("cpu"), torch.float32)
        out = built / "results" / "activations" / "micromodel" / f"step-{step}"
        for split, (start, stop) in tokens.attrs["split_offsets"].items():
            store = zarr.open_array(str(out / f"{split}.zarr"), mode="r")
            assert store.shape == ((stop - start) * per_doc, 32) and store.dtype == np.float16
            assert store.attrs["checkpoint"] == f"step-{step}" and store.attrs["layer"] == layer
            doc = stop - 1  # the split's last document: rows (stop - start - 1) * per_doc ...
            with torch.no_grad():
                h = model(torch.from_numpy(tokens[doc:doc + 1].astype(np.int64)),
                          output_hidden_states=True).hidden_states[layer][0, 1:]
            expected = torch.nn.functional.normalize(h, dim=-1).numpy()
            rows = store[(doc - start) * per_doc:(doc - start + 1) * per_doc].astype(np.float32)
            np.testing.assert_allclose(rows, expected, atol=2e-3)
            throughput = json.loads((out / "throughput.json").read_text())[split]
            assert throughput["tokens"] == store.shape[0] and throughput["tokens_per_s"] > 0


def test_an_sae_per_checkpoint_in_saelens_layout_and_fig2(built):
    import csv

    from lmscope.sae_checkpoints.sae import TopKSAE

    # step-3 analyses a loaded SAE (test_a_loaded_sae_replaces_training_for_its_checkpoint): none trained for it
    assert not (built / "results" / "sae" / "micromodel" / "step-3").exists()
    assert not (built / "results" / "logs" / "train_sae" / "micromodel" / "step-3.log").exists()
    for step in (10, 30):
        d = built / "results" / "sae" / "micromodel" / f"step-{step}"
        cfg = json.loads((d / "cfg.json").read_text())
        assert cfg["architecture"] == "topk" and (cfg["d_in"], cfg["d_sae"], cfg["k"]) == (32, 256, 4)
        assert cfg["metadata"]["checkpoint"] == f"step-{step}" and cfg["metadata"]["layer"] == 1
        metrics = json.loads((d / "metrics.json").read_text())
        assert metrics["best_lr"] in (3e-3, 1e-2)
        assert metrics["validation"]["mse"] == min(m["validation"]["mse"] for m in metrics["lr_grid"].values())
        assert 0 < metrics["test"]["fvu"] < 1 and metrics["test"]["l0"] <= 4
        assert TopKSAE.load(d).k == 4 and (d / "loss.pdf").read_bytes().startswith(b"%PDF")
        log = pl.read_csv(d / "train_log.csv")
        assert set(log["lr"]) == {3e-3, 1e-2}
    assert not (built / "results" / "sae" / "micromodel" / ".resume").exists() or not any(
        (built / "results" / "sae" / "micromodel" / ".resume").iterdir())  # resume state removed when done
    with open(built / "results" / "figures" / "fig2.csv") as f:
        points = list(csv.DictReader(f))
    assert [(p["expansion_factor"], p["k"]) for p in points] == [("2", "4"), ("2", "8")]
    assert float(points[1]["test_mse"]) < float(points[0]["test_mse"])  # more active latents reconstruct better
    assert (built / "results" / "figures" / "fig2.pdf").read_bytes().startswith(b"%PDF")


def test_a_loaded_sae_replaces_training_for_its_checkpoint(built):
    """micro.yaml's step-3 names an SAE in SAELens's layout (input normalisation constant_norm_rescale, biases):
    its top texts are those of SAELens's own encode on the run's test store, ranked by brute force."""
    sae_lens = pytest.importorskip("sae_lens")
    loaded = built / "results" / "sae" / "micromodel" / "loaded" / "step-3"
    assert json.loads((loaded / "cfg.json").read_text())["metadata"]["released"] == {"path": MICRO_SAE,
                                                                                     "format": "saelens"}
    theirs = sae_lens.SAE.load_from_disk(str(built / MICRO_SAE), device="cpu")
    store = zarr.open_array(str(built / "results" / "activations" / "micromodel" / "step-3" / "test.zarr"), mode="r")
    per_doc, offset = store.attrs["tokens_per_doc"], store.attrs["doc_id_offset"]
    with torch.no_grad():
        encoder = SimpleNamespace(d_sae=theirs.cfg.d_sae, dense_latents=theirs.encode)  # what brute_force reads
        expected, _ = brute_force(encoder, torch.from_numpy(store[:].astype(np.float32)), 10, per_doc)
    contexts = pl.read_parquet(built / "results" / "features" / "micromodel" / "step-3" / "contexts.parquet")
    table = {f: [(d - offset, p) for d, p in part.sort("rank").select("doc_id", "position").iter_rows()]
             for (f,), part in contexts.group_by("feature")}
    assert table == {f: [(d, p) for _, d, p in texts] for f, texts in expected.items() if texts}
    assert sum(len(texts) for texts in expected.values()) > 100


@pytest.mark.parametrize("selection", ["top", "threshold"])
def test_text_selection_on_the_micro_workflows_sae_equals_brute_force(built, selection):
    # the streaming rules on a real SAE and store of the run; the top rule also against the run's own table
    sae = TopKSAE.load(built / "results" / "sae" / "micromodel" / "step-30")
    store = zarr.open_array(str(built / "results" / "activations" / "micromodel" / "step-30" / "test.zarr"), mode="r")
    per_doc, offset = store.attrs["tokens_per_doc"], store.attrs["doc_id_offset"]
    rows = torch.from_numpy(store[:].astype(np.float32))
    if selection == "top":
        got = top_texts.top_documents(sae, store, per_doc, top_n=10, batch_docs=7)
        expected, _ = brute_force(sae, rows, 10, per_doc)
        contexts = pl.read_parquet(built / "results" / "features" / "micromodel" / "step-30" / "contexts.parquet")
        table = {f: [(d - offset, p) for d, p in part.sort("rank").select("doc_id", "position").iter_rows()]
                 for (f,), part in contexts.group_by("feature")}
        assert table == {f: [(d, p) for _, d, p in texts] for f, texts in expected.items() if texts}
    else:
        got = top_texts.threshold_documents(sae, store, per_doc, top_n=10, threshold=0.7, seed=0, batch_docs=7)
        expected, _ = brute_force_threshold(sae, rows, 10, 0.7, 0, per_doc)
    for f in range(sae.d_sae):
        taken = [(d, p) for v, d, p in zip(got["value"][f].tolist(), got["doc"][f].tolist(),
                                           got["position"][f].tolist()) if v > 0]
        assert taken == [(d, p) for _, d, p in expected[f]], f
    assert sum(len(texts) for texts in expected.values()) > 100  # the run's features have texts to compare


def test_contexts_language_tendency_and_fig4(built):
    latents = {3: 64, 10: 256, 30: 256}  # step-3's SAE is loaded (64 latents), the others n/d 8 of d 32
    for step in (3, 10, 30):
        d = built / "results" / "features" / "micromodel" / f"step-{step}"
        contexts = pl.read_parquet(d / "contexts.parquet")
        stats = pl.read_parquet(d / "features.parquet")
        table = pl.read_parquet(d / "language.parquet")
        assert len(stats) == len(table) == latents[step]
        assert contexts.group_by("feature").len()["len"].max() <= 10
        assert (contexts["activations"].list.len() == 32).all()
        assert set(table["tendency"]) <= {"ja", "en", "mixed", "dead"}
        assert (table.filter(pl.col("tendency") == "dead")["n_texts"] == 0).all()
    fig4 = pl.read_csv(built / "results" / "figures" / "fig4.csv")
    assert fig4["checkpoint"].to_list() == ["step-3", "step-10", "step-30"]
    shares = fig4.select(pl.sum_horizontal("share_ja", "share_en", "share_mixed"))
    assert all(abs(s - 1) < 1e-9 for s in shares.to_series())
    assert (fig4["ja"] + fig4["en"] + fig4["mixed"] + fig4["dead"]).to_list() == list(latents.values())
    assert (built / "results" / "figures" / "fig4.pdf").read_bytes().startswith(b"%PDF")


def test_nothing_half_written_and_a_second_run_has_nothing_to_do(built):
    assert not [p for p in (built / "results").rglob("*") if ".tmp-" in p.name]
    assert (built / "results" / "logs" / "train_tinylm" / "micromodel.log").stat().st_size > 0
    proc = snakemake(built, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


def test_example_figures_the_browser_and_the_report(built, tmp_path):
    figures = built / "results" / "figures"
    fig3, fig6 = (pl.read_csv(figures / f"{f}.csv") for f in ("fig3", "fig6"))
    assert fig3["checkpoint"].unique(maintain_order=True).to_list() == ["step-3", "step-10", "step-30"]
    assert fig3["stage"].unique(maintain_order=True).to_list() == ["early", "middle", "final"]
    for ckpt in ("step-3", "step-10", "step-30"):
        f3 = fig3.filter(pl.col("checkpoint") == ckpt)["feature"].unique(maintain_order=True).to_list()
        f6 = fig6.filter(pl.col("checkpoint") == ckpt)["feature"].unique(maintain_order=True).to_list()
        assert len(f3) == 2 and len(f6) == 6 and f6[:2] == f3  # one seeded order: fig3 leads fig6
        contexts = pl.read_parquet(built / "results" / "features" / "micromodel" / ckpt / "contexts.parquet")
        for feature in f3:  # the texts shown are the feature's top three, in rank order
            top = contexts.filter(pl.col("feature") == feature).sort("rank").head(3)["doc_id"].to_list()
            assert fig3.filter((pl.col("checkpoint") == ckpt) & (pl.col("feature") == feature))["doc_id"].to_list() == top
    assert fonts.missing_glyphs("".join(fig6["text"])) == set()
    assert any(language.script_language(t) == "ja" for t in fig6["text"])
    html = (figures / "fig3.html").read_text()
    assert all(token.strip() in html for token in fig3["top_token"] if token.strip())
    assert (figures / "fig6.pdf").read_bytes().startswith(b"%PDF")

    pages = built / "results" / "browser" / "micromodel"
    index = (pages / "index.html").read_text()
    for ckpt in ("step-3", "step-10", "step-30"):
        assert f'href="{ckpt}.html"' in index and (pages / f"{ckpt}.html").is_file()
        page = (pages / f"{ckpt}.html").read_text()
        listed = json.loads(re.search(r"const INDEX = (.*?);\n", page).group(1))
        table = pl.read_parquet(built / "results" / "features" / "micromodel" / ckpt / "language.parquet")
        assert len(listed["id"]) == (table["tendency"] != "dead").sum() and listed["d_sae"] == table.height
        # the texts in the folder beside the page: a shard per block of features, the token index and the font
        assert listed["shards"] == ckpt and all((pages / ckpt / f).is_file() for f in ("tokens.js", "font.js"))
        assert len(list((pages / ckpt).glob("shard-*.js"))) == -(-table.height // listed["block"])

    report = tmp_path / "report.html"
    proc = snakemake(built, "--report", str(report))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = report.read_text()
    assert "Figure 4." in text and "Figure 2." in text and "Feature browser" in text


def test_features_matched_across_checkpoints_against_a_real_seed_baseline(built):
    results = built / "results"
    matching = results / "matching" / "micromodel"
    for a, b in (("step-3", "step-10"), ("step-10", "step-30"), ("step-30", "seed-1")):
        table = pl.read_parquet(matching / f"{a}__{b}" / "matches.parquet")
        assert table.columns == ["feature", "match", "correlation", "decoder_cosine", "active", "same_index"]
        assert table["match"].drop_nulls().n_unique() == table["match"].drop_nulls().len()  # one to one
    # the baseline: two SAEs trained at the final checkpoint that differ in their seed, matched as any pair
    first, second = results / "sae" / "micromodel" / "step-30", results / "sae" / "micromodel" / "seed-1" / "step-30"
    seeds = [json.loads((d / "metrics.json").read_text())["config"]["seed"] for d in (first, second)]
    assert seeds == [0, 1] and not torch.equal(TopKSAE.load(first).W_dec, TopKSAE.load(second).W_dec)
    sample = np.load(matching / "step-30" / "sample.npy")
    assert sample.dtype == np.float16 and sample.shape == (512, 32)  # micro.yaml's positions, d
    again = feature_matching.match_features(TopKSAE.load(first), TopKSAE.load(second), sample, sample)
    assert again.equals(pl.read_parquet(matching / "step-30__seed-1" / "matches.parquet"))
    shares = pl.read_csv(results / "figures" / "matching.csv")
    assert shares["kind"].to_list() == ["checkpoints", "checkpoints", "seed baseline"]
    assert shares["share"].is_between(0, 1).all() and (shares["active"] <= shares["features"]).all()
    transitions = pl.read_csv(results / "figures" / "matching_transitions.csv")
    assert set(transitions["kind"]) <= {"language", "granularity"}
    assert (results / "figures" / "matching_transitions.pdf").read_bytes().startswith(b"%PDF")
    # the browser links a feature to its matches on both sides
    page = (results / "browser" / "micromodel" / "step-10.html").read_text()
    listed = json.loads(re.search(r"const INDEX = (.*?);\n", page).group(1))
    assert listed["neighbours"] == {"previous": "step-3", "next": "step-30"}
    nxt = pl.read_parquet(matching / "step-10__step-30" / "matches.parquet").filter("active")
    expected = dict(zip(nxt["feature"], nxt["match"]))
    assert all(m == expected.get(f) for f, m in zip(listed["id"], listed["links"]["next"]["feature"]))


def test_every_sae_spliced_into_its_model(built):
    results = built / "results" / "sae" / "micromodel"
    table = pl.read_csv(results / "quality.csv")
    assert table["checkpoint"].to_list() == ["step-3", "step-10", "step-30"]
    for ckpt in table["checkpoint"]:
        metrics = json.loads((results / "quality" / ckpt / "metrics.json").read_text())
        core = json.loads((results / "quality" / ckpt / "core.json").read_text())
        assert metrics["docs"] == 6 and metrics["tokens"] == 6 * 32 and metrics["predictions"] == 6 * 31
        assert metrics["ce_loss_delta"] == pytest.approx(metrics["ce_loss_sae"] - metrics["ce_loss_clean"])
        assert 0 <= metrics["dead_fraction"] <= 1 and 0 <= metrics["dense_fraction"] <= 1
        performance = core["eval_result_metrics"]["model_performance_preservation"]
        assert performance["ce_loss_score"] == metrics["ce_loss_score"]
        assert core["sae_lens_id"] == ckpt and core["sae_cfg_dict"]["d_sae"] == (64 if ckpt == "step-3" else 256)
    loaded = json.loads((results / "quality" / "step-3" / "core.json").read_text())
    assert loaded["sae_cfg_dict"]["normalize_activations"] == "constant_norm_rescale"  # micro.yaml's released SAE


def test_granularity_sheets_classifier_accuracy_and_fig5(built):
    from lmscope.sae_checkpoints.granularity import LABELS
    from lmscope.sae_checkpoints.labelling import sample_features

    figures = built / "results" / "figures"
    accuracy = pl.read_csv(figures / "granularity_accuracy.csv")
    fig5 = pl.read_csv(figures / "fig5.csv")
    assert accuracy["checkpoint"].to_list() == fig5["checkpoint"].to_list() == ["step-3", "step-10", "step-30"]
    for ckpt in ("step-3", "step-10", "step-30"):
        d = built / "results" / "features" / "micromodel" / ckpt
        language = pl.read_parquet(d / "language.parquet")
        sheet = pl.read_csv(d / "granularity_sheet.csv")
        assert sheet["feature"].to_list() == sample_features(language, 100, 5, 0, ckpt)
        assert sheet["label"].null_count() == len(sheet)  # left for people to fill
        assert all(f"#{f:05d}" in (d / "granularity_sheet.html").read_text() for f in sheet["feature"])
        table = pl.read_parquet(d / "granularity.parquet")
        assert table["feature"].to_list() == sheet["feature"].to_list()
        assert set(table["classifier"]) <= set(LABELS) and set(table["truth"]) <= set(LABELS)
        assert (table["source"] == "classifier").all() and (table["label"] == table["classifier"]).all()
        # the accuracy table and fig5 are these labels counted
        row = accuracy.filter(pl.col("checkpoint") == ckpt).row(0, named=True)
        truth, predicted = table["truth"].to_list(), table["classifier"].to_list()
        assert row["accuracy"] == pytest.approx(np.mean([t == p for t, p in zip(truth, predicted)]))
        assert row["majority_accuracy"] == pytest.approx(max(truth.count(label) for label in LABELS) / len(truth))
        for label in LABELS:  # each label's precision and recall, counted by hand
            hits = sum(t == p == label for t, p in zip(truth, predicted))
            assert row[f"truth_{label}"] == truth.count(label) and row[f"classifier_{label}"] == predicted.count(label)
            assert row[f"precision_{label}"] == (pytest.approx(hits / predicted.count(label)) if label in predicted
                                                 else None)
            assert row[f"recall_{label}"] == (pytest.approx(hits / truth.count(label)) if label in truth else None)
        tally = fig5.filter(pl.col("checkpoint") == ckpt).row(0, named=True)
        assert [tally[label] for label in LABELS] == [predicted.count(label) for label in LABELS]
        # the classifier beats always answering the commonest true label, at every checkpoint
        assert row["accuracy"] > row["majority_accuracy"]
    assert (figures / "fig5.pdf").read_bytes().startswith(b"%PDF")
    assert (figures / "granularity_accuracy.pdf").read_bytes().startswith(b"%PDF")


def test_planted_truth_holds_all_four_granularities_at_the_final_checkpoint(built):
    """Issue 20: fig5's four classes are each measured against truth, so the final checkpoint's sampled features
    must hold every one of them by planted truth — each label checked here against the texts themselves: the
    activating token's mention in concepts.parquet, counted by hand."""
    from collections import Counter

    from lmscope.sae_checkpoints.granularity import LABELS, normalize

    results = built / "results"
    table = pl.read_parquet(results / "features" / "micromodel" / "step-30" / "granularity.parquet")
    assert set(table["truth"]) == set(LABELS)
    contexts = pl.read_parquet(results / "features" / "micromodel" / "step-30" / "contexts.parquet")
    corpus = results / "corpus" / "micro"
    mentions = {(d, p): (c, t, s) for d, p, c, t, s in pl.read_parquet(corpus / "concepts.parquet")
                .select("doc_id", "position", "concept_id", "concept_type", "surface").iter_rows()}
    tokens = zarr.open_array(str(corpus / "tokens.zarr"), mode="r")  # column 0 is BOS, position p is column p + 1
    for label in LABELS:
        feature = table.filter(pl.col("truth") == label)["feature"][0]
        texts = contexts.filter(pl.col("feature") == feature).select("doc_id", "position").rows()
        found = [mentions.get(text, (None, None, None)) for text in texts]
        concept, n_concept = Counter(c for c, _, _ in found).most_common(1)[0]
        ctype, n_type = Counter(t for _, t, _ in found).most_common(1)[0]
        if label == "token":  # one token in 80% of the texts, or the tokens of one word (出 and 身 of 出身)
            n_token = Counter(int(tokens[d, p + 1]) for d, p in texts).most_common(1)[0][1]
            one_word = (concept is not None and n_concept >= 0.8 * len(texts)
                        and len({s for c, _, s in found if c == concept}) == 1)
            assert n_token >= 0.8 * len(texts) or one_word
        elif label == "synonym":  # one concept in 80% of the texts, written in two or more surfaces
            assert concept is not None and n_concept >= 0.8 * len(texts)
            assert len({normalize(s) for c, _, s in found if c == concept}) >= 2
        elif label == "semantic":  # one type in 80%, two or more concepts of it
            assert ctype is not None and n_type >= 0.8 * len(texts)
            assert len({c for c, t, _ in found if t == ctype}) >= 2
        elif label == "unrelated":  # no concept type holds 80% of the texts with two concepts of it
            assert n_type < 0.8 * len(texts) or len({c for c, t, _ in found if t == ctype}) < 2


def test_a_filled_sheet_replaces_the_classifier_and_is_scored(built, tmp_path, micro_config, write_config):
    """People's labels for one checkpoint: fig5 uses them and the agreement table scores them."""
    import shutil

    from lmscope.sae_checkpoints.granularity import cohen_kappa

    workdir = tmp_path / "work"
    shutil.copytree(built, workdir, symlinks=True)
    d = workdir / "results" / "features" / "micromodel" / "step-30"
    table = pl.read_parquet(d / "granularity.parquet")
    people = ["semantic" if i % 4 == 0 else label for i, label in enumerate(table["classifier"])]
    filled = workdir / "filled.csv"
    pl.DataFrame({"feature": table["feature"], "label": people}).write_csv(filled)
    config = {**micro_config, "granularity": {**micro_config["granularity"], "sheets": {"step-30": str(filled)}}}
    proc = snakemake(workdir, "--cores", "2", configfile=write_config(config))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    relabelled = pl.read_parquet(d / "granularity.parquet")
    assert relabelled["label"].to_list() == people and (relabelled["source"] == "people").all()
    assert relabelled["classifier"].to_list() == table["classifier"].to_list()
    fig5 = pl.read_csv(workdir / "results" / "figures" / "fig5.csv")
    assert fig5["source"].to_list() == ["classifier", "classifier", "people"]
    agreement = pl.read_csv(workdir / "results" / "figures" / "granularity_agreement.csv").row(0, named=True)
    assert agreement["checkpoint"] == "step-30"
    assert agreement["kappa_people_classifier"] == pytest.approx(cohen_kappa(people, table["classifier"].to_list()))
    assert agreement["agreement"] == pytest.approx(np.mean([a == b for a, b in zip(people, table["classifier"])]))


def test_branch_b_counts_respect_the_budget_and_dape_selects_per_module(built, micro_config):
    from lmscope.mmneuron import neuron_counts

    from lmscope.mmneuron.samples import read_split

    budget = micro_config["neurons"]["budget"]["tokens"]
    names = [d["name"] for d in micro_config["domains"]]
    summary = pl.read_csv(built / "results" / "neurons" / "microvlm" / "counts_summary.csv")
    assert summary["domain"].to_list() == names and not summary["exhausted"].any()
    for domain in names:
        samples = read_split(built / "results" / "domains" / domain / "samples", "train")
        assert samples.height == 40 and set(samples["domain"]) == {domain}
        counts, attrs = neuron_counts.read(built / "results" / "neurons" / "microvlm" / domain / "counts.zarr")
        assert 0 < attrs["lm_tokens"] == attrs["tokens"]["lm"] <= budget and not attrs["exhausted"]
        assert summary.filter(pl.col("domain") == domain)["samples"][0] == attrs["samples"]
        assert set(counts) == {"vision", "projector", "lm"}
        assert all((c >= 0).all() and (c <= attrs["tokens"][g]).all() for g, c in counts.items())
    vlm = built / "results" / "vlms" / "microvlm"
    accuracy = json.loads((vlm / "accuracy.json").read_text())
    assert set(accuracy["accuracy"]) == set(names) and set(accuracy["baseline"]) == set(names)
    table = pl.read_parquet(built / "results" / "neurons" / "microvlm" / "dape.parquet")
    assert table.columns[:3] == ["module", "layer", "neuron"] and [f"p_{d}" for d in names] == table.columns[3:6]
    for module, rows in table.group_by("module"):
        assert rows["selected"].sum() <= round(micro_config["dape"]["top_rate"] * rows.height)
    table1 = pl.read_csv(built / "results" / "figures" / "mmneuron" / "table1.csv")
    assert table1["domain"].to_list() == names + ["selected (distinct)"]
    assert table1.columns[1:] == ["microvlm Vision Encoder", "microvlm MLP Projector", "microvlm LLM"]
    layers = pl.read_csv(built / "results" / "figures" / "mmneuron" / "neurons_by_layer.csv")
    lm = layers.filter(pl.col("module") == "lm")
    assert lm.group_by("domain").agg(pl.col("neurons").sum()).sort("domain")["neurons"].to_list() == [
        table1.filter(pl.col("domain") == d)["microvlm LLM"][0] for d in sorted(names)]
    assert (built / "results" / "figures" / "mmneuron" / "neurons_by_layer.pdf").read_bytes().startswith(b"%PDF")


def test_branch_b_ablation_tables_and_logit_lens(built, micro_config):
    names = [d["name"] for d in micro_config["domains"]]
    figures = built / "results" / "figures" / "mmneuron"
    table2 = pl.read_csv(figures / "table2.csv")
    assert table2.columns == ["vlm", "module", *names]
    assert table2["module"].to_list() == ["None", "Vision Encoder", "MLP Projector", "LLM", "All"]  # no Q-Former
    assert table2.select(names).to_numpy().min() >= 0 and table2.select(names).to_numpy().max() <= 100
    table3 = pl.read_csv(figures / "table3.csv")
    assert table3["module"].to_list() == ["Random (Avg.)", "LLM", "Vision Encoder", "MLP Projector", "All"]
    for domain in names:
        answers = pl.read_parquet(built / "results" / "ablation" / "microvlm" / domain / "answers.parquet")
        assert answers.height == micro_config["ablation"]["samples"] * 5
        summary = pl.read_csv(built / "results" / "ablation" / "microvlm" / domain / "summary.csv")
        assert summary.filter(pl.col("group") == "none")["deviation"][0] == 0.0
        assert (figures / f"logit_lens_{domain}.pdf").read_bytes().startswith(b"%PDF")
        top = pl.read_parquet(built / "results" / "lens" / "microvlm" / domain / "top_tokens.parquet")
        assert set(top["tokens"]) == {"image", "text"} and top["rank"].max() == micro_config["lens"]["top_k"]
    entropy = pl.read_csv(figures / "entropy.csv")
    layers = micro_config["vlms"][0]["train"].get("num_layers", 2)
    assert sorted(set(entropy["layer"])) == list(range(layers + 1))  # the embeddings and every block
    assert (entropy["entropy"] >= 0).all() and set(entropy["tokens"]) == {"image", "text"}


def planned_jobs(workdir, configfile) -> dict[str, int]:
    """Rule -> jobs that `snakemake -n` would run (rule all left out); without the lock, so that several plans
    of one folder can run at once."""
    proc = snakemake(workdir, "-n", "--nolock", configfile=configfile)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if "Nothing to be done" in proc.stdout + proc.stderr:
        return {}
    table = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal", proc.stdout, re.S).group(1)
    jobs = {line.split()[0]: int(line.split()[1]) for line in table.splitlines()}
    jobs.pop("all", None)
    return jobs


def features(n, browser=None):
    """What reruns downstream of n checkpoints' new language tables (the figures read all three), and of
    `browser` (default n) checkpoints' new pages (a page also reads the matches with its neighbours)."""
    return {"language_tendency": n, "fig4": 1, "granularity_sheet": n, "granularity": n, "browser_page": browser or n,
            "example_features": 2, "fig5": 1, "granularity_accuracy": 1, "browser_index": 1, "matching_transitions": 1}


def saes(trained, analysed, checkpoints=3):
    """What reruns downstream of `trained` new SAEs (fig2's sweep and the seed baseline too) and `analysed`
    checkpoints' new texts and spliced quality: the matches of every pair and of the baseline, so every page."""
    return {"train_sae": trained, "train_sae_seed": 1, "sae_sweep": 1, "fig2": 1, "top_contexts": analysed,
            "sae_quality": analysed, "sae_quality_table": 1, "match_features": checkpoints, "matching_shares": 1,
            **features(analysed, browser=checkpoints)}


def activations(n):
    """What reruns downstream of n checkpoints' new stores: micro.yaml's step-3 keeps its loaded SAE."""
    return {"extract_activations": n, "token_vectors": 1, "matching_sample": n, **saes(n - 1, n, n)}


STALE = [  # (config edit, the rules and job counts that must rerun: no more, no fewer)
    ("language threshold", lambda c: c.setdefault("language", {}).update(threshold=0.8), features(3)),
    ("top-contexts count", lambda c: c["features"].update(top_n=8), {"top_contexts": 3, **features(3)}),
    # step-3's loaded SAE reads no key of the sae block
    ("SAE K", lambda c: c["sae"].update(k=3), saes(2, 2)),
    ("SAE learning-rate grid", lambda c: c["sae"].update(lr_grid=[3.0e-3]), saes(2, 2)),
    ("loaded SAE's format named", lambda c: c["models"][0]["checkpoints"][0]["sae"].update(format="saelens"),
     {"load_sae": 1, "top_contexts": 1, "sae_quality": 1, "sae_quality_table": 1, "match_features": 1,
      "matching_shares": 1, **features(1, browser=2)}),
    ("layer", lambda c: c["models"][0].update(layer=2), activations(3)),
    # a step of a model trained here must be saved, so training reruns and every checkpoint after it; the disk
    # preflight reruns where the set of stores or their sizes change (a new layer changes neither)
    ("checkpoint added", lambda c: c["models"][0]["checkpoints"].insert(2, 20),
     {**activations(4), "train_tinylm": 1, "activations_preflight": 1}),
    ("corpus size", lambda c: c["corpora"][0]["sources"][0].update(n_documents=250),
     {"corpus_documents": 1, "corpus_tokenizer": 1, "corpus_tokens": 1, "train_tinylm": 1,
      "activations_preflight": 1, **activations(3)}),
    ("DAPE top rate", lambda c: c["dape"].update(top_rate=0.1),
     {"dape": 1, "mmneuron_tables": 1, "neurons_by_layer": 1, "ablation": 3, "ablation_tables": 1}),
    ("ablation module groups", lambda c: c["ablation"].update(groups=["none", "lm"]),
     {"ablation": 3, "ablation_tables": 1}),
    ("logit-lens layers", lambda c: c["lens"].update(layers=[0, 2]),
     {"logit_lens": 3, "logit_lens_figure": 3, "entropy_figure": 1}),
    ("keys in another order", lambda c: reverse_keys(c), {}),
]


def reverse_keys(value) -> None:
    """The same config with every mapping's keys in reverse order (as another writer might dump it)."""
    if isinstance(value, dict):
        items = list(value.items())
        value.clear()
        value.update(reversed(items))
        for v in value.values():
            reverse_keys(v)
    elif isinstance(value, list):
        for v in value:
            reverse_keys(v)


@pytest.fixture(scope="module")
def stale_plans(built, tmp_path_factory) -> dict[str, dict[str, int]]:
    """{edit: the jobs `snakemake -n` plans on the built micro workflow after it}, two dry runs at a time."""
    import yaml

    def plan(case):
        name, edit, _ = case
        config = yaml.safe_load(MICRO.read_text())
        edit(config)
        path = tmp_path_factory.mktemp("edited") / "edited.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))  # key order as edited
        return name, planned_jobs(built, path)

    with ThreadPoolExecutor(2) as pool:
        return dict(pool.map(plan, STALE))


@pytest.mark.parametrize("name, expected", [(name, x) for name, _, x in STALE], ids=[name for name, _, _ in STALE])
def test_a_config_edit_reruns_exactly_the_stale_rules(stale_plans, name, expected):
    assert stale_plans[name] == expected
