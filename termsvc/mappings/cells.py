"""A spreadsheet file's cells, whatever the file is: told by its bytes, not its name - a zip archive or an OLE2
file is read as a workbook (termsvc.mappings.workbook: an XLSX, else a ValueError saying what it is), anything
else as a CSV (termsvc.mappings.reading)."""
from __future__ import annotations

import os

from termsvc.files import NotRegularFile, open_regular
from termsvc.mappings.reading import MAX_FILE_BYTES, Cells, read_csv
from termsvc.mappings.workbook import OLE2, read_xlsx


def read_cells(path: str, header=None) -> Cells:
    """The cells of a CSV file or an XLSX workbook, its header row the first of its first HEADER_SEARCH non-blank
    rows that names a column of `header` (a canonical column name, or several), else its first; the rows above it
    are `Cells.above`. Raises ValueError if it cannot be read (saying what the file is: empty, too big, an .xls, a
    password-protected workbook, an .ods, a binary file, ...)."""
    try:
        f = open_regular(path)
    except NotRegularFile as e:
        raise ValueError(e.strerror) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"the file has {size / 2**20:,.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB read")
        head = f.read(8)
    if head.startswith((b"PK\x03\x04", OLE2)) or path.lower().endswith(".xlsx"):
        return read_xlsx(path, header)
    return read_csv(path, header)
