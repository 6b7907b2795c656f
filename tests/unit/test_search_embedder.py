"""The embedder loads the real offline model from ../shared/models, once per process, and
says clearly why when it cannot."""

from __future__ import annotations

import math
import os
import socket
import threading
import time

import pytest

from services.search import embedder
from services.search.embedder import DIM, EmbeddingUnavailable
from services.settings import REPO_ROOT, reset_settings_cache
from tests.fork_support import in_forked_child

# scripts/install puts the model into .models/ unless ../shared/models already has it.
LOCAL_MODELS = (REPO_ROOT / ".models" / "all-MiniLM-L6-v2", REPO_ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2")


@pytest.fixture
def fresh(data_dir, monkeypatch):
    """A fresh data dir, no model path setting, no loaded model."""
    monkeypatch.delenv("LLMCODER_EMBEDDING_MODEL_PATH", raising=False)
    embedder.reset_embedder()
    yield data_dir
    embedder.reset_embedder()


def use_model_path(monkeypatch, path) -> None:
    monkeypatch.setenv("LLMCODER_EMBEDDING_MODEL_PATH", str(path))
    reset_settings_cache()
    embedder.reset_embedder()


def no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def count_loads(monkeypatch) -> list[int]:
    loads: list[int] = []
    real = embedder._new_model

    def counting(*args, **kwargs):
        loads.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr(embedder, "_new_model", counting)
    return loads


def same(a: list[list[float]], b: list[list[float]]) -> bool:
    return len(a) == len(b) and all(x == pytest.approx(y, abs=1e-5) for x, y in zip(a, b, strict=True))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


def test_the_installed_model_loads_without_network(fresh, monkeypatch):
    assert any(folder.is_dir() for folder in LOCAL_MODELS), f"run scripts/install: no model in {LOCAL_MODELS}"
    no_network(monkeypatch)
    assert embedder.available(), embedder.unavailable_reason()
    assert embedder.unavailable_reason() == ""
    assert len(embedder.embed_one("hello")) == DIM


def test_paraphrases_are_close_and_unrelated_texts_are_not(fresh):
    reset = embedder.embed_one("reset my password")
    assert cosine(reset, embedder.embed_one("how do I change my password")) > 0.75
    assert cosine(reset, embedder.embed_one("bananas are yellow")) < 0.3


def test_vectors_are_plain_unit_length_floats_in_input_order(fresh):
    texts = ["reset my password", "bananas are yellow", "quarterly revenue grew by ten percent"]
    vectors = embedder.embed(texts)
    assert len(vectors) == 3
    for text, vector in zip(texts, vectors, strict=True):
        assert len(vector) == DIM and all(type(x) is float for x in vector)
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-4)
        assert embedder.embed_one(text) == pytest.approx(vector, abs=1e-5)
    assert same(embedder.embed(tuple(texts)), vectors)


def test_the_session_does_not_spin_and_embeds_as_fastembed_does(fresh):
    from fastembed import TextEmbedding

    texts = ["reset my password", "a much longer text about quarterly revenue, which grew by ten percent"]
    ours = embedder.embed(texts)
    session = embedder._get_model().model.model  # fastembed's own session, rebuilt by the embedder
    assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    plain = TextEmbedding(embedder.MODEL_NAME, specific_model_path=str(next(f for f in LOCAL_MODELS if f.is_dir())),
                          local_files_only=True)
    for theirs, mine in zip(plain.embed(texts), ours, strict=True):
        assert list(theirs) == pytest.approx(mine, abs=1e-5)


def test_empty_input_needs_no_model(fresh, monkeypatch, tmp_path):
    use_model_path(monkeypatch, tmp_path / "nowhere")
    assert embedder.embed([]) == []


def test_repeated_texts_come_from_the_cache_and_cannot_be_changed_by_callers(fresh, monkeypatch):
    calls = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: calls.append(list(texts)) or real(texts))
    first = embedder.embed_one("where is the invoice")
    first[0] = 42.0
    second = embedder.embed_one("where is the invoice")
    assert calls == [["where is the invoice"]]
    assert second[0] != 42.0 and math.isclose(math.fsum(x * x for x in second), 1.0, abs_tol=1e-4)


def test_a_bad_model_path_setting_makes_embeddings_unavailable_with_the_path(fresh, monkeypatch, tmp_path):
    missing = tmp_path / "no-such-model"
    use_model_path(monkeypatch, missing)
    with pytest.raises(EmbeddingUnavailable) as caught:
        embedder.embed_one("hello")
    assert isinstance(caught.value, RuntimeError)
    assert str(missing) in str(caught.value) and "LLMCODER_EMBEDDING_MODEL_PATH" in str(caught.value)
    assert embedder.available() is False
    assert str(missing) in embedder.unavailable_reason()


def test_a_configured_folder_without_a_model_fails_with_its_path(fresh, monkeypatch, tmp_path):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    use_model_path(monkeypatch, empty)
    assert embedder.available() is False
    assert f"from {empty}" in embedder.unavailable_reason()


def test_the_data_dir_folder_comes_before_the_shared_one(fresh):
    own = fresh / "models" / "all-MiniLM-L6-v2"
    own.mkdir(parents=True)  # empty, so loading it fails and names it
    assert embedder.available() is False
    assert str(own) in embedder.unavailable_reason()


def test_without_any_folder_the_download_is_tried_and_the_message_lists_everything(fresh, monkeypatch, tmp_path):
    monkeypatch.setattr(embedder, "REPO_ROOT", tmp_path / "repo")
    no_network(monkeypatch)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # fastembed's retry back-off
    assert embedder.available() is False
    reason = embedder.unavailable_reason()
    for tried in (fresh / "models" / "all-MiniLM-L6-v2", tmp_path / "shared" / "models" / "all-MiniLM-L6-v2",
                  fresh / "models" / "cache"):
        assert str(tried) in reason
    assert "download" in reason


def test_a_failure_is_remembered_instead_of_retried(fresh, monkeypatch, tmp_path):
    use_model_path(monkeypatch, tmp_path / "nowhere")
    attempts = []
    real = embedder._load
    monkeypatch.setattr(embedder, "_load", lambda: attempts.append(1) or real())
    for _ in range(3):
        assert embedder.available() is False
        with pytest.raises(EmbeddingUnavailable):
            embedder.embed_one("hello")
    assert len(attempts) == 1
    embedder.reset_embedder()
    assert embedder.available() is False
    assert len(attempts) == 2


def test_concurrent_first_calls_load_the_model_once(fresh, monkeypatch):
    loads = count_loads(monkeypatch)
    texts = [f"question number {i} about the weekly report" for i in range(8)]
    barrier = threading.Barrier(len(texts))
    results: dict[str, list[float]] = {}

    def work(text: str) -> None:
        barrier.wait()
        results[text] = embedder.embed_one(text)

    threads = [threading.Thread(target=work, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(loads) == 1
    assert same([results[t] for t in texts], embedder.embed(texts))


def test_a_forked_child_loads_its_own_model_and_embeds_the_same(fresh, monkeypatch):
    loads = count_loads(monkeypatch)
    expected = embedder.embed_one("forked work horse")

    def report() -> str:
        vector = embedder.embed(["forked work horse"])[0]
        same = max(abs(a - b) for a, b in zip(vector, expected, strict=True)) < 1e-5
        return f"{len(loads)} {sum(p == os.getpid() for p in loads)} {same}"

    assert in_forked_child(report) == "2 1 True"  # the parent's load, then one in the child
