"""WSGI entry point for servers that import an app: `termsvc.api.wsgi:app` (database from TERMSVC_DB)."""
from termsvc.api.app import create_app

app = create_app()
