#!/usr/bin/env python3
"""Proof of deploy/compose.yaml with a real compose: nginx and 3 replicas on one read-only content volume,
and a new build pulled in while load runs through nginx on loopback.

    .venv/bin/python scripts/compose_proof.py              # about 3 minutes; --seconds, --json FILE

Needs Debian's docker.io and docker-compose (1.29: it honours `depends_on` conditions, which
podman-compose ignores), podman, runc and wrk (else a slower Python loader). Not part of .ci/run (it starts
a Docker daemon); its figures are in docs/deployment.md. It starts its own dockerd (data, socket and pid
file under --work, no iptables rules, no docker0 bridge) and stops it at the end, whatever happened.

1. The images: termsvc `runtime` built with podman as scripts/container_proof.py does (same cache), and
   nginx (nginx:1.27-alpine from a registry, else a stand-in: Debian's nginx-light on the stand-in base),
   moved into the daemon with `podman save | docker load`.
2. Builds A and B of the default content (B also holds a marker code system) made with this checkout's
   termsvc (scripts/deploy_proof.py) and put in artifacts/ beside a copy of deploy/ (the repository's files
   unchanged): `docker-compose up -d` with CONTENT_URL=file:///artifacts/a.db; then `ps`, `config` and
   `logs` run without CONTENT_URL and CONTENT_SHA256 (only the content job needs them).
3. Checked: 3 replicas, healthy by the image's HEALTHCHECK run by the daemon; nginx started only once they
   were (depends_on: service_healthy); the content job exited 0; nginx makes X-Request-Id and the replica
   logs it; /metrics is not reachable through nginx but is on each replica's management port.
4. Load through nginx (the calls of converters and validators sampled from build A) while
   `docker-compose run --rm content` pulls B into the volume: 0 failed requests, and every replica's
   /metrics (management port, by container address) reports B's sha256.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the request sets and the loaders)
import container_proof as cp  # noqa: E402  (podman, the base image and the checks)
import deploy_proof  # noqa: E402  (builds A and B)

PROJECT = os.path.dirname(HERE)
NGINX_IMAGE = "docker.io/library/nginx:1.27-alpine"
NGINX_STANDIN = """FROM {debian}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends nginx-light \\
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \\
 && ln -sf /dev/stdout /var/log/nginx/access.log \\
 && ln -sf /dev/stderr /var/log/nginx/error.log
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"""
REPLICAS = 3
MANAGEMENT_PORT = 9090   # deploy/compose.yaml's --management-port


class Docker:
    """dockerd of this proof (its own data root, socket and pid file), and the clients talking to it."""

    def __init__(self, work):
        self.work = work
        self.sock = os.path.join(work, "docker.sock")
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}"}
        self.log = open(os.path.join(work, "dockerd.log"), "wb")
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", os.path.join(work, "root"), "--exec-root", os.path.join(work, "exec"),
             "--pidfile", os.path.join(work, "docker.pid"), "-H", f"unix://{self.sock}",
             "--iptables=false", "--ip-masq=false", "--bridge=none"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.run("/usr/bin/docker", "info", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise cp.ProofFailed(f"dockerd did not start (see {self.log.name})")
            time.sleep(0.3)

    def run(self, *args, check=True, timeout=600, env=None, **kw):
        p = subprocess.run(list(args), capture_output=True, text=True, env=env or self.env, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise cp.ProofFailed(f"{' '.join(args[:3])} failed ({p.returncode}):\n{(p.stderr or p.stdout)[-3000:]}")
        return p

    def docker(self, *args, **kw):
        return self.run("/usr/bin/docker", *args, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def nginx_image(podman, mirror, suite) -> str:
    if podman.exists(NGINX_IMAGE) or podman.run("pull", "-q", NGINX_IMAGE, check=False, timeout=300).returncode == 0:
        return NGINX_IMAGE
    key = cp.standin_key(mirror, suite)
    debian, image = f"localhost/termsvc-proof/debian:{suite}-{key}", f"localhost/termsvc-proof/nginx:{key}"
    if not podman.exists(image):
        if not podman.exists(debian):
            raise cp.CannotProve(f"no stand-in Debian image {debian}: run scripts/container_proof.py first")
        context = os.path.join(podman.cache, f"nginx-{key}")
        os.makedirs(context, exist_ok=True)
        with open(os.path.join(context, "Containerfile"), "w") as f:
            f.write(NGINX_STANDIN.format(debian=debian))
        podman.build(context, image)
    return image


def move_image(podman, docker, image) -> None:
    save = subprocess.Popen(["podman", "save", "--format", "docker-archive", image], stdout=subprocess.PIPE,
                            env=podman.env)
    docker.docker("load", stdin=save.stdout, timeout=600)
    if save.wait() != 0:
        raise cp.ProofFailed(f"podman save {image} failed")


def replicas(docker, compose) -> list[dict]:
    ids = docker.run(*compose, "ps", "-q", "termsvc").stdout.split()
    return [json.loads(docker.docker("inspect", i).stdout)[0] for i in ids]


def address(container) -> str:
    (net,) = container["NetworkSettings"]["Networks"].values()
    return net["IPAddress"]


def build_info(ip) -> list[str]:
    with urllib.request.urlopen(f"http://{ip}:{MANAGEMENT_PORT}/metrics", timeout=10) as r:
        return [line for line in r.read().decode().splitlines() if line.startswith("termsvc_build_info{")]


def main(argv=None):
    args = parse(argv)
    with cp.Podman(os.path.abspath(args.cache)).locked():
        return prove(args)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/termsvc-compose-proof", help="scratch folder (emptied first)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/termsvc/container-proof"),
                    help="podman's storage, as scripts/container_proof.py")
    ap.add_argument("--mirror", default="http://deb.debian.org/debian")
    ap.add_argument("--suite", default="bookworm")
    ap.add_argument("--seconds", type=int, default=20, help="seconds of load during the rollout (20)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return ap.parse_args(argv)


def prove(args):
    for tool in ("podman", "dockerd", "docker-compose"):
        if not shutil.which(tool):
            raise cp.CannotProve(f"{tool} is not installed (Debian: apt-get install podman runc docker.io docker-compose)")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    podman = cp.Podman(os.path.abspath(args.cache))
    report = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(),
              "compose": subprocess.run(["docker-compose", "version", "--short"], capture_output=True,
                                        text=True).stdout.strip()}
    t_start = time.monotonic()
    python = cp.python_image(podman, args.mirror, args.suite, report)
    termsvc = "localhost/termsvc-proof/termsvc:runtime"
    podman.build(PROJECT, termsvc, "--build-arg", f"PYTHON_IMAGE={python}", "--target", "runtime")
    nginx = nginx_image(podman, args.mirror, args.suite)

    folder = os.path.join(args.work, "deploy")
    shutil.copytree(os.path.join(PROJECT, "deploy"), folder)
    artifacts = deploy_proof.build_artifacts(args.work, None)   # {"a": (path, sha), "b": ...}
    os.makedirs(os.path.join(folder, "artifacts"))
    for name, (path, _) in artifacts.items():
        shutil.copyfile(path, os.path.join(folder, "artifacts", f"{name}.db"))
    port = cp.free_port()
    base = f"http://127.0.0.1:{port}"
    compose = ["docker-compose", "--project-directory", folder, "-f", os.path.join(folder, "compose.yaml")]
    docker = Docker(args.work)
    env = {**docker.env, "TERMSVC_IMAGE": termsvc, "NGINX_IMAGE": nginx, "TERMSVC_PORT": str(port)}
    with_content = {**env, "CONTENT_URL": "file:///artifacts/a.db", "CONTENT_SHA256": artifacts["a"][1]}
    try:
        for image in (termsvc, nginx):
            move_image(podman, docker, image)
        t0 = time.monotonic()
        docker.run(*compose, "up", "-d", "--no-build", env=with_content, timeout=600)
        report["up_s"] = round(time.monotonic() - t0, 1)
        cp.wait_http(base + "/health", 60)
        report["up_to_serving_s"] = round(time.monotonic() - t0, 1)
        for command in (["ps"], ["config", "-q"], ["logs", "--tail", "1", "nginx"]):
            cp.check(docker.run(*compose, *command, env=env, check=False).returncode == 0,
                     f"`docker-compose {' '.join(command)}` runs without CONTENT_URL and CONTENT_SHA256")
        running = replicas(docker, compose)
        cp.check(len(running) == REPLICAS and all(c["State"]["Health"]["Status"] == "healthy" for c in running),
                 f"{len(running)} replicas, healthy by the image's HEALTHCHECK (run by the daemon)")
        limits = {(c["HostConfig"]["NanoCpus"], c["HostConfig"]["Memory"], c["HostConfig"]["ReadonlyRootfs"])
                  for c in running}
        cp.check(limits == {(10**9, 640 * 2**20, True)}, f"each replica: 1 CPU, 640 MB, read-only root ({limits})")
        kept = docker.run(*compose, "run", "--rm", "content", env=env, check=False)
        cp.check(kept.returncode == 0 and "stays" in kept.stdout + kept.stderr,
                 "`docker-compose run --rm content` without CONTENT_URL keeps the build there")
        script = json.loads(docker.run(*compose, "config", "--format", "json", env=env, check=False).stdout or "{}")
        if not script:   # docker-compose 1.29 prints YAML only
            import yaml
            script = yaml.safe_load(docker.run(*compose, "config", env=env).stdout)
        command = script["services"]["content"]["command"][-1].replace("$$", "$")
        fresh = docker.docker("run", "--rm", "--read-only", "--tmpfs", "/content:uid=10001,gid=10001",
                              "--entrypoint", "/bin/sh", termsvc, "-c", command, check=False)
        cp.check(fresh.returncode != 0 and "set CONTENT_URL to the published build" in fresh.stderr,
                 f"on an empty volume without CONTENT_URL the content job fails, saying so: {fresh.stderr.strip()}")
        (content_job,) = [json.loads(docker.docker("inspect", i).stdout)[0]
                          for i in docker.run(*compose, "ps", "-q", "content", env=env).stdout.split()]
        cp.check(content_job["State"]["ExitCode"] == 0, "the content job pulled build A and exited 0")
        (nginx_c,) = [json.loads(docker.docker("inspect", i).stdout)[0]
                      for i in docker.run(*compose, "ps", "-q", "nginx", env=env).stdout.split()]
        healthy_at = max(min(h["End"] for h in c["State"]["Health"]["Log"] if h["ExitCode"] == 0) for c in running)
        cp.check(nginx_c["State"]["StartedAt"] > healthy_at, "nginx started after every replica was healthy"
                 f" ({nginx_c['State']['StartedAt'][11:23]} > {healthy_at[11:23]})")
        status, headers, _ = cp.http(base, "/fhir/metadata")
        rid = headers["X-Request-Id"]
        cp.check(status == 200 and len(rid) == 32, f"nginx made the request id {rid}")
        deadline = time.monotonic() + 10
        while rid not in docker.run(*compose, "logs", "termsvc", env=env).stdout and time.monotonic() < deadline:
            time.sleep(0.2)
        cp.check(rid in docker.run(*compose, "logs", "termsvc", env=env).stdout, "a replica logged that id")
        cp.check(cp.http(base, "/metrics")[0] == 404, "/metrics is not served through nginx")
        cp.check(all(f'sha256="{artifacts["a"][1]}"' in build_info(address(c))[0] for c in running),
                 "every replica's management port reports build A")

        sets, _, _ = bench.build_sets(artifacts["a"][0])
        paths = [p for name in deploy_proof.MIXES["calls"] for p in sets[name]]
        path_file = os.path.join(args.work, "calls.txt")
        with open(path_file, "w") as f:
            f.write("\n".join(paths) + "\n")
        cp.check(bench.check_requests(base, paths, "calls") == 0, f"{len(paths)} load requests answer 200 from A")
        loader = bench.run_wrk if shutil.which("wrk") else bench.run_python
        result = {}
        load = threading.Thread(target=lambda: result.update(loader(base, path_file, args.connections, args.seconds)))
        load.start()
        time.sleep(args.seconds / 4)
        t0 = time.monotonic()
        docker.run(*compose, "run", "--rm", "content",
                   env={**env, "CONTENT_URL": "file:///artifacts/b.db", "CONTENT_SHA256": artifacts["b"][1]})
        pull_s = round(time.monotonic() - t0, 1)
        load.join()
        failed = deploy_proof.failures(result)
        report["rollout"] = {"requests": result["requests"], "failed": failed, "pull_s": pull_s,
                             "rps": round(result["requests"] / (result["duration_us"] / 1e6)),
                             "p99_ms": result["p99_us"] / 1000, "loader": "wrk" if loader is bench.run_wrk else "python"}
        cp.check(failed == 0, f"rollout under load: {result['requests']:,} requests through nginx, 0 failed"
                              f" (`docker-compose run --rm content` took {pull_s} s)")
        b = f'sha256="{artifacts["b"][1]}"'
        deadline = time.monotonic() + 10
        while not all(b in build_info(address(c))[0] for c in running) and time.monotonic() < deadline:
            for _ in range(20):   # requests through nginx: each replica notices the new build on its next one
                cp.http(base, "/health")
            time.sleep(0.2)
        cp.check(all(len(build_info(address(c))) == 1 and b in build_info(address(c))[0] for c in running),
                 f"all {REPLICAS} replicas serve build B ({artifacts['b'][1][:12]}), and only it")
        t0 = time.monotonic()
        docker.run(*compose, "down", "--volumes", "--timeout", "15", env=env, timeout=300)
        report["down_s"] = round(time.monotonic() - t0, 1)
    finally:
        docker.run(*compose, "down", "--volumes", "--timeout", "5", env=env, check=False, timeout=300)
        docker.stop()
        shutil.rmtree(os.path.join(args.work, "root"), ignore_errors=True)
    report["elapsed_s"] = round(time.monotonic() - t_start)
    ro = report["rollout"]
    text = (f"termsvc compose proof, {report['date']}, {report['cpus']} CPUs, docker-compose {report['compose']},"
            f" base {report['base']['image']}\n\nup {report['up_s']} s (serving through nginx after"
            f" {report['up_to_serving_s']} s); rollout of B during {args.seconds} s of load ({ro['loader']},"
            f" {args.connections} connections): {ro['requests']:,} requests, {ro['failed']} failed, {ro['rps']:,} req/s,"
            f" p99 {ro['p99_ms']:.1f} ms, the pull {ro['pull_s']} s; down {report['down_s']} s; whole proof"
            f" {report['elapsed_s']} s\nPASS")
    return cp.finish(text, report, args.json)


if __name__ == "__main__":
    cp.run(main, "compose_proof")
