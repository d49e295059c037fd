"""Committed results: weights with their config, metrics and a sha256 manifest.

Layout of an artifact folder::

    weights.pt      a dict of tensors (torch.save; loaded with weights_only=True)
    config.json     {"config": <the resolved experiment config>, "format": 1, provenance...}
    metrics.json    the claims measured when these weights were made (written by the chapter)
    MANIFEST.json   {"files": {name: sha256}}

:func:`save_artifacts` writes a complete new folder beside the old one and swaps it in only when
every file is written, so an interrupted run leaves the previous artifacts intact.
:func:`load_artifacts` refuses a missing, corrupt (sha256 mismatch) or stale (config mismatch)
artifact with a message that says how to retrain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from scorelib.errors import CorruptArtifactError, MissingArtifactError, StaleArtifactError
from scorelib.runtime import git_commit, versions

FORMAT = 1
WEIGHTS, CONFIG, METRICS, MANIFEST = "weights.pt", "config.json", "metrics.json", "MANIFEST.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalise(config: Mapping[str, Any]) -> dict:
    """The JSON form of a config (tuples become lists), as stored and compared."""
    return json.loads(json.dumps(dict(config), sort_keys=True))


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_manifest(directory: Path) -> None:
    """sha256 of every artifact file (hidden files, such as a refresh's ``.recording`` marker, are not artifacts)."""
    files = {p.name: _sha256(p) for p in sorted(directory.iterdir())
             if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    _write_json(directory / MANIFEST, {"files": files})


def save_artifacts(directory: str | os.PathLike, tensors: Mapping[str, Tensor], config: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (moved to CPU) and ``config`` as a fresh artifact folder, atomically.

    The previous folder, if any, is replaced only after the new one is complete. Its metrics.json
    is not carried over: metrics belong to the weights they were measured on.
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
    try:
        torch.save({k: v.detach().cpu() for k, v in tensors.items()}, tmp / WEIGHTS)
        _write_json(
            tmp / CONFIG,
            {
                "format": FORMAT,
                "config": _normalise(config),
                "versions": versions(),
                "threads": torch.get_num_threads(),  # the summation order of the training: its last bits
                "git_commit": git_commit(directory.parent),
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
        _write_manifest(tmp)
        if directory.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, old / directory.name)
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return directory


def write_metrics(directory: str | os.PathLike, metrics: Mapping[str, Any]) -> None:
    """Add metrics.json to an artifact folder (atomic replace) and refresh its manifest."""
    directory = Path(directory)
    tmp = directory / f".{METRICS}.tmp"
    _write_json(tmp, dict(metrics))
    os.replace(tmp, directory / METRICS)
    _write_manifest(directory)


def verify_manifest(directory: str | os.PathLike, retrain_hint: str = "") -> None:
    """Check every file against MANIFEST.json; raise :class:`CorruptArtifactError` on a mismatch."""
    directory = Path(directory)
    hint = f" To rebuild it: {retrain_hint}" if retrain_hint else ""
    manifest_path = directory / MANIFEST
    if not manifest_path.exists():
        raise MissingArtifactError(f"no artifacts in {directory} (MANIFEST.json is missing).{hint}")
    try:
        files = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
    except (json.JSONDecodeError, KeyError) as err:
        raise CorruptArtifactError(f"{manifest_path} is not a valid manifest ({err}).{hint}") from err
    for name, expected in files.items():
        path = directory / name
        if not path.exists():
            raise CorruptArtifactError(f"{path} is listed in MANIFEST.json but missing.{hint}")
        if _sha256(path) != expected:
            raise CorruptArtifactError(
                f"{path} does not match its sha256 in MANIFEST.json (corrupt or edited by hand).{hint}"
            )


def read_config(directory: str | os.PathLike) -> dict:
    """The stored config.json (after :func:`verify_manifest`)."""
    return json.loads((Path(directory) / CONFIG).read_text(encoding="utf-8"))


def load_artifacts(
    directory: str | os.PathLike,
    expected_config: Mapping[str, Any],
    *,
    retrain_hint: str = "",
    map_location: torch.device | str = "cpu",
) -> dict[str, Tensor]:
    """Load the tensors of an artifact folder made with ``expected_config``.

    Raises:
        MissingArtifactError: no artifacts there.
        CorruptArtifactError: a file fails its sha256 or cannot be read.
        StaleArtifactError: the stored config differs from ``expected_config`` (names the keys).
    """
    directory = Path(directory)
    hint = f" To rebuild it: {retrain_hint}" if retrain_hint else ""
    verify_manifest(directory, retrain_hint)
    stored = read_config(directory)
    expected = _normalise(expected_config)
    if stored.get("format") != FORMAT or stored.get("config") != expected:
        old = stored.get("config", {})
        changed = sorted(k for k in set(old) | set(expected) if old.get(k) != expected.get(k))
        detail = ", ".join(f"{k}: stored {old.get(k)!r} vs now {expected.get(k)!r}" for k in changed[:5])
        raise StaleArtifactError(
            f"the artifacts in {directory} were made with a different configuration ({detail or 'format'})."
            f"{hint}"
        )
    try:
        tensors = torch.load(directory / WEIGHTS, map_location=map_location, weights_only=True)
    except Exception as err:  # any unpickling failure means the file is unusable
        raise CorruptArtifactError(f"cannot read {directory / WEIGHTS}: {err}.{hint}") from err
    return tensors
