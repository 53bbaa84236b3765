"""MiniLM exported to ONNX: int8 on ONNX Runtime for questions, bf16 on OpenVINO for ingests.

The ONNX graph is exported once, on first start, from the same local weights the PyTorch encoder
uses, with pooling and normalisation inside it, and a copy has its matrix weights quantised to
int8 per output channel. A single short question is fastest through that int8 copy on ONNX
Runtime. Big ingest batches are fastest through the float graph on OpenVINO, which runs it in
bfloat16 on the CPU's matrix units (AMX) where it has them: about 1.8x the int8 rate, and closer
to the float model. On a CPU without AMX, ingests use the int8 copy too, on one single-thread
session per ingest thread (faster there than bf16 on AVX-512 BF16). Serving imports no
PyTorch, so start-up is fast. Vectors differ slightly from the float model's, so the encoder has
its own name and stored vectors are rebuilt on a switch. The graph also gives every token's unit
vector (the last layer's states, normalised), for late interaction (``TokenVectors``).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from index.encoder import (
    DEFAULT_CACHE,
    DEFAULT_MODEL,
    Embedding,
    ModelUnavailableError,
    Progress,
    TokenCollector,
    TokenMatrix,
    Vectors,
    document_model,
    quantize,
    resolve_model_path,
)

logger = logging.getLogger(__name__)

# Bump when the export or quantisation changes: cached files are then rebuilt.
EXPORT_VERSION = 3  # 3: token vectors as a second output
BACKEND_SUFFIX = "#onnx-int8"
# Vectors stored by the bf16 OpenVINO path carry this too: they are not the int8 path's.
BF16_SUFFIX = "+openvino-bf16"
FLOAT_FILE, INT8_FILE = "model-float.onnx", "model-int8.onnx"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUTS = ("embedding", "tokens")
_WIDTH_STEP = 8  # ingest batch widths are multiples of this many tokens


def _pooling(model_path: Path) -> str:
    """Mean or CLS pooling, as the sentence-transformers config says."""
    config_path = model_path / "1_Pooling" / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_mean_tokens", True):
        return "mean"
    raise ModelUnavailableError(
        f"{model_path} uses a pooling the ONNX backend does not export; "
        "set ARTICLE_QA_BACKEND=torch"
    )


def _max_tokens(model_path: Path) -> int:
    config_path = model_path / "sentence_bert_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    return int(config.get("max_seq_length", 256))


def cached_model_path(model_path: Path, cache_dir: Path) -> Path:
    """The folder of this model's exports: keyed by the weights' size and mtime."""
    weights = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in model_path.iterdir()
        if p.suffix in {".safetensors", ".bin", ".json"}
    )
    key = hashlib.sha256(repr((str(model_path), weights, EXPORT_VERSION)).encode()).hexdigest()
    return cache_dir / f"{model_path.name}-{key[:12]}"


def export(model_path: Path, target: Path) -> None:
    """Export the model with its pooling to ONNX, float and int8, into ``target``; atomically.

    Needs PyTorch and transformers, which are imported here only (offline: the weights are local).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    pooling = _pooling(model_path)
    model = AutoModel.from_pretrained(str(model_path)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule, so its weights export as parameters

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)
            states = hidden.last_hidden_state
            if pooling == "cls":
                pooled = states[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(states.dtype)
                pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            normalize = torch.nn.functional.normalize
            return normalize(pooled, dim=-1), normalize(states, dim=-1)

    target.mkdir(parents=True, exist_ok=True)
    example = torch.ones((1, 8), dtype=torch.int64)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "tokens")}
    axes["embedding"] = {0: "batch"}
    with tempfile.TemporaryDirectory(dir=target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        float_path = Path(tmp) / "float.onnx"
        torch.onnx.export(
            Pooled().eval(),
            (example, example, torch.zeros_like(example)),
            str(float_path),
            input_names=list(_INPUTS),
            output_names=list(_OUTPUTS),
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        partial = Path(tmp) / "int8.onnx"
        quantize_int8(float_path, partial)
        float_path.replace(target / FLOAT_FILE)
        partial.replace(target / INT8_FILE)  # last: its presence says the export is whole


def exported(name: str, model_path: Path, cache_dir: Path) -> Path:
    """The folder of ``model_path``'s ONNX graphs, exported there on first use."""
    folder = cached_model_path(model_path, cache_dir)
    if not (folder / INT8_FILE).is_file():
        logger.info("exporting %s to ONNX at %s (once)", name, folder)
        export(model_path, folder)
    return folder


def quantize_int8(float_path: Path, target: Path) -> None:
    """Write ``float_path``'s ONNX graph to ``target`` with its matrix weights in int8, per
    output channel: that keeps MiniLM's cosines to the float model at ~0.99 (per-tensor: ~0.96)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_name(target.stem + "-prepared.onnx")
    quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(prepared, target, weight_type=QuantType.QInt8, per_channel=True)
    prepared.unlink()


Feeds = dict[str, npt.NDArray[np.int64]]
Rows = npt.NDArray[np.intp]


class Batches:
    """Where a runner's batches go: each row's pooled vector into ``vectors`` and its token
    vectors (as many as it has tokens) into ``tokens``."""

    def __init__(self, lengths: Sequence[int], dim: int) -> None:
        self.lengths = lengths
        self.vectors = np.empty((len(lengths), dim), dtype=np.float32)
        self.tokens = TokenCollector(lengths, dim)

    def put(self, rows: Rows, pooled: Vectors, states: npt.NDArray[np.float32]) -> None:
        self.vectors[rows] = pooled
        data, scales = quantize(states)  # the whole batch at once; padding is cut off below
        for row, text in enumerate(rows):
            n = self.lengths[text]
            self.tokens.put(int(text), data[row, :n], scales[row, :n])

    def embedding(self) -> Embedding:
        return Embedding(self.vectors, self.tokens.packed())


# Runs ``feeds(rows)`` for every batch of rows and hands each batch's outputs to ``out.put``.
Runner = Callable[[Sequence[Rows], Callable[[Rows], Feeds], Batches, Progress | None], None]


def token_batches(lengths: Sequence[int], budget: int, multiple: int) -> list[Rows]:
    """Split texts into batches of about ``budget`` padded tokens, longest texts first.

    Sorting by token count leaves little padding in a batch, the budget gives short texts big
    batches and long ones small, and longest-first leaves short batches for the end, where one
    stream may be waiting for the other. Widths are rounded up to ``multiple`` tokens so batch
    shapes repeat, and the runtime reuses what it prepared for a shape.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = _round_up(lengths[order[start]], multiple)
        rows = max(1, budget // width)
        batches.append(order[start : start + rows])
        start += rows
    return batches


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _feeds(encodings: Sequence[Any], rows: Rows, multiple: int = 1) -> Feeds:
    """Model inputs for these tokenized texts, padded to the longest, rounded up to ``multiple``."""
    width = _round_up(max((len(encodings[i].ids) for i in rows), default=0), multiple)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, i in enumerate(rows):
        tokens = encodings[i].ids
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def cpu_flags() -> frozenset[str]:
    """The CPU's extensions as Linux names them (none where /proc/cpuinfo cannot be read)."""
    try:
        return frozenset(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: no way to tell here
        return frozenset()


def bf16_available() -> bool:
    """Whether ingests are faster in bfloat16 on OpenVINO than in int8: where the CPU has AMX.

    With AVX-512 BF16 but no AMX (AMD EPYC) OpenVINO runs bf16 too, but int8 on two ONNX Runtime
    sessions embeds more (433 against 330 sentences per second, ``bench.ingest``).
    """
    import openvino

    if "BF16" not in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return False
    return "amx_bf16" in cpu_flags()


# Extensions that multiply and add int8 in one instruction (VNNI, AMX). Without them (AVX2
# alone) ONNX Runtime's int8 matrix products are about 2.8 times slower: the reader read three
# sentences in 28.8 ms on an AVX2-only EPYC against 10.2 ms on one with AVX-512 VNNI.
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def int8_dot_available() -> bool:
    """Whether the CPU has an int8 dot-product instruction (``INT8_DOT_FLAGS``)."""
    return bool(INT8_DOT_FLAGS & cpu_flags())


class Int8Documents:
    """Ingest batches on the int8 copy: one single-thread ONNX Runtime session per thread, each
    taking the next batch, longest first (1.24x one two-thread session: small matrices split
    badly over cores, as on OpenVINO)."""

    def __init__(self, sessions: Sequence[Any]) -> None:
        self._sessions = sessions

    def run(
        self,
        batches: Sequence[Rows],
        feeds: Callable[[Rows], Feeds],
        out: Batches,
        progress: Progress | None,
    ) -> None:
        pending, lock, done = iter(batches), threading.Lock(), [0]

        def work(session: Any) -> None:
            while True:
                with lock:
                    rows = next(pending, None)
                if rows is None:
                    return
                out.put(rows, *_run(session, feeds(rows)))  # ONNX Runtime releases the GIL
                with lock:
                    done[0] += len(rows)
                    if progress:
                        progress(done[0], len(out.lengths))

        workers = [threading.Thread(target=work, args=(s,)) for s in self._sessions[1:]]
        for worker in workers:
            worker.start()
        work(self._sessions[0])
        for worker in workers:
            worker.join()


class OpenVinoDocuments:
    """Ingest batches on OpenVINO, in bfloat16 (the product, with AMX) or another ``precision``:
    one single-thread stream per core, pipelined.

    Streams beat one multi-thread run per batch (small matrices split badly over cores), and
    the next batch is padded while the current ones run.
    """

    def __init__(self, path: Path, streams: int, precision: str = "bf16") -> None:
        self._path, self._streams, self._precision = path, streams, precision
        self._model: Any = None
        self._lock = threading.Lock()  # one ingest at a time: they would share the cores anyway

    def _compiled(self) -> Any:
        """Compiled on the first ingest (about half a second), so start-up does not wait for it."""
        import openvino

        if self._model is None:
            config = {
                "PERFORMANCE_HINT": "THROUGHPUT",
                "NUM_STREAMS": self._streams,
                "INFERENCE_NUM_THREADS": self._streams,
                "INFERENCE_PRECISION_HINT": self._precision,
            }
            core = openvino.Core()
            self._model = core.compile_model(core.read_model(str(self._path)), "CPU", config)
        return self._model

    def run(
        self,
        batches: Sequence[Rows],
        feeds: Callable[[Rows], Feeds],
        out: Batches,
        progress: Progress | None,
    ) -> None:
        import openvino

        done, counting = [0], threading.Lock()

        def finished(request: Any, rows: Rows) -> None:  # on an OpenVINO thread
            out.put(rows, request.get_output_tensor(0).data, request.get_output_tensor(1).data)
            with counting:
                done[0] += len(rows)

        with self._lock:
            queue = openvino.AsyncInferQueue(self._compiled(), self._streams)
            queue.set_callback(finished)
            for rows in batches:
                queue.start_async(feeds(rows), rows)  # waits for a free stream
                if progress:
                    progress(done[0], len(out.lengths))
            queue.wait_all()
            del queue  # its requests hold buffers too
            # OpenVINO keeps buffers for the batch shapes it has seen (about 90 MB after the
            # shared SQuAD articles); hand them back to the system between ingests.
            self._model.release_memory()
            _trim_heap()


def _trim_heap() -> None:
    """Return freed heap pages to the system: glibc keeps them otherwise (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def cpu_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime session on the CPU with its math threads pinned to ``threads`` (one
    thread per core by default is badly slow on a busy machine)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if threads > 1:
        # Idle pool threads sleep instead of spinning: spinning threads of concurrent requests
        # (two workers, each reading on two threads) took the cores from each other.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _run(session: Any, feeds: Feeds) -> tuple[Vectors, npt.NDArray[np.float32]]:
    """Pooled vectors (batch x dim) and token vectors (batch x width x dim)."""
    vectors, tokens = session.run(list(_OUTPUTS), feeds)
    return np.asarray(vectors, dtype=np.float32), np.asarray(tokens, dtype=np.float32)


class OnnxEncoder:
    """MiniLM on ONNX Runtime (int8) for questions and OpenVINO (bf16) for ingests, threads pinned.

    Questions run on ``threads`` (one is fastest for a single short text on a busy machine),
    ingests on ``ingest_threads`` (big batches use every core) in batches of about
    ``batch_tokens`` tokens.
    """

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        cache_dir: Path = DEFAULT_CACHE,
        threads: int = 1,
        ingest_threads: int = 2,
        batch_tokens: int = 512,
        bf16: bool | None = None,  # None: where the CPU has it
    ) -> None:
        from tokenizers import Tokenizer

        model_path = resolve_model_path(name, cache_dir)
        folder = exported(name, model_path, cache_dir)
        student = document_model(name, cache_dir)
        articles = exported(student[1], student[0], cache_dir) if student else folder

        def session(threads: int) -> Any:
            return cpu_session(articles / INT8_FILE, threads)

        self._queries = cpu_session(folder / INT8_FILE, threads)
        self._tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self._tokenizer.enable_truncation(_max_tokens(model_path))
        self._tokenizer.no_padding()  # batches are padded here, to their own longest text
        self._batch_tokens = batch_tokens
        self.dim = int(self.encode_queries(["dimension probe"]).shape[1])
        self._documents: Runner
        self.name = name + (f"+{student[1]}" if student else "") + BACKEND_SUFFIX
        if bf16_available() if bf16 is None else bf16:  # bf16 unless told or the CPU lacks it
            self._documents = OpenVinoDocuments(articles / FLOAT_FILE, ingest_threads).run
            self.name += BF16_SUFFIX
        else:
            shared = threads == 1 and articles == folder  # the question session can take a turn
            int8 = [self._queries if shared else session(1)]
            int8 += [session(1) for _ in range(ingest_threads - 1)]
            self._documents = Int8Documents(int8).run

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        return _run(self._queries, _feeds(encodings, np.arange(len(encodings))))[0]

    def encode_question(self, text: str) -> tuple[Vectors, TokenMatrix]:
        encoding = self._tokenizer.encode(text)
        vectors, tokens = _run(self._queries, _feeds([encoding], np.arange(1)))
        return vectors, tokens[0]

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> Embedding:
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = [len(e.ids) for e in encodings]
        batches = token_batches(lengths, self._batch_tokens, _WIDTH_STEP)
        out = Batches(lengths, self.dim)
        self._documents(batches, lambda rows: _feeds(encodings, rows, _WIDTH_STEP), out, progress)
        if progress:
            progress(len(texts), len(texts))
        return out.embedding()
