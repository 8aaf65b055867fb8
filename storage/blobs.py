"""Content-addressed blob store on the local file system.

Files are named by the SHA-256 of their bytes (``ab/cd/<sha256>.<ext>``), so no name a
user sent ever reaches a path, identical uploads share one file, and a file's name proves
its content. Writes go to a temporary file in the same folder and are renamed into place,
so a reader never sees half a file and a crash leaves at most a stray temp file.

An S3-compatible store can implement the same three methods later.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_KEY_RE = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]{1,5}$")


def blob_key(data: bytes, ext: str) -> str:
    """The storage key for ``data``: derived only from its hash and our chosen extension."""
    if not re.fullmatch(r"[a-z0-9]{1,5}", ext):
        raise ValueError(f"bad extension {ext!r}")
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}.{ext}"


def is_valid_key(key: str) -> bool:
    return bool(_KEY_RE.fullmatch(key))


class LocalBlobStore:
    """Blobs under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, key: str) -> Path:
        if not is_valid_key(key):
            raise ValueError("invalid blob key")
        return self.root / key

    def put(self, data: bytes, ext: str) -> str:
        """Store ``data`` (atomically; a no-op when the same bytes are already there)."""
        key = blob_key(data, ext)
        path = self.path_for(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def delete(self, key: str) -> None:
        """Remove a blob; callers first make sure no row references it."""
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()
