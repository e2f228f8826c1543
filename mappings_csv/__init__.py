"""The mapping tables shipped with termsvc (installed as termsvc.content.mappings_csv; see termsvc/content)."""
