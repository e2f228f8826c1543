"""The resources of a parsed JSON value: itself, or the entries of a Bundle (nested Bundles too)."""
from typing import Any
from collections.abc import Iterator


def iter_bundle(obj: object) -> Iterator[dict[str, Any]]:
    """The resources of a parsed JSON value: itself, or the entries of a Bundle (recursively); a value that
    is not a resource (no resourceType) has none."""
    if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
        return
    if obj["resourceType"] == "Bundle":
        for entry in obj.get("entry") or []:
            if isinstance(entry, dict):
                yield from iter_bundle(entry.get("resource"))
        return
    yield obj
