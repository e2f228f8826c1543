"""`termsvc packages ...`: FHIR NPM packages in the package cache."""
import click

from termsvc.build import DEFAULT_PACKAGES, BuildError
from termsvc.cli.common import CliError, with_settings
from termsvc.loaders.fhir_package import fetch


@click.group("packages")
def packages_group():
    """FHIR NPM packages in the package cache (setting fhir_package_cache)."""


@packages_group.command("fetch")
@click.argument("specs", nargs=-1, metavar="NAME#VERSION...")
@click.option("--defaults", is_flag=True, help=f"Fetch the default packages ({', '.join(DEFAULT_PACKAGES)}).")
@with_settings()
def packages_fetch(settings, specs, defaults):
    """Make packages present in the cache (with `npm pack`, else from setting fhir_package_registry)."""
    specs = list(specs) + (DEFAULT_PACKAGES if defaults else [])
    if not specs:
        raise CliError("no package given (NAME#VERSION, or --defaults)")
    for spec in specs:
        try:
            path = fetch(spec)
        except BuildError as e:
            raise CliError(str(e)) from None
        click.echo(f"{spec}\t{path}")


COMMANDS = [packages_group]
