"""Opening a file a user names, one rule for every tool: only a regular file is read, and opening never
blocks. A fifo (whose open and read wait for a writer for ever), a socket, a device or a folder named as
a file is refused with NotRegularFile (an OSError saying what it is): each tool reports it as its
contract says (the build: a BuildError naming the file; check-resource, dicom-codes and `mappings
check`: the file listed as unreadable with the reason; pull: a PullError). A folder walk skips such
entries with `is_regular`, and says so where the tool lists what it skipped."""
import errno
import os
import stat
from typing import IO, Any

_KINDS = ((stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


class NotRegularFile(OSError):
    def __init__(self, path: str, kind: str):
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", path)


def kind_of(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular(path: str, mode: str = "rb", **kw: Any) -> IO:
    """`open(path, mode, **kw)` for reading a regular file (links followed); NotRegularFile for anything
    else, found without blocking (opened with O_NONBLOCK, then fstat)."""
    if any(c in mode for c in "wax+"):
        raise ValueError("open_regular opens for reading")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, kind_of(st.st_mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kw)
    except BaseException:
        os.close(fd)
        raise


def is_regular(path: str) -> bool:
    """A regular file (links followed; not a fifo, a dangling or looping link): what a folder walk reads."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def not_regular_reason(path: str) -> str | None:
    """'not a regular file (a fifo)' for a path that exists and is no regular file, else None."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else f"not a regular file ({kind_of(mode)})"
