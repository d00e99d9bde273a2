r"""The processes of an EM run: one, or many through Hugging Face ``accelerate``.

``python -m diffem train ...`` runs one process. ``accelerate launch --multi_gpu --num_processes P
-m diffem train ...`` (one or many machines) runs ``P`` copies of the same command; each builds a
:class:`Processes` from the environment the launcher sets (``WORLD_SIZE``, ``RANK``, ...), and
``accelerate`` starts the process group (NCCL on GPUs, gloo on CPUs with ``--device cpu``).

How the work is shared, so that a run on ``P`` processes computes what one process computes with
the same seed and global batch (up to the order of floating-point sums):

- E-step: the observations are cut into chunks of ``--estep-batch``; process ``r`` samples the
  chunks ``c`` with ``c mod P = r``, each with its own generator seeded by ``(run, lap, c)``, and
  writes each chunk to disk atomically (:mod:`diffem.em.shards`); every process then reads all
  chunks back, checking that none is missing and none has the wrong size.
- M-step: data parallel (``DistributedDataParallel`` via ``Accelerator.prepare``). Every process
  draws the same global batch (indices, flips, noise levels, noise) from the same generator and
  trains on its slice of ``B / P`` samples; averaging the gradients over processes gives the
  gradient of the global batch's mean loss, so every process takes the same Adam step and keeps
  the same EMA.
- Lap folders, evaluation and pictures: the main process only; the others wait at a barrier.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

T = TypeVar("T")

#: variables a launcher (accelerate launch, torchrun, mpirun) sets for each of several processes
WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE")


def launched_processes() -> int:
    """How many processes the launcher started (1 when run directly)."""
    for name in WORLD_SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def launch_prefix(processes: int) -> list[str]:
    """The command that runs ``python -m diffem ...`` on ``processes`` local processes (append the arguments).

    ``accelerate launch --multi_gpu`` starts one process per GPU, or, with ``--device cpu``
    among the arguments, ``processes`` CPU processes joined by gloo; they meet on a free local
    port, so that several such runs can share a machine.
    """
    if processes <= 1:
        return [sys.executable, "-m", "diffem"]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_local_port()), "-m", "diffem"]


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    """Rank, device and the few collective operations EM needs; trivial for a single process."""

    def __init__(self, device: torch.device, accelerator: Any = None) -> None:
        self.accelerator = accelerator
        self.device = device if accelerator is None else accelerator.device
        self.rank = 0 if accelerator is None else accelerator.process_index
        self.count = 1 if accelerator is None else accelerator.num_processes

    @classmethod
    def from_environment(cls, device: torch.device) -> "Processes":
        """One process, or this process of the group an ``accelerate launch`` started."""
        if launched_processes() <= 1:
            return cls(device)
        from accelerate import Accelerator

        return cls(device, Accelerator(cpu=device.type == "cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.count > 1

    def barrier(self) -> None:
        if self.distributed:
            self.accelerator.wait_for_everyone()

    def broadcast(self, value: T) -> T:
        """The main process's ``value``, on every process (any picklable object)."""
        if not self.distributed:
            return value
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value], from_process=0)[0]

    def local_batch(self, global_batch: int) -> slice:
        """This process's slice of a global batch of ``global_batch`` samples."""
        if global_batch % self.count:
            raise ValueError(f"the batch size {global_batch} is not divisible by the {self.count} processes")
        size = global_batch // self.count
        return slice(self.rank * size, (self.rank + 1) * size)

    def owns_chunk(self, chunk: int) -> bool:
        return chunk % self.count == self.rank

    def prepare(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped for data-parallel training (itself for a single process)."""
        return model if not self.distributed else self.accelerator.prepare_model(model)

    def release(self) -> None:
        """Drop accelerate's references to the models it prepared (one per M-step)."""
        if self.distributed:
            self.accelerator.free_memory()

    def mean(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over processes."""
        return value if not self.distributed else self.accelerator.reduce(value.clone(), reduction="mean")
