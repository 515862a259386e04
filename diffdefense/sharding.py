"""Sharding a stage's work over the processes `torchrun --nproc-per-node N` starts (one per GPU, or CPU
processes with the gloo backend). Work comes in numbered chunks whose randomness is seeded by the chunk
or image index, never by the process, so each rank computes its share (chunk i goes to rank i mod N),
every rank receives all results in chunk order, and the output is the one a single process would make
(with the same threads per process: torchrun sets OMP_NUM_THREADS=1). Rank 0 writes the outputs.
Without torchrun there is one rank and nothing changes."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterable, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def rank_and_size() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 without torchrun)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


@contextmanager
def process_group(device: torch.device):
    """Join torchrun's process group for the duration (a no-op for a single process)."""
    _, size = rank_and_size()
    if size == 1 or dist.is_initialized():
        yield
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


def is_writer() -> bool:
    """Whether this process writes the outputs (rank 0)."""
    return rank_and_size()[0] == 0


_sharing = False  # whether this process is inside a chunk of a sharded map_chunks


def map_chunks(work: Callable[[int], T], chunks: Iterable[int]) -> list[T]:
    """[work(i) for i in chunks], each rank computing every size-th chunk; all ranks get the full list.
    A map_chunks inside `work` (a defence purifying inside a sharded attack step) runs in this process:
    only one rank is in that chunk, so the other ranks are not there to gather with."""
    global _sharing
    chunks = list(chunks)
    rank, size = rank_and_size()
    if size == 1 or not dist.is_initialized() or _sharing:
        return [work(i) for i in chunks]
    _sharing = True
    try:
        mine = {i: work(i) for n, i in enumerate(chunks) if n % size == rank}
    finally:
        _sharing = False
    gathered: list[dict] = [None] * size
    dist.all_gather_object(gathered, mine)
    merged = {i: result for part in gathered for i, result in part.items()}
    return [merged[i] for i in chunks]
