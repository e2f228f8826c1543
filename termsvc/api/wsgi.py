"""WSGI entry point for servers that import an app: `termsvc.api.wsgi:app` (database and settings from
the environment and the configuration file: termsvc.settings).

The objects made at start (modules, the app, settings) live as long as the worker: gc.freeze()
keeps the cyclic garbage collector from walking them again at every full collection."""
import gc

from termsvc.api.app import create_app

app = create_app()
gc.freeze()
