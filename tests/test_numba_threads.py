"""numba_threads sets numba's thread count inside a block, within numba's limits, and restores it —
and starting numba's pool leaves torch's (and healpy's) OpenMP thread count alone."""

import os
import subprocess
import sys

import numba
import pytest

from deepsphere._numba_threads import numba_threads


@pytest.mark.parametrize("asked", [1, 0, -3, 10_000])
def test_thread_count_is_clipped_and_restored(asked):
    before = numba.get_num_threads()
    with numba_threads(asked):
        assert numba.get_num_threads() == max(1, min(asked, numba.config.NUMBA_NUM_THREADS))
    assert numba.get_num_threads() == before


def test_restored_after_an_error():
    before = numba.get_num_threads()
    with pytest.raises(RuntimeError), numba_threads(1):
        raise RuntimeError("inside")
    assert numba.get_num_threads() == before


# A fresh process asks for one OpenMP thread, starts numba's pool through the package's kernels, then
# runs torch and healpy: both must still use one thread (healpy's transform starts no thread).
CHILD = """
import os, numpy as np, torch, healpy as hp
from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv
from deepsphere.sampling import HEALPix
g = knn_graph(HEALPix(8), k=8)
ChebConv(2, 2, 3, g.laplacian())(torch.randn(2, g.n_vertices, 2))
tasks = len(os.listdir("/proc/self/task"))
hp.alm2map(np.ones(hp.Alm.getsize(23), complex), 8)
print(torch.get_num_threads(), len(os.listdir("/proc/self/task")) - tasks)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_starting_numbas_pool_keeps_one_openmp_thread():
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    torch_threads, new_threads = map(int, done.stdout.split())
    assert (torch_threads, new_threads) == (1, 0)
