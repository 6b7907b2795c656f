"""Sentence embeddings with all-MiniLM-L6-v2 (fastembed: int8 ONNX on the CPU).

The model loads lazily, once per process: loading costs a fraction of a second plus the
fastembed import, and most processes (the CLI, most jobs) never embed anything. A forked
child (an RQ work horse) loads its own copy, because onnxruntime sessions and their thread
pools are not documented as fork-safe. When no model can be loaded, `EmbeddingUnavailable`
says what was tried, and callers switch their feature off instead of failing.

Where the model comes from, first match wins:
1. the bootstrap setting `embedding_model_path` (LLMCODER_EMBEDDING_MODEL_PATH), alone:
   a wrong explicit path is an error to fix, not a reason to look elsewhere;
2. `<data_dir>/models/all-MiniLM-L6-v2`, then `<repo>/.models/all-MiniLM-L6-v2` (put there by
   scripts/install from PyPI, see scripts/fetch_model.py), then `<repo>/../shared/models/...`;
3. fastembed's own download into `<data_dir>/models/cache` (online only; offline it gives
   up after ~40 s of fastembed's retries, once per process).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from services.settings import REPO_ROOT, get_settings

if TYPE_CHECKING:
    from fastembed import TextEmbedding

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
# Measured on 2 cores (texts sorted by length): 16 embeds ~195 short (~100-character) chunks/s
# and ~102 paragraph-sized ones/s, 32 only ~176 and ~78, 4-8 no better than 16. Small
# batches also keep a batch of long chunks to a few hundred MB (ENVIRONMENT.md).
BATCH_SIZE = 16
_FOLDER_NAME = "all-MiniLM-L6-v2"


class EmbeddingUnavailable(RuntimeError):
    """No embedding model could be loaded; callers degrade instead of crashing."""


_lock = threading.Lock()
_model: TextEmbedding | None = None
_model_pid = 0
_failure: str | None = None
_inherited: list[TextEmbedding] = []


def _renew_lock_in_child() -> None:
    # A lock held by another thread at fork time would stay held forever in the child.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_renew_lock_in_child)


def _new_model(cache_dir: Path, folder: Path | None) -> TextEmbedding:
    from fastembed import TextEmbedding  # imported here: only processes that embed pay for it

    # local_files_only instead of a process-wide HF_HUB_OFFLINE=1: with a folder fastembed
    # never reaches the hub, and other libraries in the process keep their own behaviour.
    local = {"specific_model_path": str(folder), "local_files_only": True} if folder else {}
    model = TextEmbedding(MODEL_NAME, cache_dir=str(cache_dir), enable_cpu_mem_arena=False, **local)
    _stop_spinning(model)
    return model


def _stop_spinning(model: TextEmbedding) -> None:
    """onnxruntime's worker threads spin after each run, waiting for more work: right after a
    question was embedded they held a core the search that follows needed (dense search over
    100,000 chunks: median 34 ms with spinning, 20 ms without), while embedding in batches is
    no slower without (153 vs 149 chunks/s). fastembed has no option for it, so its session
    is rebuilt with the same options plus this one. Should fastembed's internals change, the
    spinning session stays: slower searches, same vectors."""
    import onnxruntime as ort

    inner = getattr(model, "model", None)
    session = getattr(inner, "model", None)
    path = getattr(session, "_model_path", None)
    if not isinstance(session, ort.InferenceSession) or not path:
        return
    options = session.get_session_options()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    inner.model = ort.InferenceSession(path, sess_options=options,  # type: ignore[union-attr]
                                       providers=session.get_providers())


def _folders() -> list[Path]:
    settings = get_settings()
    if settings.embedding_model_path:
        return [Path(settings.embedding_model_path).expanduser()]
    return [settings.data_dir / "models" / _FOLDER_NAME, REPO_ROOT / ".models" / _FOLDER_NAME,
            REPO_ROOT.parent / "shared" / "models" / _FOLDER_NAME]


def _load() -> TextEmbedding:
    settings = get_settings()
    cache_dir = settings.data_dir / "models" / "cache"
    folders = _folders()
    if settings.embedding_model_path and not folders[0].is_dir():
        raise EmbeddingUnavailable(f"LLMCODER_EMBEDDING_MODEL_PATH is {folders[0]}, which is not a folder")
    folder = next((f for f in folders if f.is_dir()), None)
    try:
        return _new_model(cache_dir, folder)
    except Exception as exc:  # fastembed and onnxruntime raise many kinds; the message is what matters
        if folder is not None:
            raise EmbeddingUnavailable(f"Could not load {MODEL_NAME} from {folder}: {exc}") from exc
        tried = ", ".join(str(f) for f in folders)
        raise EmbeddingUnavailable(
            f"No model folder at {tried}, and downloading {MODEL_NAME} into {cache_dir} failed: {exc}") from exc


def _get_model() -> TextEmbedding:
    global _model, _model_pid, _failure
    with _lock:
        if _model_pid != os.getpid():
            # Forked: load a fresh session. A remembered failure still holds (same files).
            # The parent's session is kept, never destroyed here: its destructor can hang
            # in a forked child (onnxruntime's thread pool belongs to the parent).
            if _model is not None:
                _inherited.append(_model)
            _model, _model_pid = None, os.getpid()
        if _failure is not None:
            raise EmbeddingUnavailable(_failure)
        if _model is None:
            try:
                _model = _load()
            except EmbeddingUnavailable as exc:
                _failure = str(exc)
                raise
        return _model


def embed(texts: Sequence[str]) -> list[list[float]]:
    """Unit-length vectors (fastembed normalises), one per text, as plain floats."""
    if not texts:
        return []
    model = _get_model()
    # Batches of similar length: a batch is padded to its longest text, so sorting first
    # saves the model from embedding padding (measured ~1.5x on mixed-length chunks).
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = model.embed([texts[i] for i in order], batch_size=BATCH_SIZE)
    result: list[list[float]] = [[] for _ in texts]
    for position, vector in zip(order, vectors, strict=True):
        result[position] = vector.tolist()
    return result


@lru_cache(maxsize=1024)
def _cached_vector(text: str) -> tuple[float, ...]:
    # A tuple, so no caller can change the cached vector in place.
    return tuple(embed([text])[0])


def embed_one(text: str) -> list[float]:
    """One text's vector; repeated texts (template lookups) come from an LRU cache."""
    return list(_cached_vector(text))


def available() -> bool:
    """Loads the model if needed; False (and a reason) instead of an exception."""
    try:
        _get_model()
    except EmbeddingUnavailable:
        return False
    return True


def loads_quickly() -> bool:
    """True when the model is loaded or a local folder holds it. Otherwise loading means a
    download attempt, which offline takes ~40 s: a request should not wait for that."""
    return (_model is not None and _model_pid == os.getpid()) or any(f.is_dir() for f in _folders())


def warm_up() -> None:
    """Loads (or fails to load) the model on a daemon thread, once per process."""
    if _model is None and _failure is None and not _warming.is_set():
        _warming.set()
        threading.Thread(target=available, name="embedder-warm-up", daemon=True).start()


_warming = threading.Event()


def unavailable_reason() -> str:
    """Why embeddings are off, or "" when the model loads."""
    return "" if available() else str(_failure)


def reset_embedder() -> None:
    """Forget the model, a remembered failure and cached vectors (tests change settings)."""
    global _model, _model_pid, _failure
    with _lock:
        _model, _model_pid, _failure = None, 0, None
        _cached_vector.cache_clear()
        _warming.clear()
