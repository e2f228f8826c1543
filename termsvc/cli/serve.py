"""`termsvc serve`."""
import os

import click

from termsvc.build import configured_sources
from termsvc.cli.build import run_build
from termsvc.cli.common import CliError, with_settings


@click.command("serve")
@click.option("--db", metavar="PATH", help="Database file [setting db].")
@click.option("--host", help="Address to listen on [setting host].")
@click.option("--port", type=int, help="Port to listen on [setting port].")
@click.option("--workers", type=int, help="Worker processes [setting workers].")
@click.option("--management-port", type=int, help="Port of /metrics and /admin [setting management_port].")
@click.option("--build-if-missing", is_flag=True, help="Build the default content first when the database is missing.")
@with_settings("db", "host", "port", "workers", "management_port", listed=True)
def serve_cmd(settings, db, host, port, workers, management_port, build_if_missing):
    """Serve the FHIR terminology API over HTTP."""
    from termsvc.api.server import serve
    if not os.path.isfile(settings.db):
        if not build_if_missing:
            raise CliError(f"{settings.db}: no database; run `termsvc build` first (or use --build-if-missing)")
        run_build(settings.db, configured_sources(settings))
    serve(settings)


COMMANDS = [serve_cmd]
