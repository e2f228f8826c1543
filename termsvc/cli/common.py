"""What the command modules share: the error exits, the settings of a command and the client it asks."""
import functools
import os

import click

from termsvc import settings as settings_mod
from termsvc.client import TerminologyClient
from termsvc.local_client import LocalClient


class CliError(click.ClickException):
    """A one-line error message and exit status 1."""

    def show(self, file=None):
        click.echo(f"termsvc: error: {self.format_message()}", err=True)


class Unanswerable(CliError):
    """The question could not be answered (no database, unreadable input, server unreachable):
    exit status 2, where 1 is a "no"."""
    exit_code = 2


def with_settings(*option_names: str, listed: bool = False):
    """The command gets `--setting NAME VALUE` (repeatable) and its settings as `settings`: its own
    options named here (e.g. `--db`) and `--setting` pairs are command-line values, then the
    environment, the configuration file and the defaults. An invalid value exits 1 at start.
    `listed`: its --help lists every setting (else it points at `termsvc settings`)."""
    def decorate(fn):
        @click.option("--setting", "setting_pairs", type=(str, str), multiple=True, metavar="NAME VALUE",
                      help="Set a setting (repeatable): " + ("the settings are listed above." if listed
                                                             else "`termsvc settings --help` lists them."))
        @functools.wraps(fn)
        def command(setting_pairs, **kwargs):
            overrides = dict(setting_pairs)
            overrides.update({name: kwargs[name] for name in option_names if kwargs.get(name) not in (None, ())})
            try:
                loaded = settings_mod.load(overrides)
            except settings_mod.SettingsError as e:
                raise CliError(str(e)) from None
            settings_mod.use(loaded)
            return fn(settings=loaded, **kwargs)
        if listed:
            command.__doc__ = (fn.__doc__ or "").rstrip() + "\n\n\b\n" + settings_mod.help_text()
        return command
    return decorate


def open_client(settings, server, r4) -> TerminologyClient:
    """The client a command asks: the server at `server` (a FHIR base URL), else the local database."""
    version = "R4" if r4 else "R5"
    if server:
        return TerminologyClient(server, fhir_version=version, cache_size=10_000)
    if not os.path.isfile(settings.db):
        raise Unanswerable(f"{settings.db}: no database; run `termsvc build` first, or ask a server with --server URL")
    return LocalClient(settings.db, fhir_version=version, cache_size=10_000, settings=settings)
