#!/usr/bin/env python3
"""Proof of the container image with a real container runtime (podman): both Dockerfile targets built
and run the way the deployment files run them.

    .venv/bin/python scripts/container_proof.py                 # ~1 min cached, ~5 min on a clean machine
    .venv/bin/python scripts/container_proof.py --json proof.json

Needs podman and runc (Debian: apt-get install podman runc), and debootstrap when no container registry is
reachable (it is then run as root). podman keeps its images in a folder of this proof (--cache, default
~/.cache/termsvc/container-proof), with its own containers.conf: no ulimits of its own, runc, cgroupfs, no
systemd. Two proofs on one machine take turns (a lock in that folder).

1. The base image: PYTHON_IMAGE pulled (python:3.11-slim-bookworm) when a registry answers, else a stand-in
   made without one and cached under a key of what makes it: a Debian rootfs by debootstrap (--mirror),
   imported, with Debian's python3 and python3-venv, /usr/local/bin/python and this machine's CA bundle
   (HTTPS to the package registries may go through a certificate this machine trusts).
2. Both targets built with `--format docker` (OCI images drop HEALTHCHECK): `bundled` (the default content
   built inside, its FHIR packages fetched over HTTPS) and `runtime`; then `runtime` again from a copy of
   the source with one file changed: the dependency layer must come from the cache.
3. runtime: the build inside `bundled` is published in a folder, `termsvc pull`ed by a read-only container
   into a volume (an init container's job), then served from that volume mounted read-only, the root
   filesystem read-only, as the image's user. bundled: served read-only as it is.
4. Each container: HEALTHCHECK polled (`podman healthcheck run`: without systemd podman never runs it on
   its own schedule) until healthy; uid and gid 10001 and /content owned by them; nothing writable;
   answers ($lookup, $validate-code, /metrics' build_info = the sha256 published, X-Request-Id echoed);
   every line on stdout and stderr JSON; `podman stop` (SIGTERM) exits 0 within 10 s.

Exit status 0 when every check passes, 1 when one fails, 2 when this machine cannot run the proof; the figures (build times, image sizes, start to healthy, stop) are
printed, and written as JSON with --json.
"""
import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
STANDIN = """FROM {debian}
ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
RUN printf 'path-exclude /usr/share/doc/*\\npath-exclude /usr/share/man/*\\npath-exclude /usr/share/locale/*\\n' \\
      > /etc/dpkg/dpkg.cfg.d/slim \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \\
 && ln -s /usr/bin/python3 /usr/local/bin/python
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
"""
CONTAINERS_CONF = """[containers]
default_ulimits = []
[engine]
runtime = "{runtime}"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
STORAGE_CONF = """[storage]
driver = "overlay"
graphroot = "{cache}/storage"
runroot = "{cache}/run"
"""
DCM = "http://dicom.nema.org/resources/ontology/DCM"
STOP_LIMIT_S = 10
HEALTHY_WITHIN_S = 90


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class ProofFailed(Exception):
    """A check failed: exit status 1."""


class CannotProve(Exception):
    """This machine lacks what the proof needs (podman, or debootstrap as root without a registry): exit status 2."""


def check(ok, what):
    if not ok:
        raise ProofFailed(what)
    log(f"  ok: {what}")


class Podman:
    """podman with this proof's configuration and storage (environment variables of its own)."""

    def __init__(self, cache):
        self.cache = cache
        os.makedirs(cache, exist_ok=True)
        runtime = "runc" if shutil.which("runc") else "crun"
        for name, text in (("containers.conf", CONTAINERS_CONF.format(runtime=runtime)),
                           ("storage.conf", STORAGE_CONF.format(cache=cache))):
            with open(os.path.join(cache, name), "w") as f:
                f.write(text)
        self.env = {**os.environ, "CONTAINERS_CONF": os.path.join(cache, "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": os.path.join(cache, "storage.conf")}

    @contextlib.contextmanager
    def locked(self):
        """This storage to one proof at a time (the others wait)."""
        with open(os.path.join(self.cache, "lock"), "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"another proof uses {self.cache}: waiting for it")
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def run(self, *args, check=True, timeout=600, **kw):
        p = subprocess.run(["podman", *args], capture_output=True, text=True, env=self.env, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise ProofFailed(f"podman {' '.join(args[:3])} failed ({p.returncode}):\n{(p.stderr or p.stdout)[-3000:]}")
        return p

    def exists(self, image) -> bool:
        return self.run("image", "exists", image, check=False).returncode == 0

    def size(self, image) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", image).stdout.strip())

    def build(self, context, tag, *args) -> tuple[float, str]:
        t0 = time.monotonic()
        p = self.run("build", "--format", "docker", "--network", "host", "--isolation", "chroot", "-t", tag, *args,
                     context, timeout=1800)
        return time.monotonic() - t0, p.stdout + p.stderr


def standin_key(mirror, suite) -> str:
    h = hashlib.sha256(f"{mirror}\n{suite}\n{STANDIN}".encode())
    with open(CA_BUNDLE, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:12]


def python_image(podman, mirror, suite, report) -> str:
    """The PYTHON_IMAGE of the build: pulled from a registry, else the cached stand-in, else made."""
    if podman.exists(PYTHON_IMAGE) or podman.run("pull", "-q", PYTHON_IMAGE, check=False, timeout=300).returncode == 0:
        report["base"] = {"image": PYTHON_IMAGE, "how": "pulled"}
        return PYTHON_IMAGE
    key = standin_key(mirror, suite)
    debian, standin = f"localhost/termsvc-proof/debian:{suite}-{key}", f"localhost/termsvc-proof/python:3.11-{key}"
    if podman.exists(standin):
        report["base"] = {"image": standin, "how": "stand-in, cached"}
        return standin
    if not shutil.which("debootstrap") or os.geteuid() != 0:
        raise CannotProve(f"no registry answered for {PYTHON_IMAGE} and the stand-in needs debootstrap run as root"
                          " (apt-get install debootstrap)")
    log(f"no registry: making a stand-in for {PYTHON_IMAGE} (debootstrap {suite} from {mirror})")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=podman.cache) as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        p = subprocess.run(["debootstrap", "--variant=minbase", suite, rootfs, mirror], capture_output=True,
                           text=True, timeout=1200)
        if p.returncode != 0:
            raise ProofFailed(f"debootstrap failed:\n{(p.stderr or p.stdout)[-3000:]}")
        excluded = ["./usr/share/doc/*", "./usr/share/man/*", "./usr/share/locale/*", "./var/cache/apt/*",
                    "./var/lib/apt/lists/*"]
        tar = subprocess.Popen(["tar", "-C", rootfs, *(f"--exclude={e}" for e in excluded), "-c", "."],
                               stdout=subprocess.PIPE)
        podman.run("import", "-", debian, stdin=tar.stdout)
        if tar.wait() != 0:
            raise ProofFailed("tar of the debootstrap rootfs failed")
        context = os.path.join(tmp, "standin")
        os.makedirs(context)
        shutil.copyfile(CA_BUNDLE, os.path.join(context, "ca-certificates.crt"))
        with open(os.path.join(context, "Containerfile"), "w") as f:
            f.write(STANDIN.format(debian=debian))
        podman.build(context, standin)
    report["base"] = {"image": standin, "how": "stand-in, made", "seconds": round(time.monotonic() - t0, 1)}
    return standin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(base, path, headers=None):
    """(status, headers, body) of a GET."""
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers or {}), timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_http(url, timeout) -> None:
    """Until `url` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http(url, "")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise ProofFailed(f"{url} did not answer 200 within {timeout} s")


def wait_healthy(podman, name, t0) -> float:
    """Seconds from t0 until the image's HEALTHCHECK passes (polled: podman runs it on a schedule only with systemd)."""
    deadline = t0 + HEALTHY_WITHIN_S
    while time.monotonic() < deadline:
        state = podman.run("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running":
            logs = podman.run("logs", name, check=False)
            raise ProofFailed(f"{name} is {state}:\n{(logs.stdout + logs.stderr)[-3000:]}")
        if podman.run("healthcheck", "run", name, check=False).returncode == 0:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise ProofFailed(f"{name} was not healthy within {HEALTHY_WITHIN_S} s")


def prove_container(podman, name, image, sha256, volume=None) -> dict:
    """Run `image` read-only as its user (content from `volume`, read-only, when given), check it, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    mounts = ["-v", f"{volume}:/content:ro"] if volume else []
    t0 = time.monotonic()
    podman.run("run", "-d", "--name", name, "--read-only", "-p", f"127.0.0.1:{port}:8080", *mounts, image)
    figures = {"start_to_healthy_s": round(wait_healthy(podman, name, t0), 2)}
    check(podman.run("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip() == "healthy",
          f"{name}: healthy after {figures['start_to_healthy_s']} s")
    status = podman.run("exec", name, "cat", "/proc/1/status").stdout
    ids = {line.split(":")[0]: line.split()[1:] for line in status.splitlines() if line.startswith(("Uid:", "Gid:"))}
    check(set(ids["Uid"]) == {"10001"} and set(ids["Gid"]) == {"10001"}, f"{name}: the server runs as 10001:10001")
    owner = podman.run("exec", name, "stat", "-c", "%u:%g", "/content", "/content/termsvc.db").stdout.split()
    check(owner == ["10001:10001"] * 2, f"{name}: /content and the build are owned by 10001:10001")
    for path in ("/content/x", "/opt/venv/x", "/x"):
        check(podman.run("exec", name, "touch", path, check=False).returncode != 0, f"{name}: {path} is not writable")
    lookup = "/fhir/CodeSystem/$lookup?" + urllib.parse.urlencode({"system": DCM, "code": "CT"})
    code, headers, body = http(base, lookup, {"X-Request-Id": "proof-1"})
    check(code == 200 and b"Computed Tomography" in body and headers["X-Request-Id"] == "proof-1",
          f"{name}: $lookup answers (X-Request-Id echoed)")
    code, _, body = http(base, "/fhir/CodeSystem/$validate-code?" + urllib.parse.urlencode({"url": DCM, "code": "XX"}))
    result = [p.get("valueBoolean") for p in json.loads(body)["parameter"] if p["name"] == "result"]
    check(code == 200 and result == [False],
          f"{name}: $validate-code of an unknown code is false")
    code, _, body = http(base, "/metrics")
    served = [line for line in body.decode().splitlines() if line.startswith("termsvc_build_info{")]
    check(code == 200 and len(served) == 1 and f'sha256="{sha256}"' in served[0], f"{name}: /metrics serves build {sha256[:12]}")
    t1 = time.monotonic()
    podman.run("stop", "--time", str(STOP_LIMIT_S), name, timeout=60)
    figures["stop_s"] = round(time.monotonic() - t1, 2)
    figures["exit_code"] = int(podman.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
    check(figures["stop_s"] <= STOP_LIMIT_S and figures["exit_code"] == 0,
          f"{name}: SIGTERM: exited {figures['exit_code']} in {figures['stop_s']} s")
    logs = podman.run("logs", name)
    for stream, text in (("stdout", logs.stdout), ("stderr", logs.stderr)):
        lines = text.splitlines()
        try:
            parsed = [json.loads(line) for line in lines]
        except ValueError as e:
            raise ProofFailed(f"{name}: a line on {stream} is not JSON ({e}):\n{text[-2000:]}") from None
        check(lines and all(isinstance(p, dict) for p in parsed), f"{name}: {len(lines)} lines on {stream}, all JSON")
    return figures


def dependency_layer_cached(podman, python, tag) -> bool:
    """Build `runtime` from a copy of the source with one module changed: is the dependency step a cache hit?"""
    with tempfile.TemporaryDirectory(dir=podman.cache) as tmp:
        context = os.path.join(tmp, "src")
        shutil.copytree(PROJECT, context, ignore=shutil.ignore_patterns(".git", ".venv", "data", "*.db", "__pycache__",
                                                                        "*.egg-info", "build"))
        with open(os.path.join(context, "termsvc", "__init__.py"), "a") as f:
            f.write(f"# changed by the container proof {time.time()}\n")
        _, out = podman.build(context, tag, "--build-arg", f"PYTHON_IMAGE={python}", "--target", "runtime")
    steps = out.split("STEP ")
    (deps,) = [s for s in steps if "requirements.txt" in s.split("\n", 1)[0]]
    (source,) = [s for s in steps if "--no-deps" in s.split("\n", 1)[0]]
    return "Using cache" in deps and "Using cache" not in source


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/termsvc/container-proof"),
                    help="podman's storage and configuration for this proof (kept between runs)")
    ap.add_argument("--mirror", default="http://deb.debian.org/debian", help="Debian mirror for the stand-in base")
    ap.add_argument("--suite", default="bookworm", help="Debian suite of the stand-in base (bookworm)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if not shutil.which("podman"):
        raise CannotProve("podman is not installed (Debian: apt-get install podman runc)")
    podman = Podman(os.path.abspath(args.cache))
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(),
              "podman": podman.run("--version").stdout.strip()}
    t_start = time.monotonic()
    run_id = f"{os.getpid()}"
    containers, volume = [], f"termsvc-proof-content-{run_id}"
    with podman.locked():
        try:
            python = python_image(podman, args.mirror, args.suite, report)
            log(f"base image: {python} ({report['base']['how']})")
            images, builds = {}, {}
            for target in ("bundled", "runtime"):
                images[target] = f"localhost/termsvc-proof/termsvc:{target}"
                seconds, _ = podman.build(PROJECT, images[target], "--build-arg", f"PYTHON_IMAGE={python}",
                                          "--target", target)
                builds[target] = {"build_s": round(seconds, 1), "size_mb": round(podman.size(images[target]) / 1e6)}
                health = json.loads(podman.run("image", "inspect", "--format", "{{json .HealthCheck}}",
                                               images[target]).stdout)
                user = podman.run("image", "inspect", "--format", "{{.User}}", images[target]).stdout.strip()
                check(health and "/ready" in " ".join(health["Test"]) and "python" not in " ".join(health["Test"])
                      and user == "10001:10001",
                      f"{target}: built in {seconds:.0f} s, {builds[target]['size_mb']} MB, HEALTHCHECK kept"
                      f" (no Python), user {user}")
            report["builds"] = builds
            report["python"] = podman.run("run", "--rm", "--entrypoint", "python", images["runtime"], "-V").stdout.strip()
            check(dependency_layer_cached(podman, python, "localhost/termsvc-proof/termsvc:changed"),
                  "runtime rebuilt after a source edit: the dependency layer came from the cache")

            with tempfile.TemporaryDirectory(dir=podman.cache) as published:
                os.chmod(published, 0o755)
                made = podman.run("create", images["bundled"]).stdout.strip()
                try:
                    podman.run("cp", f"{made}:/content/termsvc.db", os.path.join(published, "termsvc.db"))
                finally:
                    podman.run("rm", made)
                with open(os.path.join(published, "termsvc.db"), "rb") as f:
                    sha256 = hashlib.file_digest(f, "sha256").hexdigest()
                os.chmod(os.path.join(published, "termsvc.db"), 0o644)
                report["build"] = {"sha256": sha256, "mb": round(os.path.getsize(os.path.join(published, "termsvc.db")) / 1e6)}
                podman.run("volume", "create", volume)
                t0 = time.monotonic()
                pulled = podman.run("run", "--rm", "--read-only", "-v", f"{volume}:/content",
                                    "-v", f"{published}:/artifacts:ro", images["runtime"],
                                    "pull", "file:///artifacts/termsvc.db", "--sha256", sha256,
                                    "--db", "/content/termsvc.db")
                report["pull_s"] = round(time.monotonic() - t0, 2)
                check(sha256 in pulled.stdout, f"runtime: `pull` put build {sha256[:12]} into the volume as 10001"
                                               f" ({report['pull_s']} s)")
            report["containers"] = {}
            for target, vol in (("runtime", volume), ("bundled", None)):
                name = f"termsvc-proof-{target}-{run_id}"
                containers.append(name)
                report["containers"][target] = prove_container(podman, name, images[target], sha256, vol)
        finally:
            for name in containers:
                podman.run("rm", "-f", "-t", "0", name, check=False)
            podman.run("volume", "rm", "-f", volume, check=False)
            # the images each build leaves untagged (41 GB after a day of runs); the tagged ones keep the cache
            podman.run("image", "prune", "-f", check=False)
    report["elapsed_s"] = round(time.monotonic() - t_start)
    return finish(summary(report), report, args.json)


def finish(text, report, json_path) -> int:
    """Print a proof's figures, write them as JSON when asked; exit status 0."""
    print(text)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=2)
    return 0


def run(main, name) -> None:
    """Run a proof's main: exit status 1 when a check failed, 2 when this machine cannot run it."""
    try:
        sys.exit(main())
    except ProofFailed as e:
        print(f"{name}: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    except CannotProve as e:
        print(f"{name}: cannot run here: {e}", file=sys.stderr)
        sys.exit(2)


def summary(r) -> str:
    lines = [f"termsvc container proof, {r['date']}, {r['cpus']} CPUs, {r['podman']}, base {r['base']['image']}"
             f" ({r['base']['how']}{', %s s' % r['base']['seconds'] if 'seconds' in r['base'] else ''}), {r['python']}",
             "",
             "| target | build s | image MB | start to healthy s | SIGTERM to exit s | exit code |",
             "|---|---:|---:|---:|---:|---:|"]
    for target, b in r["builds"].items():
        c = r["containers"][target]
        lines.append(f"| {target} | {b['build_s']} | {b['size_mb']} | {c['start_to_healthy_s']} | {c['stop_s']} |"
                     f" {c['exit_code']} |")
    lines += ["", f"content build {r['build']['mb']} MB, sha256 {r['build']['sha256'][:12]}; pulled into the volume"
                  f" in {r['pull_s']} s; whole proof {r['elapsed_s']} s", "PASS"]
    return "\n".join(lines)


if __name__ == "__main__":
    run(main, "container_proof")
