"""A release as its publisher ships it: a folder or a zip (one wrapping folder or none), its files found by
name anywhere below the root; what goes wrong while reading one is a BuildError naming the file."""
import contextlib
import io
import os
from functools import partial
import zipfile
import zlib

from termsvc import settings
from termsvc.files import not_regular_reason, open_regular
from termsvc.fhir.shape import CONTROL_CHARACTER, control_character
from termsvc.loaders.protocol import BuildError


def max_line_chars() -> int:
    """The longest line a release file may have (the setting max_line_chars; LOINC's and RF2's longest hold a
    few thousand characters): a longer one is refused, never read whole into memory."""
    return settings.current().max_line_chars


def bounded_lines(f, label: str, first: int = 1):
    """(line number, line) of an open text file, a line at a time, none longer than max_line_chars() and none
    with a control character (fhir.shape.CONTROL_CHARACTER)."""
    most = max_line_chars()
    for lineno, line in enumerate(iter(partial(f.readline, most + 1), ""), first):
        if len(line) > most and not line.endswith("\n"):
            raise BuildError(f"{label}: line {lineno}: longer than {most} characters (setting max_line_chars)")
        if CONTROL_CHARACTER.search(line):
            raise BuildError(f"{label}: line {lineno}: {control_character(line)} (a release file holds none but"
                             " tab and its line ends)")
        yield lineno, line


class Release:
    """A release folder or zip: files found by base-name pattern anywhere below the root."""

    def __init__(self, location: str):
        self.location = os.path.abspath(location)
        self.zip = None
        self.members: dict[str, str] = {}   # name ('/'-separated) -> the zip's member name
        if os.path.isdir(self.location):
            names = []
            for d, _dirs, files in os.walk(self.location):
                # (a file of the release that is not a regular one is refused when read: reading())
                names += [os.path.relpath(os.path.join(d, f), self.location).replace(os.sep, "/") for f in files]
        elif os.path.isfile(self.location) and zipfile.is_zipfile(self.location):
            try:
                self.zip = zipfile.ZipFile(self.location)
            except (zipfile.BadZipFile, OSError) as e:
                raise BuildError(f"{location}: cannot open the zip file ({e})") from None
            # (a zip made on Windows may separate folders with backslashes)
            self.members = {n.replace("\\", "/"): n for n in self.zip.namelist() if not n.endswith(("/", "\\"))}
            names = list(self.members)
        else:
            why = not_regular_reason(self.location)
            raise BuildError(f"{location}: not a release folder or zip file" + (f" ({why})" if why else ""))
        self.names = sorted(n for n in names if "__MACOSX" not in n)

    def find(self, pattern) -> list[str]:
        return [n for n in self.names if pattern.search(n.rsplit("/", 1)[-1])]

    def find_suffix(self, suffix: str) -> list[str]:
        s = suffix.lower()
        return [n for n in self.names if n.lower() == s or n.lower().endswith("/" + s)]

    def label(self, name: str) -> str:
        return f"{self.location}!{name}" if self.zip else os.path.join(self.location, name)

    def open_text(self, name: str, encoding="utf-8-sig"):
        if self.zip:
            return io.TextIOWrapper(self.zip.open(self.members[name]), encoding=encoding, newline="")
        return open_regular(os.path.join(self.location, name), "r", encoding=encoding, newline="")

    @contextlib.contextmanager
    def reading(self, name: str, encoding="utf-8-sig"):
        """open_text, with what can go wrong while the file is read a BuildError naming it."""
        label = self.label(name)
        try:
            with self.open_text(name, encoding) as f:
                yield f
        except OSError as e:   # (a fifo, a dangling link...)
            raise BuildError(f"{label}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise BuildError(f"{label}: not UTF-8{self._line_not_in(name, encoding)} ({e.reason}:"
                             f" {e.object[e.start:e.end]!r})") from None
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise BuildError(f"{label}: damaged zip member ({e}); download the release again") from None

    def _line_not_in(self, name: str, encoding: str) -> str:
        """' at line N': the first line of a file that does not decode (read again, as bytes: only when
        reading it failed), or ''."""
        try:
            with (self.zip.open(self.members[name]) if self.zip else open(os.path.join(self.location, name), "rb")) as f:
                for lineno, raw in enumerate(f, 1):
                    try:
                        raw.decode(encoding)
                    except UnicodeDecodeError:
                        return f" at line {lineno}"
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError):
            pass
        return ""

    def close(self):
        if self.zip:
            self.zip.close()
