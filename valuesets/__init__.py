"""The IG terminology shipped with termsvc (installed as termsvc.content.valuesets; see termsvc/content)."""
