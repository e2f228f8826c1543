"""`termsvc pull`: a build made elsewhere, downloaded, verified and swapped in (termsvc/pull.py)."""
import click

from termsvc.build import Progress
from termsvc.cli.common import CliError, with_settings
from termsvc.pull import PullError, pull


@click.command("pull")
@click.argument("url")
@click.option("--sha256", "sha256", required=True, metavar="HEX", help="The sha256 the build must have.")
@click.option("--db", "db", metavar="PATH", help="Database file to replace [setting db].")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@with_settings("db")
def pull_cmd(settings, url, sha256, db, quiet):
    """Download a build (http, https or file URL), verify its sha256 and swap it in as a local build does."""
    db_path = settings.db
    try:
        result = pull(url, sha256, db_path, Progress(quiet=quiet))
    except PullError as e:
        raise CliError(f"{e}; {db_path} is unchanged") from None
    except OSError as e:
        raise CliError(f"{e.filename or db_path}: {e.strerror or e}; {db_path} is unchanged") from None
    click.echo(f"{result['sha256']}  {db_path}")


COMMANDS = [pull_cmd]
