"""Registered secrets never reach a log line, whatever logger, handler or traceback carries them."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from services import redaction

SECRET = "sk-test-SuperSecretValue-987654"


@pytest.fixture
def redacting():
    """Install the redacting record factory for one test and restore the previous one."""
    previous_factory = logging.getLogRecordFactory()
    previous_installed = redaction._installed
    redaction._installed = False
    redaction.install()
    yield
    logging.setLogRecordFactory(previous_factory)
    redaction._installed = previous_installed


def _logger(fmt: str = "%(levelname)s %(name)s: %(message)s", formatter: logging.Formatter | None = None):
    """A logger with its own real StreamHandler writing into a StringIO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or logging.Formatter(fmt))
    logger = logging.getLogger(f"test.redaction.{uuid.uuid4().hex}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger, stream


def test_install_is_idempotent_and_sets_the_factory(redacting):
    assert logging.getLogRecordFactory() is redaction.RedactingLogRecord
    redaction.install()
    assert logging.getLogRecordFactory() is redaction.RedactingLogRecord


def test_percent_style_argument_is_redacted(redacting):
    redaction.register(SECRET)
    log, out = _logger()
    log.info("calling the API with key %s now", SECRET)
    text = out.getvalue()
    assert SECRET not in text
    assert "calling the API with key [REDACTED] now" in text


def test_fstring_message_is_redacted(redacting):
    redaction.register(SECRET)
    log, out = _logger()
    log.warning(f"header Authorization: Bearer {SECRET}")
    text = out.getvalue()
    assert SECRET not in text
    assert "Authorization: Bearer [REDACTED]" in text


def test_dict_argument_and_repeated_occurrences_are_redacted(redacting):
    redaction.register(SECRET)
    log, out = _logger()
    log.error("config %(cfg)s / again %(again)s", {"cfg": {"api_key": SECRET}, "again": SECRET})
    text = out.getvalue()
    assert SECRET not in text
    assert text.count("[REDACTED]") == 2


def test_secret_in_an_exception_traceback_is_redacted(redacting):
    redaction.register(SECRET)
    log, out = _logger()
    try:
        raise ValueError(f"provider rejected key {SECRET}")
    except ValueError:
        log.exception("call failed")
    text = out.getvalue()
    assert SECRET not in text
    assert "Traceback (most recent call last)" in text
    assert "ValueError: provider rejected key [REDACTED]" in text


def test_secret_in_a_chained_exception_is_redacted(redacting):
    redaction.register(SECRET)
    log, out = _logger()
    try:
        try:
            raise KeyError(SECRET)
        except KeyError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError:
        log.error("boom", exc_info=True)
    text = out.getvalue()
    assert SECRET not in text
    assert "KeyError" in text and "RuntimeError: wrapped" in text


def test_exc_info_formatted_by_several_handlers_stays_redacted(redacting, caplog):
    redaction.register(SECRET)
    log, out = _logger()
    second = io.StringIO()
    log.addHandler(logging.StreamHandler(second))
    log.propagate = True  # caplog's handler too
    with caplog.at_level(logging.INFO):
        try:
            raise ConnectionError(SECRET)
        except ConnectionError:
            log.exception("network")
    for text in (out.getvalue(), second.getvalue(), caplog.text):
        assert "ConnectionError" in text
        assert SECRET not in text


def test_stack_info_is_redacted(redacting):
    redaction.register(SECRET)
    record = logging.getLogRecordFactory()(
        "x", logging.INFO, __file__, 1, "msg", (), None, None, f"Stack (most recent call last):\n  {SECRET}"
    )
    assert SECRET not in record.stack_info
    assert "[REDACTED]" in record.stack_info


def test_third_party_logger_with_its_own_handler_and_formatter():
    """A library set up its own handler before the redactor was installed; it is still covered."""

    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            text = super().format(record)  # message + cached, redacted traceback
            return json.dumps({"logger": record.name, "msg": record.getMessage(), "text": text})

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(message)s"))
    lib = logging.getLogger("urllib3.connectionpool.fake_for_test")
    lib.handlers = [handler]
    lib.propagate = False
    lib.setLevel(logging.DEBUG)
    previous_factory, previous_installed = logging.getLogRecordFactory(), redaction._installed
    redaction._installed = False
    try:
        redaction.install()  # after the library configured its logging
        redaction.register(SECRET)
        lib.debug('POST /v1/chat?key=%s "200"', SECRET)
        try:
            raise PermissionError(f"denied for {SECRET}")
        except PermissionError:
            lib.exception("failed")
    finally:
        lib.handlers = []
        logging.setLogRecordFactory(previous_factory)
        redaction._installed = previous_installed
    raw = stream.getvalue()
    assert SECRET not in raw
    lines = [json.loads(line) for line in raw.splitlines()]
    assert lines[0]["msg"] == 'POST /v1/chat?key=[REDACTED] "200"'
    assert "PermissionError: denied for [REDACTED]" in lines[1]["text"]


def test_secret_registered_after_the_logger_was_configured(redacting):
    log, out = _logger()
    log.info("before: %s", SECRET)
    redaction.register(SECRET)
    log.info("after: %s", SECRET)
    first, second = out.getvalue().splitlines()
    assert SECRET in first  # not registered yet: nothing to hide
    assert SECRET not in second


def test_values_shorter_than_the_minimum_are_not_registered(redacting):
    short = "a" * (redaction.MIN_SECRET_LENGTH - 1)
    redaction.register(short)
    redaction.register("")
    redaction.register(None)
    assert redaction._secrets == set()
    log, out = _logger()
    log.info("the word %s stays", short)
    assert f"the word {short} stays" in out.getvalue()


def test_value_of_exactly_the_minimum_length_is_registered(redacting):
    value = "q" * redaction.MIN_SECRET_LENGTH
    redaction.register(value)
    assert value in redaction._secrets
    log, out = _logger()
    log.info("v=%s", value)
    assert value not in out.getvalue()


def test_longest_secret_is_masked_whole(redacting):
    short, long = "abcdef12", "abcdef12-and-more-XYZ"
    redaction.register(short)
    redaction.register(long)
    assert redaction.redact(f"{long} / {short}") == "[REDACTED] / [REDACTED]"


def test_redact_leaves_text_alone_without_secrets():
    assert redaction.redact("nothing to hide") == "nothing to hide"
    assert redaction.redact("") == ""


def test_a_broken_log_call_does_not_leak_the_secret_in_the_logging_error_report(redacting, monkeypatch):
    """logging prints a failing record's msg and args to stderr ("--- Logging error ---")."""
    redaction.register(SECRET)
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setattr(logging, "raiseExceptions", True)
    log, out = _logger()
    log.info("forgot the placeholder for", SECRET)  # TypeError while formatting
    log.info(f"{SECRET} %d", "not a number")
    report = stderr.getvalue()
    assert report.count("--- Logging error ---") == 2
    assert "Arguments:" in report
    assert SECRET not in report
    assert SECRET not in out.getvalue()
