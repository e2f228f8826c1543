"""Pulling a content build published elsewhere: download, verify, swap in.

    termsvc build --db out/termsvc.db            # once; prints the sha256 of the file
    (publish out/termsvc.db on any HTTP(S) server or object store)
    termsvc pull https://host/termsvc-2026-11-27.db --sha256 HEX --db /content/termsvc.db

The download goes to a file beside the served one and is renamed over it only when its
sha256 is the one expected and it is a termsvc database of this schema version: the swap
is the one a local build does (a running server picks it up by the inode change), and a
failed pull leaves the served file as it was. A pull never fills the disk: it stops (and removes
what it wrote) when less than the setting pull_keep_free_bytes would stay free on the served file's volume, and
refuses at once a download that announces more.
"""
import hashlib
import os
import re
import urllib.parse
import urllib.request

from termsvc import settings
from termsvc.files import open_regular
from termsvc.store.digest import build_sha256, remember_sha256
from termsvc.store.queries import NotADatabase
from termsvc.store.reader import Store
from termsvc.store.schema import SCHEMA_VERSION

CHUNK = 1 << 20
CONNECT_TIMEOUT_S = 15
READ_TIMEOUT_S = 60   # between two chunks of the body
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class PullError(Exception):
    """The artifact could not be pulled; the served file is unchanged."""


def free_bytes(folder: str) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def _no_room(url: str, folder: str, size: int) -> PullError | None:
    """The refusal of `size` more bytes in `folder` when fewer than the setting pull_keep_free_bytes would stay
    free (the volume of the served file is the server's, the logs')."""
    keep_free = settings.current().pull_keep_free_bytes
    free = free_bytes(folder)
    if free - size >= keep_free:
        return None
    return PullError(f"{url}: {size / 1e6:,.1f} MB more would leave {max(free - size, 0) / 1e6:,.1f} MB free on the"
                     f" volume of {folder}; a pull leaves {keep_free / 1e6:,.0f} MB free (free some space, or lower the setting"
                     " pull_keep_free_bytes)")


def _chunks(url: str, folder: str):
    """The bytes at `url` (http, https, file, or a plain path), a chunk at a time. Raises PullError
    when the source answers with an error, the connection breaks, or it announces more than `folder`
    has room for."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        yield from _http_chunks(url, folder)
    elif scheme in ("file", ""):
        path = urllib.request.url2pathname(urllib.parse.urlsplit(url).path) if scheme else url
        try:
            with open_regular(path) as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        except OSError as e:
            raise PullError(f"{url}: {e.strerror or e}") from e
    else:
        raise PullError(f"{url}: unsupported URL scheme '{scheme}' (http, https or file)")


def _http_chunks(url: str, folder: str):
    import requests
    announced = None
    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                          headers={"Accept-Encoding": "identity"}) as r:
            if r.status_code != 200:
                raise PullError(f"{url}: HTTP {r.status_code} {r.reason}")
            announced = r.headers.get("Content-Length")
            length = int(announced) if announced and announced.isdigit() else None
            if length is not None and (refusal := _no_room(url, folder, length)):
                raise refusal
            yield from r.iter_content(CHUNK)   # (never more than announced: urllib3 reads that many)
    except requests.exceptions.ChunkedEncodingError:  # (any short body also fails the checksum)
        raise PullError(f"{url}: incomplete download: the connection closed before the end"
                        + (f" of the {announced} bytes announced" if announced else "")) from None
    except requests.RequestException as e:
        raise PullError(f"{url}: download failed: {e}") from e


def check_build(path: str):
    """A termsvc database of the schema version this server reads, else PullError."""
    store = Store(path)
    try:
        store.check(path)
        version = store.meta("schema_version")
    except NotADatabase as e:
        raise PullError(f"not a termsvc database: {e.reason}") from None
    finally:
        store.close()
    if str(version) != str(SCHEMA_VERSION):
        raise PullError(f"a termsvc database of schema version {version}; this termsvc reads version {SCHEMA_VERSION}")


def pull(url: str, sha256: str, db_path: str, progress=lambda message: None) -> dict:
    """Download `url` beside `db_path`, verify it and swap it in. Returns {"sha256", "bytes", "swapped"}:
    swapped is False when the served file already was that build."""
    expected = sha256.strip().lower()
    if not SHA256_HEX.fullmatch(expected):
        raise PullError(f"--sha256 must be 64 hexadecimal digits, not {sha256!r}")
    final = os.path.abspath(db_path)
    if os.path.isfile(final) and build_sha256(final) == expected:
        progress(f"{final} already is the build {expected[:12]}: nothing to do")
        return {"sha256": expected, "bytes": os.path.getsize(final), "swapped": False}
    os.makedirs(os.path.dirname(final), exist_ok=True)
    part = f"{final}.pulling-{os.getpid()}"
    try:
        progress(f"downloading {url}")
        digest, received = hashlib.sha256(), 0
        with open(part, "wb") as out:
            for chunk in _chunks(url, os.path.dirname(final)):
                if refusal := _no_room(url, os.path.dirname(final), len(chunk)):   # (an endless body too)
                    raise refusal
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != expected:
            raise PullError(f"{url}: the {received} bytes downloaded have sha256 {got}, expected {expected}")
        try:
            check_build(part)
        except PullError as e:
            raise PullError(f"{url}: {e}") from e
        os.replace(part, final)
        remember_sha256(final, expected)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise
    dir_fd = os.open(os.path.dirname(final), os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename survives a crash
    finally:
        os.close(dir_fd)
    progress(f"build {expected[:12]} ({received / 1e6:.1f} MB) swapped in: {final}")
    return {"sha256": expected, "bytes": received, "swapped": True}
