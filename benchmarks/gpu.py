"""The measurements of issue 23, one part per call (benchmarks/gpu.sh runs them in turn, each in its own process
and under its own time limit); every part prints a markdown table, one row per measurement.

  sae       the matmul peak (bf16 and TF32, one big product), then the TopK SAE at d=2048, n=32768, K=32, batch
            32768 tokens for lmscope, SAELens and sparsify on the very same batches (sae_train.py), each in TF32
            and bf16 where it has both: tokens/s, held-out FVU, the fraction of the encoder-matmul FLOP bound
            (2·d·n FLOP a token, forward, at the measured bf16 peak), and lmscope against each peer;
  extract   LLM-jp-3-1.8B's shape (random weights) to layer 12 in bf16, lmscope's extraction against a plain
            output_hidden_states=True forward with the same writes (extract.py), per codec;
  reader    the shuffled reader feeding lmscope's bf16 step at the paper's batch (reader.py), per codec;
  workflow  the embedded default (config.yaml) to fig4 and table 1 with --config device=DEVICE, its numbers
            against a reference run's (a CPU run's: --reference).

--tiny shrinks every size so that all of it runs on a 2-core CPU in a few minutes (the workflow part then runs
tests/micro.yaml). Sizes and steps are chosen so that the whole runs in about 8 minutes on one H200
(benchmarks/README.md, GPU).

    python benchmarks/gpu.py sae --device cuda
    python benchmarks/gpu.py workflow --device cuda --reference .gpu-ref
    python benchmarks/gpu.py sae extract reader workflow --device cpu --tiny
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # lmscope's progress bars; before anything imports tqdm

import torch  # noqa: E402

from growth_table import header, row  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# (GPU sizes, --tiny sizes)
SAE = dict(d=(2048, 64), expansion=(16, 16), k=(32, 8), batch=(32768, 512), steps=(150, 20), batches=(40, 8),
           heldout=(20_000, 2048))
# (library, precision, which learning rates of --lr): every precision a library has at the first rate, and its
# fastest (bf16) at every rate, since the libraries' best rates differ (tiny scan: lmscope's lower than SAELens's)
SAE_RUNS = [("lmscope", "tf32", 1), ("lmscope", "bf16", None), ("lmscope+b_enc", "bf16", None),
            ("sae_lens", "tf32", 1), ("sae_lens", "bf16", None),
            ("sparsify", "bf16", None)]  # sparsify's forward autocasts to bf16 on CUDA anyway
LRS = ((5e-4, 2e-3), (2e-3, 8e-3))  # GPU / --tiny: 1e-2 at d=128 on the CPU, about 1/sqrt(d) lower at d=2048
EXTRACT = dict(model=("llm-jp-3-1.8b", "tiny"), docs=(4096, 64), batch=(64, 16), codecs=(("zstd", "lz4"), ("zstd",)))
READER = dict(d=(2048, 64), batch=(32768, 512), batches=(16, 8), steps=(12, 6), codecs=(("zstd", "lz4", "none"),
                                                                                        ("zstd", "none")))
GOALS = {"sparsify": 1.5, "sae_lens": 3.0}  # lmscope's tokens/s at least this many times the peer's (issue 23)


def size(table: dict, key: str, tiny: bool):
    return table[key][1 if tiny else 0]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int = 10) -> float:
    """TFLOP/s of an n×n×n product (random data), the mean of `reps` after 3 warm-ups; float32 runs as TF32."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        for _ in range(3):
            a @ b
        sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e12
    finally:
        torch.set_float32_matmul_precision(before)


def part_sae(args, device: torch.device) -> None:
    import sae_train

    tiny = args.tiny
    d, k, batch, steps = (size(SAE, key, tiny) for key in ("d", "k", "batch", "steps"))
    n = d * size(SAE, "expansion", tiny)
    t0 = time.perf_counter()
    peak_n = 8192 if device.type == "cuda" else 1024
    bf16, tf32 = (matmul_peak(device, dtype, peak_n) for dtype in (torch.bfloat16, torch.float32))
    print(header("matmul peak", "device", "bf16 TFLOP/s", "TF32 TFLOP/s", "s"))
    print(row(f"{peak_n}×{peak_n}×{peak_n}, mean of 10", device_name(device), f"{bf16:,.1f}", f"{tf32:,.1f}",
              f"{time.perf_counter() - t0:.1f}"), flush=True)

    t0 = time.perf_counter()
    rows = sae_train.sparse_rows(size(SAE, "batches", tiny) * batch + size(SAE, "heldout", tiny), d, n, k,
                                 device=device)
    heldout = rows[size(SAE, "batches", tiny) * batch:]
    batches = list(rows[:size(SAE, "batches", tiny) * batch].split(batch))
    sync(device)
    print(f"\n{len(batches)} distinct batches of sparse_rows ({d}-d, {n} atoms, {k} active) made in "
          f"{time.perf_counter() - t0:.1f} s; {steps} timed steps after 3 warm-up steps\n")
    print(header("library", "precision", "SAE", "batch × steps", "tokens/s", "held-out FVU",
                 "of FLOP bound (bf16 peak)", "peak GB", "s"))
    flop_per_token = 2 * d * n
    results = []
    lrs = args.lr or LRS[1 if tiny else 0]
    for name, precision, n_lrs in SAE_RUNS:
        for lr in lrs[:n_lrs]:
            t0 = time.perf_counter()
            shape = f"d={d}, n={n}, K={k}, lr {lr:g}"
            try:
                [r] = sae_train.train([(name, precision)], batches, heldout, n, k, lr, steps, warmup=3)
            except Exception as e:  # a peer that does not import or run here: say so, measure the rest
                why = f"{type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}"
                print(row(name, precision, shape, f"{batch} × {steps}", f"failed: {why}", "", "", "",
                          f"{time.perf_counter() - t0:.1f}"), flush=True)
                continue
            results.append({**r, "lr": lr})
            peak_gb = f"{r['peak_gb']:.1f}" if r["peak_gb"] is not None else "—"
            print(row(name, precision, shape, f"{batch} × {steps}", f"{r['tokens_per_s']:,.0f}", f"{r['fvu']:.4f}",
                      f"{r['tokens_per_s'] * flop_per_token / (bf16 * 1e12):.1%}", peak_gb,
                      f"{time.perf_counter() - t0:.1f}"), flush=True)

    def fastest(library):
        """The library's fastest precision: its best tokens/s there, and its best FVU there over the rates."""
        mine = [r for r in results if r["library"] == library]
        if not mine:
            return None
        top = max(mine, key=lambda r: r["tokens_per_s"])
        same = [r for r in mine if r["precision"] == top["precision"]]
        best = min(same, key=lambda r: r["fvu"])
        return dict(precision=top["precision"], tokens_per_s=max(r["tokens_per_s"] for r in same),
                    fvu=best["fvu"], lr=best["lr"])

    print()
    print(header("lmscope (fastest precision, best lr)", "peer (fastest precision, best lr)", "tokens/s ratio",
                 "goal", "FVU lmscope / peer", "goal met"))
    for ours in ("lmscope", "lmscope+b_enc"):
        for peer, goal in GOALS.items():
            a, b = fastest(ours), fastest(peer)
            if a is None or b is None:
                print(row(ours, peer, "not measured", f"≥ {goal}×", "", ""))
                continue
            ratio = a["tokens_per_s"] / b["tokens_per_s"]
            met = ratio >= goal and a["fvu"] <= b["fvu"] * 1.01  # "equal" FVU: within 1%
            print(row(f"{ours} ({a['precision']}, lr {a['lr']:g})", f"{peer} ({b['precision']}, lr {b['lr']:g})",
                      f"{ratio:.2f}×", f"≥ {goal}×", f"{a['fvu']:.4f} / {b['fvu']:.4f}",
                      "yes" if met else "**no**"))


def part_extract(args, device: torch.device) -> None:
    import extract

    dtype = "bfloat16"
    t0 = time.perf_counter()
    model, layer = extract.build_model(size(EXTRACT, "model", args.tiny), str(device), dtype)
    print(f"model built in {time.perf_counter() - t0:.1f} s\n")
    print(header("model", "layer", "device", "dtype", "codec", "batch (docs)", "tokens", "ours tok/s",
                 "plain tok/s", "ours / plain", "max diff", "s"))
    cfg = model.config
    for codec in size(EXTRACT, "codecs", args.tiny):
        t0 = time.perf_counter()
        r = extract.measure(model, layer, size(EXTRACT, "docs", args.tiny), size(EXTRACT, "batch", args.tiny), codec)
        print(row(f"{size(EXTRACT, 'model', args.tiny)} ({cfg.num_hidden_layers} blocks, d={cfg.hidden_size})",
                  layer, device_name(device), dtype, codec, size(EXTRACT, "batch", args.tiny), f"{r['tokens']:,}",
                  f"{r['ours']:,.0f}", f"{r['plain']:,.0f}", f"{r['ours'] / r['plain']:.2f}",
                  f"{r['max_diff']:.1e}", f"{time.perf_counter() - t0:.1f}"), flush=True)


def part_reader(args, device: torch.device) -> None:
    import reader

    d, batch, steps = (size(READER, key, args.tiny) for key in ("d", "batch", "steps"))
    rows = batch * size(READER, "batches", args.tiny)
    print(header("SAE step (lmscope, bf16)", "batch", "rows", "codec", "device", "reader tok/s", "step tok/s",
                 "fed tok/s", "fed / step", "goal ≥ 0.9", "s"))
    for codec in size(READER, "codecs", args.tiny):
        t0 = time.perf_counter()
        r = reader.measure(d, rows, batch, 16, 32 if not args.tiny else 8, steps, str(device), codec, "bf16")
        ratio = r["fed"] / r["step"]
        print(row(f"d={d}, n={16 * d}", batch, f"{rows:,}", codec, device_name(device), f"{r['reader']:,.0f}",
                  f"{r['step']:,.0f}", f"{r['fed']:,.0f}", f"{ratio:.2f}", "yes" if ratio >= 0.9 else "**no**",
                  f"{time.perf_counter() - t0:.1f}"), flush=True)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def find_result(root: Path, name: str) -> Path | None:
    """`name` (e.g. results/figures/fig4.csv) under a workflow directory, or its file name directly in `root`."""
    for path in (root / name, root / Path(name).name):
        if path.is_file():
            return path
    return None


FIG4 = "results/figures/fig4.csv"
TABLE1 = "results/figures/mmneuron/table1.csv"


def part_workflow(args, device: torch.device) -> None:
    configfile = REPO / ("tests/micro.yaml" if args.tiny else "config.yaml")
    workdir = Path(tempfile.mkdtemp(prefix="lmscope-gpu-"))
    if args.tiny:  # micro.yaml's first checkpoint loads a released SAE that the tests write
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import write_micro_sae

        write_micro_sae(workdir)
    cores = os.cpu_count() or 2
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
           str(configfile), "--config", f"device={args.device}", "--cores", str(cores), "--scheduler", "greedy",
           "results/figures/fig4.pdf", TABLE1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    t0 = time.perf_counter()
    # its own process group, so that a run past the limit is stopped with every job it started
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=args.workflow_timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            log, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            log, _ = proc.communicate()
        rc = f"stopped at {args.workflow_timeout:.0f} s"
    wall = time.perf_counter() - t0
    done = log.count("Finished jobid")
    print(header("workflow", "config", "device", "cores", "wall s", "jobs finished", "exit"))
    print(row("fig4 + table 1", configfile.relative_to(REPO), f"{args.device} ({device_name(device)})", cores,
              f"{wall:.0f}", done, rc), flush=True)
    keep = Path(args.keep) if args.keep else (Path(os.environ["OUT"]) / f"workflow-{device.type}"
                                              if os.environ.get("OUT") else None)
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "snakemake.log").write_text(log[-200_000:])
    if rc != 0:
        print("\n" + "\n".join(log.splitlines()[-40:]))
    mine = {name: find_result(workdir, name) for name in (FIG4, TABLE1)}
    if keep:
        for path in mine.values():
            if path:
                shutil.copy(path, keep / path.name)
    ref_root = Path(args.reference) if args.reference else None
    theirs = {name: find_result(ref_root, name) if ref_root else None for name in (FIG4, TABLE1)}

    print("\n" + header("fig4 checkpoint", f"ja / en / mixed / dead ({args.device})", "reference (CPU)",
                        "max abs Δ share"))
    fig4_delta = None
    if mine[FIG4]:
        ref = {r["checkpoint"]: r for r in read_csv(theirs[FIG4])} if theirs[FIG4] else {}
        fig4_delta = 0.0 if ref else None
        for r in read_csv(mine[FIG4]):
            o = ref.get(r["checkpoint"])
            shares = lambda x: "{share_ja:.3f} / {share_en:.3f} / {share_mixed:.3f} / {dead}".format(
                **{k: float(v) if k.startswith("share") else v for k, v in x.items()})
            delta = (max(abs(float(r[c]) - float(o[c])) for c in ("share_ja", "share_en", "share_mixed"))
                     if o else None)
            if delta is not None:
                fig4_delta = max(fig4_delta, delta)
            print(row(r["checkpoint"], shares(r), shares(o) if o else "no reference",
                      f"{delta:.3f}" if delta is not None else "—"))
    else:
        print(row("—", "not made", "", ""))

    print("\n" + header("table 1 domain", f"neurons per module ({args.device})", "reference (CPU)", "max abs Δ"))
    table1_ok = None
    if mine[TABLE1]:
        ref = {r["domain"]: r for r in read_csv(theirs[TABLE1])} if theirs[TABLE1] else {}
        table1_ok = True if ref else None
        for r in read_csv(mine[TABLE1]):
            o = ref.get(r["domain"])
            cols = [c for c in r if c != "domain"]
            counts = lambda x: " / ".join(x[c] for c in cols)
            delta = max(abs(int(r[c]) - int(o[c])) for c in cols) if o else None
            if delta is not None:  # a heuristic, not a bound: what bf16 explains is judged by eye
                table1_ok &= all(abs(int(r[c]) - int(o[c])) <= max(2, 0.2 * int(o[c])) for c in cols)
            print(row(r["domain"], counts(r), counts(o) if o else "no reference",
                      delta if delta is not None else "—"))
    else:
        print(row("—", "not made", "", ""))
    if ref_root:
        agree = fig4_delta is not None and fig4_delta <= 0.05 and table1_ok
        print(f"\nagreement with {ref_root} (heuristic: fig4 shares within 0.05, table 1 counts within "
              f"max(2, 20%)): {'yes' if agree else 'NO — compare the numbers above'}")
    shutil.rmtree(workdir, ignore_errors=True)


PARTS = {"sae": part_sae, "extract": part_extract, "reader": part_reader, "workflow": part_workflow}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parts", nargs="+", choices=list(PARTS) + ["versions"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="CPU-sized everything (smoke test)")
    ap.add_argument("--lr", type=float, nargs="+", help="SAE learning rates (default: LRS)")
    ap.add_argument("--threads", type=int, default=min(os.cpu_count() or 2, 16))
    ap.add_argument("--reference", help="a reference run of the workflow part (its --keep folder or workdir)")
    ap.add_argument("--keep", help="copy the workflow part's fig4.csv, table1.csv and log here")
    ap.add_argument("--workflow-timeout", type=float, default=270)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: use --device cpu (with --tiny on a small machine)")
    for part in args.parts:
        if part == "versions":
            versions(device)
            continue
        t0 = time.perf_counter()
        print(f"\n### {part} ({'tiny, ' if args.tiny else ''}{args.device})\n", flush=True)
        PARTS[part](args, device)
        print(f"\n{part}: {time.perf_counter() - t0:.0f} s", flush=True)


def versions(device: torch.device) -> None:
    from importlib.metadata import PackageNotFoundError, version

    names = ["torch", "transformers", "tokenizers", "numpy", "zarr", "numcodecs", "polars", "snakemake", "sae-lens",
             "eai-sparsify", "triton"]

    def v(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return "—"

    cuda = f"CUDA {torch.version.cuda}" if device.type == "cuda" else "no CUDA"
    print(header("machine", "python", "cuda", *names))
    print(row(device_name(device), platform.python_version(), cuda, *(v(n) for n in names)), flush=True)


if __name__ == "__main__":
    main()
