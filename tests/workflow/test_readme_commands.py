"""Every snakemake command README.md documents plans as written (issue 16): each is run with -n from a folder laid
out like a checkout (the workflow, config.yaml, presets and profiles linked in; the mmneuron preset's
downloaded files made empty, where a user puts them), with `snakemake` or `.venv/bin/snakemake` replaced by this
interpreter's. A `--report` command needs finished results: it must get as far as asking for them."""

import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import REPO, place_mmneuron_downloads

LINKED = ("Snakefile", "config.yaml", "presets", "profiles", "workflow", "scripts", "lmscope", "envs")
COMMAND = re.compile(r"(?:^ {4}|`)((?:\.venv/bin/)?snakemake(?: [^`#\n]*)?)", re.M)


def documented_commands(text: str) -> list[str]:
    """The snakemake command lines of README's code blocks and inline code, comments cut, in order, once each."""
    found = []
    for match in COMMAND.finditer(text):
        command = match.group(1).strip()
        if command not in found:
            found.append(command)
    return found


def test_the_commands_are_read_from_the_readme():
    sample = ("run\n\n    .venv/bin/snakemake --cores 2 results/x.pdf   # a comment\n    snakemake -n\n"
              "inline `snakemake --unlock`, and `.venv/bin/snakemake --cores 2 results/x.pdf` again\n")
    assert documented_commands(sample) == [".venv/bin/snakemake --cores 2 results/x.pdf", "snakemake -n",
                                           "snakemake --unlock"]
    commands = documented_commands((REPO / "README.md").read_text())
    assert any("--configfile presets/mmneuron.yaml" in c for c in commands) and len(commands) >= 8


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkout")
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    place_mmneuron_downloads(root)
    return root


def dry_run(command: str, cwd) -> tuple[str, subprocess.CompletedProcess]:
    args = shlex.split(command)
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args[1:], "-n"], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    return command, proc


def test_every_documented_command_plans(checkout):
    commands = documented_commands((REPO / "README.md").read_text())
    with ThreadPoolExecutor(2) as pool:  # two dry runs at a time: each is one busy core
        results = list(pool.map(lambda c: dry_run(c, checkout), commands))
    failed = []
    for command, proc in results:
        out = proc.stdout + proc.stderr
        if "--report" in command:
            ok = "marked for report but does not exist" in out
        else:
            ok = proc.returncode == 0
        if not ok:
            failed.append(f"{command}\n{out[-1500:]}")
    assert not failed, "\n\n".join(failed)
