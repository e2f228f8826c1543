"""`termsvc dicom-codes FILE|DIR...`: the EU codes for the local values of DICOM headers
(the work is termsvc/dicom_codes.py)."""
import sys

import click
import orjson

from termsvc.cli.common import Unanswerable, open_client, with_settings
from termsvc.client import TerminologyError
from termsvc.dicom_codes import Resolver, dicom_files, file_report, imaging_study, read_header, study_reports


PROGRESS_EVERY = 10_000   # files: a line on stderr says how far a long run is


@click.command("dicom-codes")
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
@click.option("--fhir", "fhir", type=click.Choice(["r5", "r4"], case_sensitive=False),
              help="Write ImagingStudy resources (FHIR R5 or R4) instead of the JSON report.")
@click.option("--profile", is_flag=True, help="Claim the IG's ImagingStudy profile (meta.profile) in --fhir output.")
@click.option("--patient-id-system", metavar="URI",
              help="The system of the subject's identifier (the Patient IDs' issuer) in --fhir output"
                   " [setting patient_id_system].")
@click.option("--json", "as_json", is_flag=True, help="The JSON report (the default).")
@click.option("--db", metavar="PATH", help="Local database [setting db].")
@click.option("--server", metavar="URL", help="Ask this FHIR terminology server (base URL) instead of the local database.")
@with_settings("db", "patient_id_system")
def dicom_codes_cmd(settings, paths, fhir, profile, patient_id_system, as_json, db, server):
    """The EU codes for the local values of DICOM headers (files, or folders read recursively).

    Exit status 0 when every value a mapping table declares (its attribute, and its coding scheme)
    found an EU code, 1 when such a value was left unmapped or a standard code is invalid, 2 when
    no file could be read. Values no table declares are listed (`no_table`), files that are not
    DICOM are skipped (said on stderr): neither is a failure."""
    import pydicom
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE  # non-conforming values are the point
    client = open_client(settings, server, r4=False)
    try:
        resolver = Resolver(client)
    except TerminologyError as e:
        raise Unanswerable(e.message) from None
    files, skipped = [], []
    paths = dicom_files(paths)
    for n, path in enumerate(paths, 1):
        if n % PROGRESS_EVERY == 0:
            click.echo(f"termsvc: {n} of {len(paths)} files read", err=True)
        try:
            ds = read_header(path)
        except ValueError as e:
            skipped.append({"file": path, "reason": str(e)})
            continue
        files.append(file_report(path, ds, resolver))
    studies = study_reports(files)
    if fhir:
        resources = [imaging_study(s, fhir.lower() == "r4", settings.patient_id_system, profile) for s in studies]
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
    sys.exit(1 if any(f["unmapped"] for f in files) else 0)


COMMANDS = [dicom_codes_cmd]
