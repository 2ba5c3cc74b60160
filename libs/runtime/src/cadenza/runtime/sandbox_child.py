"""Imported first by the sandbox's fork server, before any numerical library: their thread
pools are sized when they load, and each thread's buffers count against a child's address
space limit (cadenza.runtime.sandbox). One thread each."""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_name] = "1"
