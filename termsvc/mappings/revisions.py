"""A folder (or table file) of mapping tables as it was at a git revision, for `termsvc mappings diff
--git REV1..REV2 PATH`: the files come out of the repository the path is in (`git archive`), into a
temporary folder; the working tree is the path itself.

    old, new = parse_range("HEAD~3..HEAD")       # ("HEAD~3", "HEAD"); "REV.." and "REV": up to the working tree
    with at_revision(path, "HEAD~3") as there:   # the path's files at that revision (None: not there)
        ...
"""
from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager

GIT_TIMEOUT = 60


class RevisionError(ValueError):
    """The revision or the repository cannot be read (not a repository, unknown revision, no git)."""


def parse_range(spec: str) -> tuple[str, str | None]:
    """(old revision, new revision or None for the working tree) of `REV1..REV2`, `REV1..` or `REV1`."""
    old, sep, new = spec.partition("..")
    if new.startswith(".") or not old or any(r.startswith("-") for r in (old, new) if r):
        raise RevisionError(f"'{spec}' is not a range of revisions (REV1..REV2, REV1.. or REV1)")
    return old, (new or None) if sep else None


def _git(args: list, cwd: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise RevisionError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise RevisionError(f"git {args[0]} took longer than {GIT_TIMEOUT} s") from None
    if done.returncode != 0:
        raise RevisionError(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done.stdout


def repository_of(path: str) -> tuple[str, str]:
    """(the repository's top folder, the path relative to it)."""
    path = os.path.realpath(path)
    where = path if os.path.isdir(path) else os.path.dirname(path)
    if not os.path.isdir(where):
        raise RevisionError(f"no such folder: {where}")
    top = os.path.realpath(_git(["rev-parse", "--show-toplevel"], where).decode().strip())
    return top, os.path.relpath(path, top)


@contextmanager
def at_revision(path: str, rev: str | None):
    """The path as it was at `rev` (a temporary copy of its folder: a table file comes with its TOML and
    the folder's code systems), or the path itself for rev None; None when the revision has no such path
    (a folder or table added since)."""
    if rev is None:
        yield path
        return
    top, rel = repository_of(path)
    try:
        commit = _git(["rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"], top).decode().strip()
    except RevisionError as e:
        raise RevisionError(f"{rev} is not a revision of the repository {top} ({e})") from None
    folder = rel if os.path.isdir(path) else os.path.dirname(rel)
    spec = folder or "."
    names = [n for n in _git(["ls-tree", "-r", "-z", "--name-only", commit, "--", spec], top).decode(
        "utf-8", "surrogateescape").split("\0") if n]
    table = os.path.splitext(rel)[0].replace(os.sep, "/")
    there = names if os.path.isdir(path) else [n for n in names if os.path.splitext(n)[0] == table]
    with tempfile.TemporaryDirectory(prefix="termsvc-rev-") as tmp:
        if not there:
            yield None
            return
        with tarfile.open(fileobj=io.BytesIO(_git(["archive", "--format=tar", commit, "--", spec], top))) as tar:
            tar.extractall(tmp, filter="data")
        yield os.path.normpath(os.path.join(tmp, rel))
