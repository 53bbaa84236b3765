"""Benchmarks over the real pipeline.

Math libraries are pinned to one thread here, before numpy, faiss or torch load, so latencies are
comparable on a small shared machine (one thread per core is badly slow when a core is busy).
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
