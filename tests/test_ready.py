"""/ready: 200 while a database is open and answers a query, 503 (an OperationOutcome) when it does not;
/health answers regardless."""
import os
import shutil

from termsvc.api.app import create_app
from termsvc.build import Progress, build


def test_ready_over_http(live_server):
    status, body, _ = live_server.get("/ready")
    assert status == 200 and body == {"status": "ready"}


def test_ready_follows_the_database(tmp_path):
    db = str(tmp_path / "termsvc.db")
    build(db, [], Progress(quiet=True))
    good = str(tmp_path / "good.db")
    shutil.copyfile(db, good)
    client = create_app(db, {"build_check_ms": 0}).test_client()   # looks for a new file at every request
    r = client.get("/ready")
    assert r.status_code == 200 and r.get_json() == {"status": "ready"}

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database" * 200)
    os.replace(broken, db)  # swapped in as a build would be
    r = client.get("/ready")
    assert r.status_code == 503
    oo = r.get_json()
    assert oo["resourceType"] == "OperationOutcome" and oo["issue"][0]["code"] == "transient"
    assert "not available" in oo["issue"][0]["details"]["text"]
    assert client.get("/health").status_code == 200

    os.replace(good, db)
    assert client.get("/ready").status_code == 200
