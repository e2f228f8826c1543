"""Probes for load balancers and orchestrators: `/health` (the process answers, in dispatch.py)
and `/ready` (a database is open and answers a query: 503 before that, or when it no longer does)."""
import sqlite3

from termsvc.fhir.outcome import issue, outcome


def ready(store) -> tuple[int, dict]:
    try:
        store.refresh()
        store.meta("schema_version")
    except (sqlite3.Error, OSError) as e:
        return 503, outcome([issue("error", "transient", f"The content database is not available: {e}")])
    return 200, {"status": "ready"}
