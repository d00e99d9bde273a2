"""``python -m diffem`` that SIGKILLs itself at a chosen point of a chosen lap (for the fault tests).

    python tests/fault_driver.py PHASE LAP -- train ARGS...

PHASE: ``estep`` (as the E-step starts), ``mstep`` (after 10 optimiser steps of the M-step) or
``write`` (the lap's files are in its staging folder, before its manifest and rename).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import torch

from diffem import cli
from diffem.em import laps, methods


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_at_estep(lap: int) -> None:
    original = methods.EMMethod.estep

    def estep(self: Any, posterior: Any, at: int, *args: Any, **kwargs: Any) -> Any:
        if at == lap:
            die()
        return original(self, posterior, at, *args, **kwargs)

    methods.EMMethod.estep = estep  # type: ignore[method-assign]


def kill_in_mstep(lap: int, after_steps: int = 10) -> None:
    original = methods.EMMethod.train

    def train(self: Any, denoiser: Any, data: Any, at: int, *args: Any, **kwargs: Any) -> Any:
        if at == lap:
            adam_step = torch.optim.Adam.step
            done = [0]

            def step(optimizer: Any, *a: Any, **k: Any) -> Any:
                done[0] += 1
                if done[0] == after_steps:
                    die()
                return adam_step(optimizer, *a, **k)

            torch.optim.Adam.step = step  # type: ignore[method-assign]
        return original(self, denoiser, data, at, *args, **kwargs)

    methods.EMMethod.train = train  # type: ignore[method-assign]


def kill_while_writing(lap: int) -> None:
    original = laps.write_manifest

    def write_manifest(folder: Any) -> None:
        if folder.name.startswith(f".lap-{lap:04d}."):
            die()
        original(folder)

    laps.write_manifest = write_manifest


ARM = {"estep": kill_at_estep, "mstep": kill_in_mstep, "write": kill_while_writing}

if __name__ == "__main__":
    phase, lap, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: fault_driver.py PHASE LAP -- ARGS..."
    ARM[phase](int(lap))
    sys.exit(cli.main(argv))
