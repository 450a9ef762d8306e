"""Errors raised by vendor state and routes; each vendor renders them in its own envelope."""

from __future__ import annotations

from typing import Any


class EmulatorError(Exception):
    """Base for every error a vendor turns into an HTTP response.

    `status_code` and `code` are what a vendor's renderer needs; `details` carries vendor-specific
    extras (e.g. 8x8's per-endpoint `errors` shape). `message` is the human text, kept as a constant in
    the vendor's `errors.py`.
    """

    status_code: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if code is not None:
            self.code = code
        self.details = details


class NotFound(EmulatorError):
    status_code = 404
    code = "not_found"


class ConfigError(ValueError):
    """Bad settings or config file; the message names the field at fault."""
