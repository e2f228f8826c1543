"""WSGI entry point for servers that import an app: `termsvc.api.wsgi:app` (database and settings from
the environment and the configuration file: termsvc.settings)."""
from termsvc.api.app import create_app

app = create_app()
