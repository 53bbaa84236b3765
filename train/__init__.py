"""Model building: every file the product ships under index/data is written from here.

    .venv/bin/python -m train [--dry-run]     # = make models: rebuild them all from ../shared

``train.encoder`` fine-tunes the embedding model, ``train.ranker`` fits the first stage's ranker,
``train.reader`` trains and fits the reader (``train/reader/``). They read ``../shared`` (never
copied into the repository) and the product's own code; the product never imports them.

Nothing is downloaded: the hub is switched off before transformers loads. Math libraries start
pinned to one thread, as in bench/, so the fits match what the measurements saw; training sets
its own threads (``--threads``).
"""

import os

for _variable, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("OMP_NUM_THREADS", "1"),
    ("OPENBLAS_NUM_THREADS", "1"),
    ("MKL_NUM_THREADS", "1"),
):
    os.environ.setdefault(_variable, _value)
