"""How many threads numba's parallel loops use, set for a block of code and restored after it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numba


@contextmanager
def numba_threads(n: int) -> Iterator[None]:
    """Run numba's parallel loops on ``n`` threads (clipped to 1 … ``NUMBA_NUM_THREADS``) inside the block.

    numba's pool has as many threads as cores, whatever ``OMP_NUM_THREADS`` or ``torch.set_num_threads``
    say, and the setting is per calling thread. Starting the pool (numba's OpenMP layer, on the first
    parallel loop) also sets the OpenMP thread count of the libgomp it shares with torch — and, once
    torch is loaded, with healpy's transforms — to ``NUMBA_NUM_THREADS``: ``torch.get_num_threads()``
    then says 2 where ``OMP_NUM_THREADS=1`` asked for 1, and on a loaded machine healpy's teams
    spin-wait for descheduled members (a tutorial that takes 9 s took 320 s beside two busy processes
    on 2 cores). So torch's thread count, when torch is loaded, is put back after the block.
    """
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else 0
    previous = numba.get_num_threads()  # starts numba's pool on first use
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        if torch is not None and torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
