"""The deployment files: the Dockerfile (hadolint), the Kubernetes manifests (kubernetes-validate, strict,
and how they fit together), deploy/compose.yaml (the compose-spec schema, and its shape), the nginx
configuration (crossplane; `nginx -t` where nginx is installed); and the server's worker count under a
container's CPU limit."""
import contextlib
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import crossplane
import kubernetes_validate
import pytest
import yaml

from conftest import PROJECT_DIR, eventually
from termsvc.api.server import default_workers

DEPLOY = os.path.join(PROJECT_DIR, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
BIN = os.path.dirname(sys.executable)
K8S_VERSIONS = ("1.29", kubernetes_validate.latest_version())


def tool(name: str) -> str:
    path = os.path.join(BIN, name) if os.path.exists(os.path.join(BIN, name)) else shutil.which(name)
    assert path, f"{name} is not installed (it is a test dependency in pyproject.toml)"
    return path


# -- Dockerfile ------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = open(os.path.join(PROJECT_DIR, "Dockerfile")).read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_passes_hadolint():
    r = subprocess.run([tool("hadolint"), "--no-color", os.path.join(PROJECT_DIR, "Dockerfile")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_hadolint_finds_faults(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD termsvc serve\n")
    r = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0 and "DL3007" in r.stdout  # the check above can fail


def test_dockerfile_shape():
    ins = dockerfile_instructions()
    stages = [rest for word, rest in ins if word == "FROM"]
    assert len(stages) >= 2 and all(re.match(r"(\$\{PYTHON_IMAGE\}|builder|base) AS \w+", s) for s in stages)
    (image_arg,) = [rest for word, rest in ins if word == "ARG" and rest.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", image_arg)
    assert stages[-1] == "base AS runtime"  # the default target: content mounted at /content
    users = [rest for word, rest in ins if word == "USER"]
    assert users and all(not re.match(r"(0|root)(:|$)", u) for u in users)
    (health,) = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert "/ready" in health and "python" not in health   # a health check every 10 s starts no interpreter
    # the dependencies in a layer of their own (pyproject.toml copied alone first), then a regular install
    copies = [rest for word, rest in ins if word == "COPY" and "--from" not in rest]
    assert copies.index("pyproject.toml ./") < copies.index(". .")
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "requirements.txt" in runs and "pip install --no-cache-dir --no-deps" in runs and " -e " not in runs
    # the image's user and group are both 10001
    assert "--gid 10001" in runs and "--uid 10001 --gid 10001" in runs and users == ["10001:10001"]
    (entry,) = [rest for word, rest in ins if word == "ENTRYPOINT"]
    assert entry == '["termsvc"]'
    (cmd,) = [rest for word, rest in ins if word == "CMD" and "serve" in rest]
    assert '"0.0.0.0"' in cmd
    ignored = open(os.path.join(PROJECT_DIR, ".dockerignore")).read().split()
    assert {".git", ".venv", "data/", "*.db"} <= set(ignored)


# -- Kubernetes -------------------------------------------------------------------------------

RELEASE = {"IMAGE": "registry.example.org/termsvc-content:2026-11-29", "CONTENT_SHA256": "ab" * 32}


def kustomize(tmp_path, release: dict | None):
    """`kubectl kustomize` of a copy of deploy/k8s with release.env holding `release` (None: no file):
    (exit status, {kind: document} or the error)."""
    folder = tmp_path / "k8s"
    shutil.copytree(K8S, folder, ignore=shutil.ignore_patterns("release.env"))
    if release is not None:
        (folder / "release.env").write_text("".join(f"{k}={v}\n" for k, v in release.items()))
    r = subprocess.run([tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True)
    if r.returncode != 0:
        return r.returncode, r.stderr
    docs = {}
    for doc in yaml.safe_load_all(r.stdout):
        assert doc["kind"] not in docs
        docs[doc["kind"]] = doc
    return 0, docs


@pytest.fixture(scope="module")
def k8s_documents(tmp_path_factory):
    status, docs = kustomize(tmp_path_factory.mktemp("kustomize"), RELEASE)
    assert status == 0, docs
    return docs


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_validate(k8s_documents, version):
    assert set(k8s_documents) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                                  "NetworkPolicy"}   # the release values' ConfigMap is not applied
    for doc in k8s_documents.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_k8s_validation_finds_faults(k8s_documents):
    dep = copy.deepcopy(k8s_documents["Deployment"])
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("missing", [None, *RELEASE])
def test_k8s_rendering_fails_without_the_release_values(tmp_path, missing):
    release = None if missing is None else {k: v for k, v in RELEASE.items() if k != missing}
    status, error = kustomize(tmp_path, release)
    assert status != 0 and (f"data.{missing}" if missing else "release.env") in error, error


def test_k8s_release_values_are_put_in(k8s_documents):
    pod = k8s_documents["Deployment"]["spec"]["template"]["spec"]
    (server,), (init,) = pod["containers"], pod["initContainers"]
    assert server["image"] == init["image"] == RELEASE["IMAGE"]
    assert init["env"] == [{"name": "CONTENT_SHA256", "value": RELEASE["CONTENT_SHA256"]}]
    assert "REQUIRED" not in yaml.safe_dump(list(k8s_documents.values()))


def test_k8s_manifests_fit_together(k8s_documents):
    docs = k8s_documents
    dep, svc, hpa, policy = docs["Deployment"], docs["Service"], docs["HorizontalPodAutoscaler"], docs["NetworkPolicy"]
    assert "replicas" not in dep["spec"]   # the HPA's: an apply must not reset it
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert svc["spec"]["selector"].items() <= labels.items()
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": dep["metadata"]["name"]}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 2

    (server,) = pod["spec"]["containers"]
    (init,) = pod["spec"]["initContainers"]
    args = server["args"]
    assert args[0] == "serve" and init["args"][0] == "info"
    port_names = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert port_names == {"http": int(args[args.index("--port") + 1]),
                          "management": int(args[args.index("--management-port") + 1])}
    # clients reach the API port only; /metrics and /admin are on the management port, scraped there
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == port_names["management"]
    api_rule, management_rule = policy["spec"]["ingress"]
    assert api_rule == {"ports": [{"port": "http", "protocol": "TCP"}]}
    assert management_rule["ports"] == [{"port": "management", "protocol": "TCP"}]
    assert [set(peer) for peer in management_rule["from"]] == [{"namespaceSelector"}]
    assert policy["spec"]["egress"] == [] and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    # probes: a startup probe holds the others back while the build opens
    assert server["startupProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] >= 60
    assert server["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert "python" not in " ".join(server["lifecycle"]["preStop"]["exec"]["command"])
    for part in ("requests", "limits"):
        assert "memory" in server["resources"][part] and "cpu" in server["resources"][part]
    assert "cpu" in server["resources"]["requests"]  # the HPA's utilization is relative to it
    # the server reads the build inside the content image in place, read-only, after the init container
    # checked its sha256: no volume for it, nothing downloaded or copied per pod
    db = args[args.index("--db") + 1]
    assert init["args"] == ["info", "--db", db, "--expect-sha256", "$(CONTENT_SHA256)"]
    assert db == "/build/termsvc.db"   # where deploy/content-image/Containerfile puts it
    assert "COPY termsvc.db /build/termsvc.db" in open(os.path.join(DEPLOY, "content-image", "Containerfile")).read()
    assert [m["mountPath"] for m in server["volumeMounts"]] == ["/tmp"]
    assert server["securityContext"]["readOnlyRootFilesystem"] and init["securityContext"]["readOnlyRootFilesystem"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_content_image_passes_hadolint():
    r = subprocess.run([tool("hadolint"), "--no-color", os.path.join(DEPLOY, "content-image", "Containerfile")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# -- compose ----------------------------------------------------------------------------------

def compose() -> dict:
    with open(os.path.join(DEPLOY, "compose.yaml")) as f:
        return yaml.safe_load(f)


def test_compose_file_matches_the_compose_spec():
    r = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                        os.path.join(DEPLOY, "compose.yaml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_spec_check_finds_faults(tmp_path):
    bad = compose()
    bad["services"]["termsvc"]["replica"] = 3  # not a compose key (deploy.replicas is)
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(bad))
    r = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                        str(tmp_path / "compose.yaml")], capture_output=True, text=True)
    assert r.returncode != 0


def test_compose_shape():
    c = compose()
    assert "name" not in c   # docker-compose 1.29 refuses it: deploy/.env names the project
    assert open(os.path.join(DEPLOY, ".env")).read().count("COMPOSE_PROJECT_NAME=termsvc") == 1
    svc = c["services"]
    termsvc, content, nginx = svc["termsvc"], svc["content"], svc["nginx"]
    assert termsvc["deploy"]["replicas"] == 3
    serve = termsvc["command"]
    assert serve[0] == "serve" and serve[serve.index("--management-port") + 1] != serve[serve.index("--port") + 1]
    (vol,) = termsvc["volumes"]
    assert vol["type"] == "volume" and vol["read_only"] is True and vol["source"] in c["volumes"]
    assert f"{vol['source']}:{vol['target']}" in content["volumes"]  # the pull writes where the replicas read
    db = serve[serve.index("--db") + 1]
    assert db.startswith(vol["target"] + "/")
    # the content job: `termsvc pull` into the same file, its URL and sha256 read in the container (so that
    # compose itself never requires them) and required there only while the volume holds no build
    assert content["entrypoint"] == ["/bin/sh", "-c"] and set(content["environment"]) == {"CONTENT_URL",
                                                                                           "CONTENT_SHA256"}
    (script,) = content["command"]
    assert "exec termsvc pull" in script and f"--db {db}" in script and f"[ -f {db} ]" in script
    assert "$${CONTENT_URL:?" in script and "$${CONTENT_SHA256:?" in script
    assert "${CONTENT" not in open(os.path.join(DEPLOY, "compose.yaml")).read().replace("$${CONTENT", "")
    assert termsvc["depends_on"]["content"]["condition"] == "service_completed_successfully"
    assert nginx["depends_on"]["termsvc"]["condition"] == "service_healthy"
    for m in nginx["volumes"]:  # the repository's nginx configuration
        host = m.split(":")[0]
        assert os.path.isfile(os.path.join(DEPLOY, host)), host


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose (1.x) is not installed")
def test_docker_compose_1_accepts_the_file_without_the_content_variables(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTENT_")}
    r = subprocess.run(["docker-compose", "-f", os.path.join(DEPLOY, "compose.yaml"), "config"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "termsvc" in yaml.safe_load(r.stdout)["services"]


@pytest.mark.parametrize("build_there, url, expect", [
    (True, "", "stays"),                              # a later `up` (or `run content`) without the variables
    (False, "", "set CONTENT_URL to the published build"),
    (False, "file:///x.db", "set CONTENT_SHA256"),
    (True, "file:///x.db", "pull file:///x.db --sha256 HEX --db"),
])
def test_the_content_job_needs_its_variables_only_without_a_build(tmp_path, build_there, url, expect):
    """The job's shell script as compose hands it to the container ($$ is compose's escape of $), run by the
    host's sh with the volume's path moved into tmp_path and a `termsvc` that says what it was asked."""
    (script,) = compose()["services"]["content"]["command"]
    script = script.replace("$$", "$").replace("/content/", f"{tmp_path}/content/")
    (tmp_path / "content").mkdir()
    if build_there:
        (tmp_path / "content" / "termsvc.db").write_bytes(b"")
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "termsvc"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "CONTENT_URL": url,
           "CONTENT_SHA256": "HEX" if expect.startswith("pull") else ""}
    r = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, env=env)
    assert (r.returncode == 0) == (expect == "stays" or expect.startswith("pull")), r.stderr
    assert expect in r.stdout + r.stderr, (r.stdout, r.stderr)


# -- nginx ------------------------------------------------------------------------------------

def nginx_main(tmp_path, upstreams: str, port: int | None = None) -> str:
    """A main nginx.conf including the repository's termsvc.conf, as nginx's Debian and Docker packages do
    (listening on `port` instead of 8080 when given)."""
    conf = open(os.path.join(DEPLOY, "nginx", "termsvc.conf")).read()
    if port is not None:
        conf, n = re.subn(r"^(\s*)listen\s+8080;", rf"\1listen 127.0.0.1:{port};", conf, flags=re.M)
        assert n == 1
    (tmp_path / "termsvc.conf").write_text(conf)
    (tmp_path / "termsvc-upstreams.conf").write_text(upstreams)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir()
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
                    + "".join(f"  {d}_temp_path {tmp_path}/{d};\n" for d in ("proxy", "fastcgi", "uwsgi", "scgi"))
                    + f"  client_body_temp_path {tmp_path}/body;\n  include termsvc.conf;\n}}\n")
    return str(main)


def test_nginx_configuration_parses(tmp_path):
    compose_upstreams = open(os.path.join(DEPLOY, "nginx", "upstreams-compose.conf")).read()
    parsed = crossplane.parse(nginx_main(tmp_path, compose_upstreams), strict=True, check_ctx=True,
                              check_args=True)
    assert parsed["status"] == "ok", parsed["errors"]
    assert len(parsed["config"]) == 3  # nginx.conf, termsvc.conf, termsvc-upstreams.conf
    directives = {d["directive"]: d for f in parsed["config"] for d in f["parsed"]}
    (server,) = [d for d in directives["http"]["block"] if d["directive"] == "include"]
    assert server["args"] == ["termsvc.conf"]


def test_nginx_parse_finds_faults(tmp_path):
    main = nginx_main(tmp_path, "server 127.0.0.1:1;\n")
    with open(tmp_path / "termsvc.conf", "a") as f:
        f.write("proxy_pass http://termsvc;\n")  # not allowed at the http level
    assert crossplane.parse(main, strict=True, check_ctx=True, check_args=True)["status"] == "failed"


@pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                    reason="nginx is not installed (the crossplane check above still ran)")
def test_nginx_accepts_the_configuration(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    main = nginx_main(tmp_path, "server 127.0.0.1:18301;\nserver 127.0.0.1:18302;\n")
    r = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", main], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# -- workers in a container -------------------------------------------------------------------

def test_default_workers_follow_the_cpu_limit(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert default_workers(str(tmp_path / "missing")) == cpus
    cpu_max.write_text("max 100000\n")
    assert default_workers(str(cpu_max)) == cpus
    cpu_max.write_text("50000 100000\n")  # half a CPU: one worker
    assert default_workers(str(cpu_max)) == 1
    cpu_max.write_text(f"{150000 * cpus} 100000\n")  # more than the CPUs there are: one per CPU
    assert default_workers(str(cpu_max)) == cpus
    if cpus >= 2:
        cpu_max.write_text("150000 100000\n")  # 1.5 CPUs: rounded up
        assert default_workers(str(cpu_max)) == 2



NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
needs_nginx = pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed")


@pytest.fixture
def replica(tmp_path, server_factory):
    """A termsvc replica with one worker over an empty build."""
    from conftest import QUIET
    from termsvc.build import build
    db = str(tmp_path / "t.db")
    build(db, [], QUIET)
    return server_factory(db)   # one port for everything: nginx must keep /metrics and /admin in itself


@contextlib.contextmanager
def nginx_in_front(tmp_path, replica_port: int):
    """nginx with the repository's configuration in front of one replica; yields its base URL."""
    from conftest import free_port
    port = free_port()
    main = nginx_main(tmp_path, f"server 127.0.0.1:{replica_port};\n", port)
    proc = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", main, "-g", "daemon off;"], start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return http_get(base + "/health")[0] == 200
        except OSError:
            return False
    try:
        eventually(healthy, what="nginx in front of the replica")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def http_get(url, request_id=None, timeout=10):
    """(status, X-Request-Id headers, body) of a GET."""
    req = urllib.request.Request(url, headers={"X-Request-Id": request_id} if request_id else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get_all("X-Request-Id"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get_all("X-Request-Id"), e.read()


@needs_nginx
def test_nginx_makes_and_forwards_request_ids_and_keeps_metrics_and_admin_in(tmp_path, replica):
    srv = replica
    with nginx_in_front(tmp_path, srv.port) as base:
        def get(path, request_id=None):   # through nginx
            return http_get(base + path, request_id)
        status, made, _ = get("/fhir/metadata")
        assert status == 200 and len(made) == 1 and re.fullmatch(r"[0-9a-f]{32}", made[0])
        assert get("/fhir/metadata", "conv-7.a")[1] == ["conv-7.a"]
        status, replaced, _ = get("/fhir/CodeSystem/none", "bad id\twith spaces")
        assert status == 404 and len(replaced) == 1 and re.fullmatch(r"[0-9a-f]{32}", replaced[0])
        for path in ("/metrics", "/admin", "/admin/jobs/1"):
            status, ids, body = get(path, "ops-1")
            assert status == 404 and ids == ["ops-1"] and json.loads(body)["resourceType"] == "OperationOutcome", path
        assert srv.get("/metrics")[0] == 200 and get("/mappings")[0] == 200   # the replica serves them; nginx not
        def logged() -> set:
            return {json.loads(line)["request_id"] for line in srv.log().splitlines() if '"request_id"' in line}
        eventually(lambda: {made[0], "conv-7.a", replaced[0]} <= logged(), what="the ids nginx sent, logged")
        ids = logged()   # by the replica
        assert "ops-1" not in ids   # /metrics and /admin never reached it


def raw_request(port: int, data: bytes) -> tuple[int, dict]:
    """Send bytes as they are; (status, parsed JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@needs_nginx
def test_through_nginx_a_slow_upload_holds_no_worker(tmp_path, replica):
    with nginx_in_front(tmp_path, replica.port) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as slow:   # a body announced, one byte sent
            slow.sendall(b"POST /fhir/ValueSet/$expand HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json"
                         b"\r\nContent-Length: 1000\r\n\r\n{")
            # nginx reads the body whole before the replica sees the request: its one worker keeps answering
            assert http_get(base + "/fhir/metadata", timeout=5)[0] == 200
            assert replica.get("/fhir/metadata", timeout=5)[0] == 200


@needs_nginx
def test_nginx_refusals_are_operation_outcomes(tmp_path, replica):
    with nginx_in_front(tmp_path, replica.port) as base:
        port = int(base.rsplit(":", 1)[1])
        for data, status, code in [
                (b"GET /fhir/CodeSystem?url=" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "too-costly"),
                (b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "invalid"),
                (b"NOT HTTP\r\n\r\n", 400, "invalid"),
                (b"POST /fhir/ValueSet/$expand HTTP/1.1\r\nHost: x\r\nContent-Length: 60000000\r\n\r\n", 413,
                 "too-costly")]:
            got, outcome = raw_request(port, data)
            assert (got, outcome["resourceType"], outcome["issue"][0]["code"]) == (status, "OperationOutcome", code)
