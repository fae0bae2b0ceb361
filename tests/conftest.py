"""Fixtures shared by the test packages."""

import ctypes
from pathlib import Path

import healpy as hp
import pytest


@pytest.fixture(scope="module")
def healpy_on_one_thread():
    """Run healpy's OpenMP transforms on one thread during a module's tests (best effort: Linux wheels).

    On a loaded machine (more runnable threads than cores) an OpenMP team spin-waits for descheduled
    members: healpy's small transforms were 30–1000× slower on 2 shared cores at load 4. The test maps
    are small, so one thread loses nothing.
    """
    libraries = sorted((Path(hp.__file__).parent.parent / "healpy.libs").glob("libgomp*.so*"))
    if not libraries:
        yield
        return
    gomp = ctypes.CDLL(str(libraries[0]))  # the copy healpy already loaded
    previous = gomp.omp_get_max_threads()
    gomp.omp_set_num_threads(1)
    yield
    gomp.omp_set_num_threads(previous)
