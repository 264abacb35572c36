"""The feature browser at the paper's scale: does a checkpoint of 32,768 features x 50 texts open fast from disk?

The checkpoint is made up with numpy (tests/paper_scale_checkpoint.py: the tables browser_page reads, with 64-token
windows of the synthetic world's text over --docs documents, so that a block's texts show mostly distinct
documents, as at the paper's scale); the page is built by the real run_page. Measured:
  build         run_page's wall time and peak RSS (ru_maxrss), in a fresh process
  sizes         the page, its shards (mean and largest), the token index, the font, the folder
  first render  in headless Chromium from file://: the page's own performance.now() when the first 20 cards have
                their texts (data-first-render-ms, counted from navigation start, so reading and parsing the page
                are in it, starting Chromium is not); and the bytes read by then, the page and the scripts it had
                loaded (data-first-render-files)
  late feature  the page opened at #feature=32000 and at #token=ユニコーン (the one token only feature 32,000's texts
                activate on): from the search to its card having its texts (data-render-ms), which loads the
                feature's shard, and for the token the token index first
  common token  the same for #token=river, which thousands of features' texts activate on: the first 20 cards,
                from as many shards
Chromium runs without --virtual-time-budget, whose virtual clock would make performance.now() meaningless;
--dump-dom prints the DOM after the load event, which waits for every script the page has inserted by then.
Each browser measurement is the median of --loads fresh launches.

    python benchmarks/browser.py --docs 16000
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the made-up checkpoint lives with the tests
import paper_scale_checkpoint  # noqa: E402


def build(tables: dict, page: Path, shards: Path) -> tuple[float, float]:
    """run_page in this (fresh) process: its wall seconds and this process's peak RSS in MB."""
    from lmscope.sae_checkpoints.browser import run_page

    start = time.perf_counter()
    run_page(**tables, page=page, shards=shards)
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def body_attributes(browser: str, url: str) -> dict[str, str]:
    """The data- attributes of <body> after the page has loaded, from a fresh headless Chromium."""
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--disable-background-networking", "--no-first-run", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    body = re.search(r"<body([^>]*)>", proc.stdout).group(1)
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body))
    if attributes.get("ready") != "1":
        raise RuntimeError(f"{url}: the page did not finish rendering before Chromium printed it")
    return attributes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, default=32_768)
    ap.add_argument("--texts", type=int, default=50)
    ap.add_argument("--docs", type=int, default=16_000)
    ap.add_argument("--tokens-per-doc", type=int, default=64)
    ap.add_argument("--loads", type=int, default=5, help="Chromium launches per browser measurement")
    ap.add_argument("--common-token", default="river", help="a token many features' texts activate on")
    args = ap.parse_args()
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        raise SystemExit("no chromium: bash tests/install_browser.sh")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tables = paper_scale_checkpoint.write_checkpoint(root / "features", args.features, args.texts, args.docs,
                                                         args.tokens_per_doc)
        page, shards = root / "step-1.html", root / "step-1"
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            seconds, peak_mb = pool.apply(build, (tables, page, shards))
        mb = {"page": page.stat().st_size / 1e6, "tokens": (shards / "tokens.js").stat().st_size / 1e6,
              "font": (shards / "font.js").stat().st_size / 1e6,
              "folder": sum(f.stat().st_size for f in shards.iterdir()) / 1e6}
        shard_mb = [f.stat().st_size / 1e6 for f in shards.glob("shard-*.js")]

        def median(url: str, key: str) -> tuple[float, dict]:
            runs = [body_attributes(browser, url) for _ in range(args.loads)]
            return statistics.median(float(r[key]) for r in runs), runs[0]

        first_ms, first = median(page.as_uri(), "first-render-ms")
        before = page.stat().st_size + sum((shards / f).stat().st_size for f in first["first-render-files"].split())
        feature_ms, _ = median(f"{page.as_uri()}#feature={paper_scale_checkpoint.MARKED}", "render-ms")
        token_ms, _ = median(f"{page.as_uri()}#token={paper_scale_checkpoint.MARK}", "render-ms")
        common_ms, common = median(f"{page.as_uri()}#token={args.common_token}", "render-ms")
        common_shards = len(common["first-render-files"].split()) - 1  # besides tokens.js

    print("| features x texts | tokens/text | docs | build s | build peak MB | page MB | shard MB (mean, max) | "
          "tokens.js MB | font.js MB | folder MB | first render ms | MB before first render | "
          "late feature by id ms | by token ms | common token: 20 cards ms (shards) |")
    print("| --- " * 15 + "|")
    print(f"| {args.features:,} x {args.texts} | {args.tokens_per_doc} | {args.docs:,} | {seconds:.0f} "
          f"| {peak_mb:,.0f} | {mb['page']:.2f} | {statistics.mean(shard_mb):.2f}, {max(shard_mb):.2f} "
          f"| {mb['tokens']:.2f} | {mb['font']:.2f} | {mb['folder']:,.0f} | {first_ms:.0f} | {before / 1e6:.2f} "
          f"| {feature_ms:.0f} | {token_ms:.0f} | {common_ms:.0f} ({common_shards}) |")


if __name__ == "__main__":
    main()
