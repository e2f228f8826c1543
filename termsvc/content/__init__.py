"""The content shipped with termsvc, read as package data (importlib.resources):

- `valuesets`: the IG's ValueSets and CodeSystems (R5 JSON), loaded by termsvc/loaders/ig.py;
- `mappings_csv`: the local-to-EU mapping tables, their local code systems in `codesystems/`.

Both are top-level folders of the source tree (`valuesets/`, `mappings_csv/`); pyproject.toml
installs them as the packages termsvc.content.valuesets and termsvc.content.mappings_csv, so an
installed termsvc builds its default content from any directory.
"""
from contextlib import contextmanager
from importlib.resources import as_file, files

IG = "valuesets"
MAPPINGS = "mappings_csv"


@contextmanager
def folder(name: str):
    """`with content.folder(content.IG) as path:` the filesystem path of a content folder."""
    with as_file(files(f"{__name__}.{name}")) as path:
        yield str(path)
