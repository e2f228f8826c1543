"""The sha256 of a build file, remembered beside it (PATH.sha256) while the file is unchanged: what
`termsvc build` prints, `termsvc pull --sha256` checks, /metrics labels and the admin jobs report."""
import hashlib
import os

import orjson

from termsvc.files import open_regular


def file_sha256(path: str) -> str:
    """(NotRegularFile for a fifo, a folder...: termsvc.files)"""
    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _identity(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def remember_sha256(path: str, sha256: str) -> None:
    """Keep a build's sha256 beside it (PATH.sha256, with the file's inode, size and mtime), for
    build_sha256. Best effort: a folder the process cannot write to only costs a rehash."""
    note = f"{path}.sha256"
    try:
        with open(f"{note}.{os.getpid()}", "wb") as f:
            f.write(orjson.dumps({"sha256": sha256, "file": _identity(path)}))
        os.replace(f"{note}.{os.getpid()}", note)
    except OSError:
        pass


def build_sha256(path: str) -> str:
    """The sha256 of the build file at `path`: the one remembered beside it while that file is the
    one it was computed for (a GB-sized SNOMED CT build is hashed once, not by every worker and
    every `termsvc info`), else computed and remembered."""
    try:
        with open(f"{path}.sha256", "rb") as f:
            note = orjson.loads(f.read())
        sha256 = note.get("sha256")
        if note.get("file") == _identity(path) and isinstance(sha256, str):
            return sha256
    except (OSError, ValueError, AttributeError, KeyError):
        pass
    sha256 = file_sha256(path)
    remember_sha256(path, sha256)
    return sha256
