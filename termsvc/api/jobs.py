"""Rebuild jobs of the admin API: a build from the configured sources, run by a process of its own
beside the server, swapped in as `termsvc build` does (the workers switch on their next request).

A job is a JSON file `<id>.json` (with its progress log `<id>.log`) in the folder `.termsvc-admin/jobs`
beside the database, so that any worker answers a poll. One rebuild runs at a time: the job's process
holds an exclusive lock (flock) on `rebuild.lock` for its life, handed to it by the worker that started
it; a worker that cannot take the lock finds the running job in `current`. A job whose process died
without saying how it ended (the server stopped, a kill) is reported failed.

    python -m termsvc.api.jobs JOB_FILE        # what a worker starts; the settings come from the job file
"""
import fcntl
import os
import subprocess
import sys
import threading
import time
import uuid

import orjson

from termsvc.settings import SETTINGS
from termsvc.store.digest import build_sha256

JOBS_FOLDER = os.path.join(".termsvc-admin", "jobs")
LOCK = "rebuild.lock"
CURRENT = "current"


class Busy(Exception):
    """A rebuild is running: `job` is its state."""

    def __init__(self, job: dict):
        super().__init__(f"a rebuild is running (job {job.get('id')})")
        self.job = job


def jobs_dir(db_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), JOBS_FOLDER)


def _write(path: str, state: dict) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    os.replace(tmp, path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status(db_path: str, job_id: str) -> dict | None:
    """A job's state (None: no such job). A running job whose process is gone is reported failed."""
    if not job_id.replace("-", "").isalnum():
        return None
    path = os.path.join(jobs_dir(db_path), f"{job_id}.json")
    try:
        with open(path, "rb") as f:
            state = orjson.loads(f.read())
    except (OSError, orjson.JSONDecodeError):
        return None
    if state.get("state") in ("queued", "running") and not _alive(state.get("pid")):
        state.update(state="failed", finished=state.get("finished") or _now(),
                     error="the rebuild process ended without finishing (the server stopped, or it was killed)")
    state["log_tail"] = _tail(path[:-len(".json")] + ".log")
    return state


def list_jobs(db_path: str, limit: int) -> list[dict]:
    """The last `limit` jobs, newest first: their states without settings or log (see status)."""
    folder = jobs_dir(db_path)
    try:
        ids = sorted((f[:-len(".json")] for f in os.listdir(folder) if f.endswith(".json")), reverse=True)
    except FileNotFoundError:
        return []
    out = []
    for job_id in ids[:limit]:
        state = status(db_path, job_id)
        if state is not None:
            out.append({k: v for k, v in state.items() if k not in ("settings", "log_tail", "db")})
    return out


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:   # a zombie has ended
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def _tail(path: str, lines: int = 20) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 8192))
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return []


def start(db_path: str, kind: str, settings, detail: dict | None = None, prepare=None) -> dict:
    """Start a rebuild job with these settings (its state), or raise Busy with the running one's.
    `prepare()` runs once the rebuild is ours and before it starts (an uploaded table moved into place)."""
    folder = jobs_dir(db_path)
    os.makedirs(folder, exist_ok=True)
    lock_fd = os.open(os.path.join(folder, LOCK), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(_current(db_path) or {"id": None, "state": "running"}) from None
        if prepare is not None:
            prepare()
        job_id = time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:8]
        path = os.path.join(folder, f"{job_id}.json")
        state: dict[str, object] = {"id": job_id, "kind": kind, "state": "queued", "created": _now(), "db": os.path.abspath(db_path),
                 **({"detail": detail} if detail else {}),
                 # what the build reads (the secrets aside: the job file is not one)
                 "settings": {**{s.name: settings.shown(s.name) for s in SETTINGS
                                 if not s.secret and settings.shown(s.name)}, "db": os.path.abspath(db_path)}}
        _write(path, state)
        with open(os.path.join(folder, f"{job_id}.log"), "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "termsvc.api.jobs", path, str(lock_fd)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    pass_fds=(lock_fd,))
        state.update(pid=proc.pid)
        _write(path, state)   # the job's process rewrites it when it starts; either way the pid is there
        _write(os.path.join(folder, CURRENT), {"id": job_id})
        _reap_later(proc)
        return state
    finally:
        os.close(lock_fd)   # the job's process keeps the lock (its own descriptor of the same open file)


def _reap_later(proc) -> None:
    """Collect the job's exit status in the background (no zombie left behind)."""
    threading.Thread(target=proc.wait, name="termsvc-job-reaper", daemon=True).start()


def _current(db_path: str) -> dict | None:
    try:
        with open(os.path.join(jobs_dir(db_path), CURRENT), "rb") as f:
            return status(db_path, orjson.loads(f.read())["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run(job_path: str, lock_fd: int | None = None) -> int:
    """The job's process: build from the configured sources, then record how it ended - after it gave
    up the lock (`lock_fd`, inherited), so that a job said to have ended never refuses the next one."""
    from termsvc import settings as settings_mod
    from termsvc.build import Progress, build, configured_sources

    with open(job_path, "rb") as f:
        state = orjson.loads(f.read())
    state.update(state="running", started=_now(), pid=os.getpid())
    _write(job_path, state)
    started = time.monotonic()
    try:
        settings = settings_mod.load({k: v for k, v in state["settings"].items() if k != "config"})
        summary = build(state["db"], configured_sources(settings), Progress(stream=sys.stdout))
        state.update(state="succeeded", sha256=build_sha256(state["db"]),
                     summary={k: v for k, v in summary.items() if k != "failures"})
    except BaseException as e:
        state.update(state="failed", error=f"{type(e).__name__}: {e}"[:4000])
    state.update(finished=_now(), seconds=round(time.monotonic() - started, 1))
    if lock_fd is not None:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
    _write(job_path, state)
    return 0 if state["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None))
