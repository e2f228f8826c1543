"""`termsvc dicom-codes FILE|DIR...`: the EU codes for the local values of DICOM headers
(the work is termsvc/dicom_codes.py)."""
import sys

import click
import orjson

from termsvc.cli.common import Unanswerable, with_settings
from termsvc.cli.oneshot import open_client
from termsvc.client import TerminologyError
from termsvc.dicom_codes import Resolver, dicom_files, file_report, imaging_study, read_header, study_reports


@click.command("dicom-codes")
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option("--fhir", "fhir", type=click.Choice(["r5", "r4"], case_sensitive=False),
              help="Write ImagingStudy resources (FHIR R5 or R4) instead of the JSON report.")
@click.option("--json", "as_json", is_flag=True, help="The JSON report (the default).")
@click.option("--db", metavar="PATH", help="Local database [setting db].")
@click.option("--server", metavar="URL", help="Ask this FHIR terminology server (base URL) instead of the local database.")
@with_settings("db")
def dicom_codes_cmd(settings, paths, fhir, as_json, db, server):
    """The EU codes for the local values of DICOM headers (files, or folders read recursively).

    Exit status 0 when every value found an EU code, 1 when some value was left unmapped or a
    file was skipped, 2 when nothing could be answered."""
    import pydicom
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE  # non-conforming values are the point
    client = open_client(settings, server, r4=False)
    try:
        resolver = Resolver(client)
    except TerminologyError as e:
        raise Unanswerable(e.message) from None
    files, skipped = [], []
    for path in dicom_files(paths):
        try:
            ds = read_header(path)
        except ValueError as e:
            skipped.append({"file": path, "reason": str(e)})
            continue
        files.append(file_report(path, ds, resolver))
    studies = study_reports(files)
    if fhir:
        resources = [imaging_study(s, fhir.lower() == "r4") for s in studies]
        doc = resources[0] if len(resources) == 1 else {
            "resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    else:
        doc = {"files": files, "studies": [{k: v for k, v in s.items() if not k.startswith("_")} for s in studies],
               "skipped": skipped}
    click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    for s in skipped:
        click.echo(f"termsvc: skipped {s['file']}: {s['reason']}", err=True)
    if not files:
        sys.exit(2)
    sys.exit(1 if skipped or any(f["unmapped"] for f in files) else 0)


COMMANDS = [dicom_codes_cmd]
