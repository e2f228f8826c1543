#!/usr/bin/env python3
"""Pod start time with a large build, the way deploy/k8s starts a pod, measured with podman on one machine
(no Kubernetes here: a pod is its init container then its server container, run one after the other).

    .venv/bin/python scripts/pod_start_proof.py              # --size-gb 1.5 --runs 3; about 5 minutes

Needs what scripts/container_proof.py needs (it reuses its images and cache), and Debian's docker-registry.

1. A build of --size-gb: the default build taken out of the `bundled` image, padded with a table of random
   bytes (sqlite3), since a real SNOMED CT build needs the licensed release. Random bytes do not compress:
   a real build's image layer would be smaller to move.
2. Published both ways, on loopback: as a file over HTTP, and as a content image
   (deploy/content-image/Containerfile) pushed to a local registry (docker-registry, its own folder).
3. Measured, --runs times each, as a new pod:
   - download per pod (the manifests before): the init container `termsvc pull`s the file over HTTP into an
     empty volume, then the server reads it there;
   - content image (deploy/k8s now), first pod of a build on a node: the node (a podman storage of its own
     that already holds the termsvc image) pulls the content image; the init container checks the build's
     sha256 (`termsvc info --expect-sha256`); the server reads the build in place;
   - content image, any later pod on that node: the check and the server;
   the server, read-only, until its HEALTHCHECK passes. The machine's page cache is not dropped between
   runs (other work shares it): the file reads are warm after the first run.
"""
import argparse
import hashlib
import functools
import http.server
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import container_proof as cp  # noqa: E402

PROJECT = os.path.dirname(HERE)
CONTENT_IMAGE = os.path.join(PROJECT, "deploy", "content-image", "Containerfile")


def padded_build(source: str, path: str, size: int) -> str:
    """A copy of the build at `source`, grown to `size` bytes with random blobs; its sha256."""
    shutil.copyfile(source, path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE proof_padding (b BLOB)")
    while os.path.getsize(path) < size:
        db.executemany("INSERT INTO proof_padding VALUES (randomblob(1048576))", [()] * 64)
        db.commit()
    db.close()
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Registry:
    """docker-registry on loopback, its storage in `folder`."""

    def __init__(self, folder):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        os.makedirs(folder, exist_ok=True)
        config = os.path.join(folder, "registry.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder}/data\n"
                    f"http:\n  addr: {self.address}\nlog:\n  level: error\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", config], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        cp.wait_http(f"http://{self.address}/v2/", 30)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def timed(podman, *args) -> float:
    t0 = time.monotonic()
    podman.run(*args, timeout=1800)
    return time.monotonic() - t0


def serving(podman, name, image, options=(), command=()) -> float:
    """Seconds from `podman run` of the server until its HEALTHCHECK passes."""
    t0 = time.monotonic()
    podman.run("run", "-d", "--name", name, "--read-only", *options, image, *command)
    try:
        return cp.wait_healthy(podman, name, t0)
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


def pod_downloading(podman, name, image, url, sha) -> dict:
    """Before: the init container downloads the build into the pod's empty volume, the server reads it there."""
    volume = f"{name}-content"
    podman.run("volume", "create", volume)
    try:
        init_s = timed(podman, "run", "--rm", "--read-only", "--network", "host", "-v", f"{volume}:/content", image,
                       "pull", url, "--sha256", sha, "--db", "/content/termsvc.db")
        return {"init_s": round(init_s, 2),
                "server_ready_s": round(serving(podman, name, image, ["-v", f"{volume}:/content:ro"]), 2)}
    finally:
        podman.run("volume", "rm", "-f", volume, check=False)


def pod_in_place(podman, name, image, sha) -> dict:
    """deploy/k8s: the init container checks the build inside the content image, the server reads it in place."""
    db = "/build/termsvc.db"
    init_s = timed(podman, "run", "--rm", "--read-only", image, "info", "--db", db, "--expect-sha256", sha)
    command = ["serve", "--host", "0.0.0.0", "--port", "8080", "--db", db]
    return {"init_s": round(init_s, 2), "server_ready_s": round(serving(podman, name, image, command=command), 2)}


def main(argv=None):
    args = parse(argv)
    with cp.Podman(os.path.abspath(args.cache)).locked():
        return prove(args)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/termsvc-pod-start-proof", help="scratch folder (emptied first and after)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/termsvc/container-proof"),
                    help="podman's storage, as scripts/container_proof.py (run it first)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return ap.parse_args(argv)


def prove(args):
    if not shutil.which("docker-registry"):
        raise cp.CannotProve("docker-registry is not installed (Debian: apt-get install docker-registry)")
    podman = cp.Podman(os.path.abspath(args.cache))
    runtime, bundled = "localhost/termsvc-proof/termsvc:runtime", "localhost/termsvc-proof/termsvc:bundled"
    if not (podman.exists(runtime) and podman.exists(bundled)):
        raise cp.CannotProve("the proof's images are missing: run scripts/container_proof.py first")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "runs": args.runs}
    registry = httpd = None
    node = cp.Podman(os.path.join(args.work, "node"))   # the node: empty but for the termsvc image
    try:
        published = os.path.join(args.work, "published")
        os.makedirs(published)
        made = podman.run("create", bundled).stdout.strip()
        try:
            podman.run("cp", f"{made}:/content/termsvc.db", os.path.join(args.work, "default.db"))
        finally:
            podman.run("rm", made)
        t0 = time.monotonic()
        big = os.path.join(published, "termsvc.db")
        sha = padded_build(os.path.join(args.work, "default.db"), big, int(args.size_gb * 1e9))
        os.chmod(big, 0o644)
        report["build"] = {"bytes": os.path.getsize(big), "sha256": sha, "made_s": round(time.monotonic() - t0, 1)}
        cp.log(f"build of {os.path.getsize(big) / 1e9:.2f} GB made, sha256 {sha[:12]}")

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
            type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
            directory=published))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/termsvc.db"

        registry = Registry(os.path.join(args.work, "registry"))
        content = f"{registry.address}/termsvc-content:proof"
        t0 = time.monotonic()
        podman.build(published, content, "-f", CONTENT_IMAGE, "--build-arg", f"TERMSVC_IMAGE={runtime}")
        report["content_image"] = {"build_s": round(time.monotonic() - t0, 1)}
        t0 = time.monotonic()
        node_runtime = f"{registry.address}/termsvc:proof"
        podman.run("push", "--tls-verify=false", runtime, f"docker://{node_runtime}", timeout=1800)
        podman.run("push", "--tls-verify=false", content, timeout=1800)
        report["content_image"]["push_s"] = round(time.monotonic() - t0, 1)
        node.run("pull", "--tls-verify=false", node_runtime, timeout=1800)
        cp.log("published: over HTTP and as a content image in the local registry; the node holds the termsvc image")

        runs = {"download per pod (before)": [], "content image, first pod of a build on a node": [],
                "content image, later pods": []}
        for i in range(args.runs):
            runs["download per pod (before)"].append(pod_downloading(node, f"proof-download-{i}", node_runtime, url, sha))
            node.run("rmi", "-f", content, check=False)
            image_pull_s = timed(node, "pull", "--tls-verify=false", content)
            first = pod_in_place(node, f"proof-first-{i}", content, sha)
            runs["content image, first pod of a build on a node"].append({"image_pull_s": round(image_pull_s, 2), **first})
            runs["content image, later pods"].append(pod_in_place(node, f"proof-later-{i}", content, sha))
            cp.log(f"run {i + 1}: " + "; ".join(f"{k} {v[-1]}" for k, v in runs.items()))
        report["runs_s"] = runs
    finally:
        if httpd:
            httpd.shutdown()
        if registry:
            registry.stop()
        node.run("rmi", "--all", "--force", check=False)
        if registry:
            podman.run("rmi", "-f", f"{registry.address}/termsvc-content:proof", check=False)
        shutil.rmtree(args.work, ignore_errors=True)
    return cp.finish(summary(report), report, args.json)


def summary(r) -> str:
    def total(run):
        return run.get("image_pull_s", 0) + run["init_s"] + run["server_ready_s"]
    lines = [f"pod start with a {r['build']['bytes'] / 1e9:.2f} GB build, {r['date']}, {r['cpus']} CPUs, {r['runs']} runs"
             f" (median): content image built in {r['content_image']['build_s']} s, pushed with the termsvc image"
             f" in {r['content_image']['push_s']} s", "",
             "| pod | image pull s | init container s | server to healthy s | pod start s |",
             "|---|---:|---:|---:|---:|"]
    for kind, runs in r["runs_s"].items():
        med = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
        lines.append(f"| {kind} | {med.get('image_pull_s', '-')} | {med['init_s']} | {med['server_ready_s']} |"
                     f" {statistics.median(total(run) for run in runs):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    cp.run(main, "pod_start_proof")
