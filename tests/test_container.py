"""The container image built and run with a real container runtime: scripts/container_proof.py (podman;
see its description). Slow (about a minute with its cache, five on a clean machine); skipped where podman
is not installed or the proof cannot run (.ci/run installs podman, runc and debootstrap)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR

PROOF = os.path.join(PROJECT_DIR, "scripts", "container_proof.py")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("podman"), reason="podman is not installed (apt-get install podman runc)")
def test_both_images_build_and_serve_read_only_as_their_user_healthy_and_stop_on_sigterm(tmp_path):
    report = tmp_path / "proof.json"
    p = subprocess.run([sys.executable, PROOF, "--json", str(report)], capture_output=True, text=True, timeout=1200)
    if p.returncode == 2:
        pytest.skip(p.stderr.strip().splitlines()[-1])
    assert p.returncode == 0, p.stderr[-6000:]
    r = json.loads(report.read_text())
    assert r["python"].startswith("Python 3.11")
    for target in ("runtime", "bundled"):
        c = r["containers"][target]
        assert c["exit_code"] == 0 and c["stop_s"] <= 10 and c["start_to_healthy_s"] < 90, c
