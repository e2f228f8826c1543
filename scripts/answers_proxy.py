#!/usr/bin/env python3
"""A recording proxy: every answer a server gives to a client (the HL7 conformance runner, a benchmark),
written down, so that two versions of the server can be compared answer by answer.

    python3 scripts/answers_proxy.py --to http://127.0.0.1:8080 --port 8090 --out /tmp/a.jsonl &
    python3 /work/shared/txtests/run_txtests.py --suite ... --server http://127.0.0.1:8090/fhir ...
    kill %1     # (the file is complete after each request)
    python3 scripts/answers_proxy.py --compare /tmp/a.jsonl /tmp/b.jsonl

Each line of the file is one exchange, in the order they happened: the request (method, path and query,
the sha256 of its body) and the answer (status, body as sent). `--compare` pairs two recordings request by
request (the same requests, in the same order: a runner with --jobs 1) and counts the answers that differ
byte for byte - but for what differs by design from call to call (an expansion's identifier and timestamp,
the server's address).
"""
import argparse
import hashlib
import http.client
import http.server
import json
import re
import sys
import threading
import urllib.parse

VARIES = re.compile(rb'("identifier":"urn:uuid:)[0-9a-f-]{36}"|("timestamp":")[0-9T:-]{19}Z"')
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "content-length", "host"}


def scrubbed(body: bytes, host: str) -> str:
    """The answer but for what varies by design: an expansion's identifier and timestamp, and the address
    the server was reached by (in a CapabilityStatement's url)."""
    body = VARIES.sub(lambda m: (m.group(1) or m.group(2)) + b'(varies)"', body)
    return body.replace(host.encode(), b"(host)").decode("utf-8", "replace")


def serve(target: str, port: int, out_path: str) -> None:
    split = urllib.parse.urlsplit(target)
    lock = threading.Lock()
    out = open(out_path, "a", encoding="utf-8")
    local = threading.local()

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection(split.hostname, split.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            local.conn.request(self.command, self.path, body=body or None, headers=headers)
            r = local.conn.getresponse()
            answer = r.read()
            with lock:
                out.write(json.dumps({"method": self.command, "path": self.path,
                                      "body_sha256": hashlib.sha256(body).hexdigest(), "status": r.status,
                                      "answer": scrubbed(answer, split.netloc)}) + "\n")
                out.flush()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP_BY_HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy).serve_forever()


def compare(a_path: str, b_path: str) -> int:
    a = [json.loads(line) for line in open(a_path, encoding="utf-8")]
    b = [json.loads(line) for line in open(b_path, encoding="utf-8")]
    if [(x["method"], x["path"], x["body_sha256"]) for x in a] != [(x["method"], x["path"], x["body_sha256"]) for x in b]:
        print(f"the recordings are of different requests ({len(a)} and {len(b)} exchanges)")
        return 2
    differ = [(x, y) for x, y in zip(a, b) if (x["status"], x["answer"]) != (y["status"], y["answer"])]
    for x, y in differ[:20]:
        print(f"differs: {x['method']} {x['path'][:120]}: {x['status']} / {y['status']}")
    print(f"{len(a)} answers compared, {len(differ)} differ")
    return 1 if differ else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--to", help="the server's base URL (scheme, host and port)")
    ap.add_argument("--port", type=int, help="the port the proxy listens on")
    ap.add_argument("--out", help="the recording (appended to)")
    ap.add_argument("--compare", nargs=2, metavar="FILE", help="compare two recordings")
    args = ap.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    serve(args.to, args.port, args.out)


if __name__ == "__main__":
    main()
