"""Branch B at the paper's scale, on stand-ins made here: how memory grows with the dataset and the layers, and
what a question costs.

  prepare    peak RSS of preparing a folder source of incompressible images (three sizes, the largest >= 2 GB),
             of reading 200 samples of it back in a seeded order, and — for comparison — of holding the split in
             memory as the previous preparation and readers did
  lens       peak RSS of the logit lens on one prompt of T positions through a random-weight Llama with a 32,064
             vocabulary at several depths, layer by layer (ours) against unembedding the whole stack at once
  questions  seconds per question of counting, ablation (beam 1 and 5) and the lens on a random-weight
             LLaVA-NeXT (the real processor: 336-px crops, anyres grid) at reduced widths, and of the planning
             pass (the processor alone)

Every measurement runs in a fresh process (multiprocessing, spawn), whose ru_maxrss is its peak RSS.

    python benchmarks/mmneuron.py prepare --sizes-gb 0.5 1 2
    python benchmarks/mmneuron.py lens --positions 3000 --layers 2 4 8
    python benchmarks/mmneuron.py questions --samples 3
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

IMAGE_SIDE = 600  # a 600x600 RGB PNG of noise: about 1.08 MB, as large as a COCO photo is a few times over


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(function, *args):
    """function(*args) in a spawned process: (its result, its peak RSS in MB)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measured, (function, *args))


def _measured(function, *args):
    result = function(*args)
    return result, peak_rss_mb()


# --- prepare ---------------------------------------------------------------------------------------------------

def make_folder(root: Path, images: int) -> int:
    """`images` distinct noise PNGs and a records.jsonl of one question each; returns the bytes of images."""
    from PIL import Image

    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    total = 0
    with open(root / "records.jsonl", "w") as records:
        for i in range(images):
            pixels = np.roll(base, i, axis=1)  # distinct bytes, still noise
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
            (root / "img" / f"{i}.png").write_bytes(buffer.getvalue())
            total += buffer.tell()
            records.write(json.dumps({"id": f"q{i}", "image": f"img/{i}.png", "question": "What is it?",
                                      "answers": ["noise"], "split": "train" if i % 10 else "validation"}) + "\n")
    return total


def prepare_and_merge(folder: str, out: str) -> float:
    from lmscope.mmneuron import domains

    spec = {"kind": "folder", "path": folder, "records": "records.jsonl", "validation_share": 0.1, "seed": 0}
    start = time.perf_counter()
    domains.prepare("common", spec, "folder0", Path(out) / "source")
    domains.merge("common", [str(Path(out) / "source")], Path(out) / "samples")
    return time.perf_counter() - start


def read_some(samples: str, n: int) -> float:
    from lmscope.mmneuron.samples import read_index, read_rows, seeded_order

    start = time.perf_counter()
    index = read_index(samples, "train")
    order = seeded_order(index, seed=0, distinct_images=True)[:n]
    assert sum(len(r["images"][0]) > 0 for r in read_rows(samples, "train", order, index)) == len(order)
    return time.perf_counter() - start


def read_all(samples: str) -> float:
    """The previous readers: the whole split read, then its first samples taken."""
    from lmscope.mmneuron.samples import read_split

    start = time.perf_counter()
    read_split(samples, "train").head(200)
    return time.perf_counter() - start


def hold_all(folder: str) -> float:
    """The previous preparation: every record of the split in a list, then one DataFrame written."""
    import polars as pl

    start = time.perf_counter()
    rows = [dict(json.loads(line), blob=(Path(folder) / json.loads(line)["image"]).read_bytes())
            for line in (Path(folder) / "records.jsonl").read_text().splitlines()]
    pl.DataFrame(rows).write_parquet(Path(folder).parent / "held.parquet")
    return time.perf_counter() - start


def bench_prepare(args) -> None:
    print("| images | image GB | prepare + merge s | prepare peak MB | read 200 (seeded) peak MB | "
          "read whole split peak MB | hold split (previous) peak MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes_gb:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            images = int(size * 1e9 / (IMAGE_SIDE * IMAGE_SIDE * 3 * 1.003))
            total = make_folder(Path(tmp) / "folder", images)
            seconds, prepared = in_fresh_process(prepare_and_merge, str(Path(tmp) / "folder"), str(Path(tmp) / "out"))
            _, some = in_fresh_process(read_some, str(Path(tmp) / "out" / "samples"), 200)
            _, whole = in_fresh_process(read_all, str(Path(tmp) / "out" / "samples"))
            _, held = in_fresh_process(hold_all, str(Path(tmp) / "folder"))
            print(f"| {images:,} | {total / 1e9:.2f} | {seconds:.0f} | {prepared:,.0f} | {some:,.0f} | {whole:,.0f} | "
                  f"{held:,.0f} |", flush=True)


# --- lens ------------------------------------------------------------------------------------------------------

def lens_model(layers: int, hidden: int, vocab: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 11008 // 4096, num_hidden_layers=layers,
                         num_attention_heads=hidden // 128, num_key_value_heads=hidden // 128, vocab_size=vocab,
                         max_position_embeddings=4096)
    return LlamaForCausalLM(config).eval()


def lens_run(layers: int, hidden: int, vocab: int, positions: int, whole_stack: bool) -> tuple[float, float]:
    """(seconds, peak RSS after the forward pass and weights, in MB) of one lens read."""
    import torch

    from lmscope.mmneuron import logit_lens

    torch.set_num_threads(2)
    model = lens_model(layers, hidden, vocab)
    inputs = {"input_ids": torch.randint(0, vocab, (1, positions))}
    with torch.no_grad():
        model(**inputs, output_hidden_states=True)  # weights and one forward: the floor both ways share
    floor = peak_rss_mb()
    start = time.perf_counter()
    with torch.no_grad():
        if whole_stack:  # the previous lens: every layer's logits stacked, then softmaxes over the stack
            states = model(**inputs, output_hidden_states=True).hidden_states
            norm, head = logit_lens.final_norm(model), model.get_output_embeddings()
            stack = torch.stack([head(norm(h)) for h in states[:-1]] + [head(states[-1])]).float()[:, 0]
            logit_lens.entropy(stack)
            logit_lens.top_tokens(stack, 5)
        else:
            logit_lens.read_sample(model, inputs, None, 5)
    return time.perf_counter() - start, peak_rss_mb() - floor


def bench_lens(args) -> None:
    print("| layers | hidden | vocab | positions | ours s | ours MB above forward | whole stack s | "
          "whole stack MB above forward |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for layers in args.layers:
        (ours_s, ours_mb), _ = in_fresh_process(lens_run, layers, args.hidden, args.vocab, args.positions, False)
        (old_s, old_mb), _ = in_fresh_process(lens_run, layers, args.hidden, args.vocab, args.positions, True)
        print(f"| {layers} | {args.hidden} | {args.vocab:,} | {args.positions:,} | {ours_s:.1f} | {ours_mb:,.0f} | "
              f"{old_s:.1f} | {old_mb:,.0f} |", flush=True)


# --- questions -------------------------------------------------------------------------------------------------

def llava_next(vision_hidden: int, text_hidden: int, layers: int):
    """A random-weight LLaVA-NeXT with the 7B's image geometry (CLIP-L/14 at 336 px, its anyres grid, 32,064
    vocabulary, 4,096 positions) and reduced widths and depths; its processor as the hub's, tokenizer word-level."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration,
                              LlavaNextImageProcessorPil, LlavaNextProcessor, PreTrainedTokenizerFast)

    from lmscope.mmneuron import prompts

    words = ["<unk>", "<s>", "</s>", prompts.IMAGE] + sorted(set(
        (prompts.LLAVA_SYSTEM + " USER: ASSISTANT: Question: What is in the image ? Context: N/A "
         + prompts.OPEN_INSTRUCTION).replace(".", " . ").replace(",", " , ").replace("'", " ' ").split()))
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<unk>",
                                        extra_special_tokens={"image_token": prompts.IMAGE})
    pinpoints = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]
    image_processor = LlavaNextImageProcessorPil(image_grid_pinpoints=pinpoints, size={"shortest_edge": 336},
                                                 crop_size={"height": 336, "width": 336})
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1)
    torch.manual_seed(0)
    config = LlavaNextConfig(
        vision_config=CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=4 * vision_hidden,
                                       num_hidden_layers=layers, num_attention_heads=vision_hidden // 64,
                                       image_size=336, patch_size=14),
        text_config=LlamaConfig(hidden_size=text_hidden, intermediate_size=text_hidden * 11008 // 4096,
                                num_hidden_layers=layers, num_attention_heads=text_hidden // 128,
                                num_key_value_heads=text_hidden // 128, vocab_size=32064,
                                max_position_embeddings=4096),
        image_token_index=tokenizer.convert_tokens_to_ids(prompts.IMAGE), image_grid_pinpoints=pinpoints)
    return LlavaNextForConditionalGeneration(config).eval(), processor


def question_times(vision_hidden: int, text_hidden: int, layers: int, samples: int) -> dict:
    import torch
    from PIL import Image

    from lmscope.mmneuron import ablation, logit_lens
    from lmscope.mmneuron.mlp_neurons import NeuronHooks
    from lmscope.mmneuron.records import png
    from lmscope.mmneuron.vlm_inputs import evaluation_inputs, identification_inputs

    torch.set_num_threads(2)
    model, processor = llava_next(vision_hidden, text_hidden, layers)
    rng = np.random.default_rng(0)
    frames = [png(Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8))) for _ in range(samples)]
    rows = [{"images": [f], "question": "What is in the image ?", "choices": []} for f in frames]
    hooks = NeuronHooks(model)
    times = {}

    def timed(name, step):
        start = time.perf_counter()
        for row in rows:
            with torch.no_grad():
                step(row)
        times[name] = (time.perf_counter() - start) / len(rows)

    timed("plan (processor only)", lambda r: identification_inputs("llava_next", processor, r, "tile"))
    times["positions"] = int(identification_inputs("llava_next", processor, rows[0], "tile")["input_ids"].shape[1])

    def counting(row):
        with hooks.counting():
            model(**identification_inputs("llava_next", processor, row, "tile"))
    timed("count", counting)
    for beams in (1, 5):
        generation = {"num_beams": beams, "do_sample": False, "max_new_tokens": 8, "min_new_tokens": 8}
        timed(f"answer, beam {beams}", lambda r: ablation.answer(
            model, processor, dict(evaluation_inputs("llava_next", processor, r, "", "tile")), generation))
    timed("lens", lambda r: logit_lens.read_sample(model, dict(evaluation_inputs("llava_next", processor, r, "",
                                                                                 "tile")), None, 5))
    hooks.remove()
    return times


def bench_questions(args) -> None:
    times, peak = in_fresh_process(question_times, args.vision_hidden, args.text_hidden, args.model_layers,
                                   args.samples)
    print(f"random-weight LLaVA-NeXT, vision {args.vision_hidden} / text {args.text_hidden} wide, "
          f"{args.model_layers} layers each, {times.pop('positions'):,} positions per question, peak {peak:,.0f} MB")
    print("| step | s per question |")
    print("| --- | --- |")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    prepare = sub.add_parser("prepare")
    prepare.add_argument("--sizes-gb", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    prepare.add_argument("--tmp", default=None, help="where the stand-in dataset is written")
    lens = sub.add_parser("lens")
    lens.add_argument("--layers", type=int, nargs="+", default=[2, 4, 8])
    lens.add_argument("--hidden", type=int, default=1024)
    lens.add_argument("--vocab", type=int, default=32064)
    lens.add_argument("--positions", type=int, default=3000)
    questions = sub.add_parser("questions")
    questions.add_argument("--vision-hidden", type=int, default=256)
    questions.add_argument("--text-hidden", type=int, default=512)
    questions.add_argument("--model-layers", type=int, default=2)
    questions.add_argument("--samples", type=int, default=3)
    args = ap.parse_args()
    {"prepare": bench_prepare, "lens": bench_lens, "questions": bench_questions}[args.what](args)


if __name__ == "__main__":
    main()
