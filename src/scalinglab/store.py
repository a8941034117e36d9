"""A results store: a directory of finished runs, one JSON record per run.

Layout::

    results/NAME/
        store.json            marks the directory as a store (format version, creation date)
        runs/<hash>.json      one record per finished run
        README.md             optional: how the store was made (the sweep command)

A record is a JSON object ``{"run_id", "config", "result", "provenance"}``; ``run_id`` is
the hash of the config, so the same config always lands in the same file. Each record is
written to a temporary file in ``runs/`` and moved into place with :func:`os.replace`,
which is atomic on POSIX and Windows: a run is either fully recorded or absent, and two
workers writing to one store (even the same record) never leave a torn file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

STORE_MARKER = "store.json"
RUNS_DIR = "runs"
FORMAT_VERSION = 1


class StoreError(ValueError):
    """A directory that is not a store, or a record that cannot be read."""


class ResultsStore:
    """A directory of run records. ``ResultsStore(path, create=True)`` makes one if absent."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = False) -> None:
        self.path = Path(path)
        marker = self.path / STORE_MARKER
        if not marker.exists():
            if not create:
                raise StoreError(f"{self.path} is not a results store: {marker} is missing")
            if self.path.exists() and any(p.name != RUNS_DIR for p in self.path.iterdir()):
                raise StoreError(f"{self.path} exists and is not empty; refusing to make it a results store")
            (self.path / RUNS_DIR).mkdir(parents=True, exist_ok=True)
            _atomic_write_json(
                marker,
                {"format_version": FORMAT_VERSION, "created": datetime.now(timezone.utc).isoformat()},
            )
        else:
            try:
                meta = json.loads(marker.read_text())
            except (OSError, json.JSONDecodeError) as error:
                raise StoreError(f"{marker} is not a valid store marker: {error}") from error
            if meta.get("format_version") != FORMAT_VERSION:
                raise StoreError(f"{marker} has format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        (self.path / RUNS_DIR).mkdir(exist_ok=True)

    def record_path(self, run_id: str) -> Path:
        """Where the record of ``run_id`` lives (whether or not it exists yet)."""
        return self.path / RUNS_DIR / f"{run_id}.json"

    def has(self, run_id: str) -> bool:
        """True when ``run_id`` is fully recorded."""
        return self.record_path(run_id).exists()

    def run_ids(self) -> set[str]:
        """The ids of all recorded runs."""
        return {p.stem for p in (self.path / RUNS_DIR).glob("*.json")}

    def put(self, record: dict[str, Any]) -> Path:
        """Write ``record`` atomically under its ``run_id``; returns the record's path."""
        run_id = record.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise StoreError("record must have a non-empty string 'run_id'")
        path = self.record_path(run_id)
        _atomic_write_json(path, record)
        return path

    def get(self, run_id: str) -> dict[str, Any]:
        """The record of ``run_id``; ``StoreError`` naming the file when it is missing or corrupt."""
        return _read_record(self.record_path(run_id))

    def load(self) -> list[dict[str, Any]]:
        """All readable records, sorted by run id.

        A corrupt record does not stop the others from loading: it is left out with a
        warning naming the file.
        """
        records = []
        for path in sorted((self.path / RUNS_DIR).glob("*.json")):
            try:
                records.append(_read_record(path))
            except StoreError as error:
                warnings.warn(str(error), stacklevel=2)
        return records

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.load())

    def __len__(self) -> int:
        return len(self.run_ids())

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.path)!r}, runs={len(self)})"


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise StoreError(f"no record at {path}") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(f"corrupt record {path}: {error}") from error
    missing = {"run_id", "config", "result", "provenance"} - set(record) if isinstance(record, dict) else {"all"}
    if missing:
        raise StoreError(f"corrupt record {path}: missing fields {sorted(missing)}")
    return record


def _atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path``, flush it to disk, then rename it into place."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, sort_keys=True, separators=(",", ":"))
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp_name, 0o644)  # mkstemp makes 0600; records are meant to be shared
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
