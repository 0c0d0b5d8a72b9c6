"""Caching what was loaded from files (playbooks, draft wording) by the files' contents, per process."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def files_key(paths: Iterable[Path]) -> tuple[tuple[str, str | None], ...]:
    """Each file's resolved path and a digest of its bytes (None when missing): a cache key that any edit
    changes, even one within the same mtime tick and of the same size."""
    key = []
    for path in paths:
        try:
            digest: str | None = hashlib.sha256(path.read_bytes()).hexdigest()
        except (FileNotFoundError, IsADirectoryError):
            digest = None
        key.append((str(path.resolve()), digest))
    return tuple(key)


class FileCache:
    """What was loaded from some files, per process: the app factory runs once per test (and per worker),
    and parsing the same unchanged files again is most of its time. Keeps the newest `limit` entries."""

    def __init__(self, limit: int = 16) -> None:
        self._entries: dict[Any, Any] = {}
        self._limit = limit

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def put(self, key: Any, value: Any) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self._limit:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = value

    def clear(self) -> None:
        self._entries.clear()
