"""Local-to-EU mapping tables (CSV/XLSX + TOML) as FHIR ConceptMaps: reading, lint, export, import."""
