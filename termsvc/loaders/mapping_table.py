"""Load the local-to-EU mapping tables (mappings_csv/) as ConceptMaps.

    termsvc build ...                      # the mapping tables shipped with termsvc by default
    SourceSpec("mappings", "path/to/dir", {"include_unaccepted": True})   # test environments

- First the local code systems and value sets next to the tables
  (`<dir>/codesystems/*.json`: CodeSystem / ValueSet resources or Bundles of them), as
  one source `mappings:codesystems`.
- Every table is read and checked for structural errors (termsvc.mappings.table). If any
  table has such errors nothing is loaded: a BuildError lists every error as
  `file:row: message` (all tables are checked before anything is written, so one run
  reports everything). With `--keep-going` the build then skips the whole mappings source.
- Each table is its own source (`mappings:<name>`, sha256 of its files) and adds:
  * the served ConceptMap (`add_resource`, indexed for $translate): only `accepted`
    rows, unless `include_unaccepted=True` (then every row; each target/element keeps
    its row status in the `mapping-status` extension, so $translate can still filter);
  * the complete table, every row with its status (`add_mapping_table`): not served,
    what `termsvc mappings export --db` reads.
"""
import hashlib
import os

from termsvc import content
from termsvc.loaders.fhir_json import iter_bundle, read_json
from termsvc.mappings.table import find_tables, read_table
from termsvc.mappings.to_fhir import concept_map_from_table
from termsvc.store.writer import BuildError

CODESYSTEM_FOLDER = "codesystems"
LOCAL_TYPES = ("CodeSystem", "ValueSet")


def _sha256(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(p for p in paths if p):
        if os.path.exists(p):
            h.update(os.path.basename(p).encode())
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def load_codesystems(writer, folder: str, progress) -> int:
    cs_dir = os.path.join(folder, CODESYSTEM_FOLDER)
    if not os.path.isdir(cs_dir):
        return 0
    files = sorted(os.path.join(cs_dir, f) for f in os.listdir(cs_dir) if f.lower().endswith(".json"))
    resources = [r for p in files for r in iter_bundle(read_json(p)) if r.get("resourceType") in LOCAL_TYPES]
    if not resources:
        return 0
    sid = writer.add_source("mappings:codesystems", "mappings", None, cs_dir, _sha256(files))
    for r in resources:
        writer.add_resource(r, sid, "R5")
    writer.finish_source(sid)
    progress(f"  {len(resources)} local code system / value set resources from {cs_dir}")
    return len(resources)


def load(writer, location, progress, include_unaccepted: bool = False, **_opts):
    if location is None:
        with content.folder(content.MAPPINGS) as folder:
            return load(writer, folder, progress, include_unaccepted)
    folder = os.path.abspath(location)
    if not os.path.isdir(folder):
        raise BuildError(f"mappings: {folder}: no such folder")
    tables = [read_table(b) for b in find_tables([folder])]
    errors = [f"{p.where()}: {p.message}" for t in tables for p in t.errors]
    if errors:
        shown = errors[:200]
        more = f"\n  ... and {len(errors) - 200} more" if len(errors) > 200 else ""
        raise BuildError(f"{len(errors)} error(s) in the mapping tables of {folder}"
                         " (run `termsvc mappings check` for the full report):\n  "
                         + "\n  ".join(shown) + more)
    load_codesystems(writer, folder, progress)
    statuses = None if include_unaccepted else {"accepted"}
    for t in tables:
        sid = writer.add_source(f"mappings:{t.name}", "mappings", t.meta.get("version"), t.path,
                                _sha256([t.path, t.toml_path]))
        writer.add_resource(concept_map_from_table(t, statuses), sid, "R5")
        writer.add_mapping_table(concept_map_from_table(t), sid)
        n_served = sum(1 for r in t.rows if statuses is None or r.status in statuses)
        writer.finish_source(sid, {"rows": len(t.rows), "rows_served": n_served})
        progress(f"  {t.file}: {len(t.rows)} rows, {n_served} served")
