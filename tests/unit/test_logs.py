import logging

from nirvana.logs import JsonFormatter, RedactSecrets


def _record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)


def test_tokens_in_query_strings_are_redacted():
    record = _record('%s - "WebSocket %s" [accepted]', "127.0.0.1:5",
                     "/ws?token=eyJhbGciOi.abc.def&x=1")
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert "eyJhbGciOi" not in line
    assert "/ws?token=[redacted]&x=1" in line


def test_other_messages_are_untouched():
    record = _record("listening on %s", "http://127.0.0.1:8000/?page=2")
    RedactSecrets().filter(record)
    assert record.getMessage() == "listening on http://127.0.0.1:8000/?page=2"
