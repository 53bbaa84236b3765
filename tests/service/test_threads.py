"""The app pins numpy's BLAS threads, not only ONNX Runtime's (ARTICLE_QA_THREADS)."""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits

from index.encoder import HashingEncoder
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ready_client


def test_the_app_pins_numpy_blas_threads_to_the_setting(settings: Settings) -> None:
    saved = threadpool_limits(limits=None)  # this process's limits, restored below
    try:
        app = create_app(settings.model_copy(update={"threads": 7}), lambda _: HashingEncoder())
        for _ in ready_client(app):
            numpy_blas = [p["num_threads"] for p in threadpool_info() if "numpy" in p["filepath"]]
    finally:
        saved.restore_original_limits()
    assert numpy_blas == [7]  # OpenBLAS starts one per core: 7 only if pinned
