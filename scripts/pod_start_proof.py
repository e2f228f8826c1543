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
3. Measured, --runs times each, from an empty volume (a new pod):
   - download per pod (the manifests before): the init container `termsvc pull`s the file over HTTP;
   - content image, first pod of a build on a node: the node (a podman storage of its own that already holds
     the termsvc image) pulls the content image, then the init container copies the build out of it;
   - content image, any later pod on that node: the init copy only;
   each followed by the server, read-only on that volume, until its HEALTHCHECK passes; and, for comparison,
   the server run from the content image itself on the build inside it (no init container, no copy). The machine's page
   cache is not dropped between runs (other work shares it): the file reads are warm after the first run.
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


def server_only(podman, name, image) -> dict:
    """No init container: the server reads the build inside the content image, in place."""
    t0 = time.monotonic()
    podman.run("run", "-d", "--name", name, "--read-only", image, "serve", "--host", "0.0.0.0", "--port", "8080",
               "--db", "/build/termsvc.db")
    try:
        return {"init_s": 0, "server_ready_s": round(cp.wait_healthy(podman, name, t0), 2)}
    finally:
        podman.run("rm", "-f", "-t", "0", name, check=False)


def pod(podman, name, init_image, init_args, server_image, network=()) -> dict:
    """An init container into an empty volume, then the server on it until healthy: seconds of each."""
    volume = f"{name}-content"
    podman.run("volume", "create", volume)
    try:
        t0 = time.monotonic()
        podman.run("run", "--rm", "--read-only", *network, "-v", f"{volume}:/content", init_image, *init_args,
                   "--db", "/content/termsvc.db", timeout=1200)
        init_s = time.monotonic() - t0
        t1 = time.monotonic()
        podman.run("run", "-d", "--name", name, "--read-only", "-v", f"{volume}:/content:ro", server_image)
        try:
            ready_s = cp.wait_healthy(podman, name, t1)
        finally:
            podman.run("rm", "-f", "-t", "0", name, check=False)
        return {"init_s": round(init_s, 2), "server_ready_s": round(ready_s, 2)}
    finally:
        podman.run("volume", "rm", "-f", volume, check=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.5)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/termsvc-pod-start-proof", help="scratch folder (emptied first and after)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/termsvc/container-proof"),
                    help="podman's storage, as scripts/container_proof.py (run it first)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
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

        runs = {"download per pod": [], "content image, first pod on a node": [],
                "content image, later pods": [], "server run from the content image (no copy)": []}
        pull_args = ["pull", "file:///build/termsvc.db", "--sha256", sha]
        for i in range(args.runs):
            r = pod(node, f"proof-download-{i}", node_runtime, ["pull", url, "--sha256", sha], node_runtime,
                    network=("--network", "host"))
            runs["download per pod"].append(r)
            node.run("rmi", "-f", content, check=False)
            t0 = time.monotonic()
            node.run("pull", "--tls-verify=false", content, timeout=1800)
            image_pull_s = time.monotonic() - t0
            r = pod(node, f"proof-first-{i}", content, pull_args, node_runtime)
            r["image_pull_s"] = round(image_pull_s, 2)
            runs["content image, first pod on a node"].append(r)
            runs["content image, later pods"].append(pod(node, f"proof-later-{i}", content, pull_args, node_runtime))
            runs["server run from the content image (no copy)"].append(server_only(node, f"proof-inplace-{i}", content))
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
