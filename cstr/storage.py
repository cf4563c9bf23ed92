"""Where the shipped files live, how they are written reproducibly, and how they are checked.

Every file the project ships under ``data/`` (datasets, weights, results,
settings) is listed with its SHA-256 in ``data/MANIFEST.sha256``
(``sha256sum`` format, paths relative to the folder, so
``cd data && sha256sum -c MANIFEST.sha256`` verifies everything).
Readers call :func:`verify_files` before they read; a missing, altered or
truncated file raises :class:`DataIntegrityError` naming it.

Writers are deterministic: :func:`write_npz` fixes member order and zip
timestamps, :func:`write_json` sorts keys and rounds floats to 12
significant digits, so the same content gives the same bytes.

:func:`data_root` is the one place that decides which data folder a
command or loader uses: an explicit argument, else ``$CSTR_DATA_DIR``, else
the ``data/`` folder of the source checkout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

MANIFEST_NAME = "MANIFEST.sha256"
DATA_ROOT = Path(__file__).resolve().parent.parent / "data"
"""The shipped data folder of a source checkout (``CSTR_DATA_DIR`` overrides it)."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class DataIntegrityError(ValueError):
    """A data file is missing, altered or truncated; ``path`` names it."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = path


def describe_root(root) -> str:
    """Where a data folder came from and whether it exists: the help a 'missing' error needs."""
    root = Path(root)
    exists = "exists" if root.is_dir() else "does not exist"
    if os.environ.get("CSTR_DATA_DIR") and Path(os.environ["CSTR_DATA_DIR"]) == root:
        source = "set by the environment variable CSTR_DATA_DIR"
    elif root == DATA_ROOT:
        source = "the checkout's data folder"
    else:
        source = "given with --data or as root"
    return f"the data folder {root} {exists}; it was {source}; point --data or CSTR_DATA_DIR at a data folder"


def data_root(root: Path | str | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$CSTR_DATA_DIR``, else the checkout's ``data/``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("CSTR_DATA_DIR", DATA_ROOT))


def write_npz(path: Path, arrays: dict) -> None:
    """Like ``np.savez_compressed`` but byte-reproducible: fixed member order and timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    Path(path).write_bytes(buffer.getvalue())


def _round_floats(value):
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v) for v in value]
    return value


def write_json(path: Path, value) -> None:
    """JSON with sorted keys, floats to 12 significant digits, a final newline."""
    Path(path).write_text(json.dumps(_round_floats(value), sort_keys=True, indent=1) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from ``root/MANIFEST.sha256``."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise DataIntegrityError(f"data manifest missing: {path} ({describe_root(root)})", path)
    entries = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataIntegrityError(f"{path}, line {number}: not in sha256sum format: {line!r}", path)
        entries[name.lstrip("*")] = digest
    return entries


def update_manifest(root: Path, names) -> None:
    """Add or refresh the hashes of ``names`` (relative to ``root``); entries stay sorted."""
    root = Path(root)
    path = root / MANIFEST_NAME
    entries = read_manifest(root) if path.is_file() else {}
    for name in names:
        entries[str(name)] = sha256_file(root / name)
    # write beside and rename: a reader never sees a half-written manifest
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(f"{entries[name]}  {name}\n" for name in sorted(entries)), encoding="utf-8")
    os.replace(partial, path)


def verify_files(root: Path, names) -> None:
    """Check ``names`` against the manifest; raise :class:`DataIntegrityError` naming the first bad file."""
    root = Path(root)
    entries = read_manifest(root)
    for name in names:
        path = root / name
        if name not in entries:
            raise DataIntegrityError(f"{path} is not listed in {root / MANIFEST_NAME}", path)
        if not path.is_file():
            raise DataIntegrityError(
                f"data file missing: {path} (listed in {root / MANIFEST_NAME}); "
                "regenerate it with `python -m cstr generate-data`",
                path,
            )
        actual = sha256_file(path)
        if actual != entries[name]:
            raise DataIntegrityError(
                f"data file altered or truncated: {path} ({path.stat().st_size} bytes) has sha256 {actual}, "
                f"the manifest expects {entries[name]}",
                path,
            )


def read_verified_json(root: Path | str | None, name: str):
    """The JSON file ``name`` of the data folder, after checking it against the manifest."""
    root = data_root(root)
    verify_files(root, [name])
    return json.loads((root / name).read_text(encoding="utf-8"))


def add_data_argument(parser) -> None:
    """The data-folder option every command shares: ``--data DIR`` (``--out DIR`` is the same option)."""
    parser.add_argument(
        "--data",
        "--out",
        dest="data",
        type=Path,
        default=None,
        help="data folder to read and write (default: $CSTR_DATA_DIR, else the repository's data/)",
    )
