"""One exception tree for the whole project.

Every error a user can cause carries a safe public message and an HTTP status; only
``web/`` turns them into responses, so the same error reads well in a form, in the JSON
API and on the command line. Internal detail goes to the log, never into ``public``.
"""

from __future__ import annotations


class TesseraError(Exception):
    """Base class: ``public`` is safe to show to a client, ``status`` is the HTTP status."""

    status: int = 400

    def __init__(self, public: str, *, status: int | None = None) -> None:
        super().__init__(public)
        self.public = public
        if status is not None:
            self.status = status


class ConfigError(TesseraError):
    """The configuration file is wrong; the message names the key."""


class InvalidInput(TesseraError):
    """A request carried values we cannot accept (422 in the API, a form message on pages)."""

    status = 422


class MediaError(InvalidInput):
    """An upload is not an image we accept (wrong format, too big, truncated, a bomb...)."""


class NotFound(TesseraError):
    status = 404


class Forbidden(TesseraError):
    status = 403


class Unauthorized(TesseraError):
    status = 401


class Conflict(TesseraError):
    status = 409


class Gone(TesseraError):
    status = 410


class RateLimited(TesseraError):
    status = 429
