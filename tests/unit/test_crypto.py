"""Encryption at rest: the key file, the environment key, and what may be shown of a secret."""

from __future__ import annotations

import os
import stat

import pytest

from services import crypto
from services.settings import reset_settings_cache


def _fresh_key_cache() -> None:
    reset_settings_cache()
    crypto.reset_key_cache()


def test_round_trip_and_ciphertext_hides_the_plaintext(data_dir):
    secret = "sk-live-0123456789abcdef"
    first = crypto.encrypt(secret)
    second = crypto.encrypt(secret)

    assert crypto.decrypt(first) == secret
    assert crypto.decrypt(second) == secret
    assert secret not in first
    assert first != second  # Fernet uses a fresh IV each time


def test_round_trip_of_unicode_and_empty_values(data_dir):
    for value in ("", "päßwörd ✓ 秘密", "x" * 10_000):
        assert crypto.decrypt(crypto.encrypt(value)) == value


def test_key_file_is_created_with_mode_0600_and_reused(data_dir):
    path = crypto.key_file_path()
    assert path == data_dir / "secret.key"
    assert not path.exists()

    token = crypto.encrypt("remember me please")

    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    material = path.read_bytes()
    assert len(material.strip()) >= 32

    # A new process (fresh caches) reads the same file instead of making a new key.
    _fresh_key_cache()
    assert crypto.decrypt(token) == "remember me please"
    assert path.read_bytes() == material


def test_environment_key_takes_precedence_over_the_key_file(data_dir, monkeypatch):
    from_file = crypto.encrypt("encrypted with the file key")
    assert crypto.key_file_path().exists()

    monkeypatch.setenv("LLMCODER_SECRET_KEY", "an operator chose this key")
    _fresh_key_cache()
    from_env = crypto.encrypt("encrypted with the env key")

    with pytest.raises(crypto.SecretDecryptError):
        crypto.decrypt(from_file)
    assert crypto.decrypt(from_env) == "encrypted with the env key"

    # The same environment key in another process decrypts it too.
    _fresh_key_cache()
    assert crypto.decrypt(from_env) == "encrypted with the env key"


def test_environment_key_means_no_key_file_is_written(data_dir, monkeypatch):
    monkeypatch.setenv("LLMCODER_SECRET_KEY", "some key")
    _fresh_key_cache()
    crypto.encrypt("value")
    assert not crypto.key_file_path().exists()


def test_decrypting_with_another_key_raises_a_helpful_error(data_dir, monkeypatch):
    token = crypto.encrypt("the old secret")
    monkeypatch.setenv("LLMCODER_SECRET_KEY", "a different key")
    _fresh_key_cache()

    with pytest.raises(crypto.SecretDecryptError) as info:
        crypto.decrypt(token)
    message = str(info.value)
    assert "LLMCODER_SECRET_KEY" in message
    assert "secret.key" in message
    assert "the old secret" not in message


def test_decrypting_garbage_raises_secret_decrypt_error(data_dir):
    with pytest.raises(crypto.SecretDecryptError):
        crypto.decrypt("not-a-fernet-token")


def test_tampered_ciphertext_is_refused(data_dir):
    token = crypto.encrypt("integrity matters")
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(crypto.SecretDecryptError):
        crypto.decrypt(tampered)


def test_an_empty_key_file_is_refused_instead_of_used(data_dir):
    # An empty file (a crash or a race while it was written) must not silently
    # become the key: everything encrypted with it would be trivially readable.
    path = crypto.key_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    with pytest.raises(crypto.SecretDecryptError, match="secret.key"):
        crypto.encrypt("anything")
    assert path.read_text() == ""  # nothing overwritten: an operator decides


def test_key_file_is_never_world_readable_even_with_a_lax_umask(data_dir):
    old = os.umask(0)
    try:
        crypto.encrypt("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(crypto.key_file_path().stat().st_mode) == 0o600


def test_signing_key_is_stable_and_differs_from_the_encryption_key(data_dir):
    first = crypto.signing_key()
    _fresh_key_cache()
    assert crypto.signing_key() == first
    assert len(first) == 32
    assert first != crypto._derive(crypto._key_material())


@pytest.mark.parametrize(
    "secret",
    ["sk-proj-abcdefghijklmnop1234", "abcdefghijkl", "short", "abcd", "a", "elevenchars"],
)
def test_mask_never_shows_more_than_the_last_four_characters(secret):
    shown = crypto.mask(secret)
    assert shown
    assert secret not in shown
    visible = shown.replace("••••", "")
    assert len(visible) <= 4
    assert secret.endswith(visible)


def test_mask_shows_the_tail_of_long_secrets_only():
    assert crypto.mask("sk-proj-abcdefghijklmnop1234") == "••••1234"
    assert crypto.mask("abcdefghijkl") == "••••ijkl"
    # Short values show nothing: four of eight characters would be half the secret.
    assert crypto.mask("abcdefgh") == "••••"
    assert crypto.mask("") == ""


def test_concurrent_first_use_agrees_on_one_key_and_leaves_no_temp_files(data_dir):
    import threading

    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(crypto._key_material.__wrapped__())  # uncached, like separate processes
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 8
    assert set(results) == {crypto.key_file_path().read_text()}
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key"]
