"""The stages of training that figs. 3 and 6 show: the first, the middle and the last checkpoint.

A module of its own, without dependencies, because the workflow reads it while it plans (figures.smk) and every
`snakemake` call, a dry run included, pays for what it imports.
"""

from __future__ import annotations

STAGES = ("early", "middle", "final")


def stage_checkpoints(checkpoints: list[str], chosen: list[str] = ()) -> dict[str, str]:
    """{stage: checkpoint}. By default the first, the middle and the last of `checkpoints` (in training order;
    fewer stages when fewer checkpoints exist). `chosen` (config examples.checkpoints, names in training order)
    picks them instead, as the paper's figs. 3 and 6 show steps 100, 10,000 and the last: three are early,
    middle and final, two early and final, one early."""
    if chosen:
        stages = STAGES if len(chosen) == 3 else ("early", "final")  # zip: one name is early alone
        return dict(zip(stages, chosen))
    picks = {"early": checkpoints[0], "middle": checkpoints[(len(checkpoints) - 1) // 2], "final": checkpoints[-1]}
    out, seen = {}, set()
    for stage, ckpt in picks.items():
        if ckpt not in seen:
            out[stage] = ckpt
            seen.add(ckpt)
    return out
