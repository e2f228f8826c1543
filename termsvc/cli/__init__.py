"""The `termsvc` command.

    termsvc build                      # the default content (IG, FHIR core, THO, IPS, DICOM, mappings)
    termsvc build --snomed ~/SnomedCT_InternationalRF2_PRODUCTION_20250201T120000Z --loinc ~/Loinc_2.80
    termsvc serve --build-if-missing
    termsvc packages fetch hl7.fhir.r5.core#5.0.0
    termsvc info --json
    termsvc settings

One module per command group in this package: each lists its click commands in `COMMANDS`
and is picked up here, so a new command group is a new module (no shared file to edit).
"""
import importlib
import pkgutil
import sys

import click

SHARED_MODULES = {"common"}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """termsvc: FHIR terminology server for the HL7 Europe Imaging Report IG."""


for _module in pkgutil.iter_modules(__path__):
    if _module.name not in SHARED_MODULES:
        for _command in importlib.import_module(f"{__name__}.{_module.name}").COMMANDS:
            cli.add_command(_command)


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="termsvc", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("termsvc: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
