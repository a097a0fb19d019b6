#!/usr/bin/env python3
"""A loopback HTTP(S) server for tests/integration/stage.sh (stdlib only).

Serves --dir. Paths with a prefix misbehave on purpose:

  /slow/P      P, throttled (about --slow-seconds per response)
  /cut/P       the first request for P gets its headers and half its body,
               then the connection is closed; later requests succeed
  /flaky/P     the first request for P answers 503; later ones succeed
  /norange/P   P, ignoring Range (always 200 with the whole file)
  /stall/P     P's headers and first byte, then nothing for 30 s
  /s3/B/K      B/K under --dir/s3, only with a valid AWS Signature V4 made
               with --s3-key/--s3-secret (and x-amz-security-token equal to
               --s3-token when given); 403 otherwise

Every other path is a file under --dir (404 when missing). Single byte
ranges ("bytes=N-" and "bytes=N-M") get 206, or 416 past the end.

The chosen port is written to --port-file once listening. Every request is
logged to --log as one JSON object per line: start, end (epoch seconds),
method, path, range, auth (first 64 characters of Authorization), status,
bytes (body bytes sent).
"""
import argparse
import hashlib
import hmac
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CHUNK = 64 * 1024


class State:
    lock = threading.Lock()
    seen = {}  # path -> requests so far (for /cut and /flaky)
    args = None
    log = None


def first_time(path):
    with State.lock:
        n = State.seen.get(path, 0)
        State.seen[path] = n + 1
        return n == 0


def sigv4_problem(h, method, path):
    """Why this request's AWS Signature V4 is not valid (None when it is).
    Recomputes the signature the way S3 does, from the signed headers and
    the x-amz-content-sha256 value."""
    a = State.args
    auth = h.get("Authorization", "")
    prefix = "AWS4-HMAC-SHA256 Credential=%s/" % a.s3_key
    if not auth.startswith(prefix):
        return "Authorization does not start with " + prefix
    amz_date = h.get("x-amz-date")
    payload = h.get("x-amz-content-sha256")
    if not amz_date or not payload:
        return "x-amz-date or x-amz-content-sha256 missing"
    if payload not in ("UNSIGNED-PAYLOAD", EMPTY_SHA256):
        return "x-amz-content-sha256 is not the hash of an empty body"
    try:
        fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        scope = fields["Credential"].split("/", 1)[1]
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except (KeyError, IndexError, ValueError):
        return "malformed Authorization"
    if a.s3_token is not None:
        if h.get("x-amz-security-token") != a.s3_token:
            return "x-amz-security-token missing or wrong"
        if "x-amz-security-token" not in signed:
            return "x-amz-security-token not signed"
    for need in ("host", "x-amz-date", "x-amz-content-sha256"):
        if need not in signed:
            return need + " not signed"
    canon_headers = "".join("%s:%s\n" % (k, " ".join((h.get(k) or "").split())) for k in signed)
    canon = "\n".join([method, path, "", canon_headers, ";".join(signed), payload])
    date, region, service, _ = scope.split("/")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    key = ("AWS4" + a.s3_secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    want = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return "signature does not match"
    if region != a.s3_region:
        return "region %s, expected %s" % (region, a.s3_region)
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "wfmpi-test-httpd"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    def record(self, status, sent):
        entry = {
            "start": self.t0, "end": time.time(), "method": self.command,
            "path": self.path, "range": self.headers.get("Range", ""),
            "auth": self.headers.get("Authorization", "")[:64],
            "status": status, "bytes": sent,
        }
        with State.lock:
            State.log.write(json.dumps(entry) + "\n")
            State.log.flush()

    def fail(self, status, text=""):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.record(status, 0)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.t0 = time.time()
        path = self.path.split("?", 1)[0]
        mode, rel = "plain", path
        for m in ("slow", "cut", "flaky", "norange", "stall", "s3"):
            if path.startswith("/%s/" % m):
                mode, rel = m, path[len(m) + 1:]
        if mode == "s3":
            why = sigv4_problem(self.headers, self.command, path)
            if why:
                return self.fail(403, why)
            rel = "/s3" + rel
        if mode == "flaky" and first_time(path):
            return self.fail(503, "try again")
        full = os.path.realpath(os.path.join(State.args.dir, unquote(rel).lstrip("/")))
        root = os.path.realpath(State.args.dir)
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return self.fail(404, "not found")
        with open(full, "rb") as f:
            data = f.read()
        self.send_body(mode, path, data)

    def send_body(self, mode, path, data):
        start, end, status = 0, len(data), 200
        rng = self.headers.get("Range", "")
        if rng and mode != "norange":
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.split("-", 1)
                start = int(a)
                end = min(int(b) + 1, len(data)) if b else len(data)
                assert unit == "bytes" and "," not in spec
            except (ValueError, AssertionError):
                return self.fail(400, "bad range")
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return self.record(416, 0)
            status = 206
        body = data[start:end]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return self.record(status, 0)
        if mode == "cut" and first_time(path):
            half = body[: len(body) // 2]
            self.wfile.write(half)
            self.wfile.flush()
            self.close_connection = True
            self.record(status, len(half))
            self.connection.shutdown(2)  # abrupt end: the client sees a short body
            return
        if mode == "stall":
            self.wfile.write(body[:1])
            self.wfile.flush()
            time.sleep(30)
            return self.record(status, 1)
        sent = 0
        pieces = 10 if mode == "slow" else 1
        step = max(1, -(-len(body) // pieces))
        for off in range(0, len(body), step):
            if mode == "slow":
                time.sleep(State.args.slow_seconds / pieces)
            self.wfile.write(body[off:off + step])
            sent += len(body[off:off + step])
        self.record(status, sent)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--slow-seconds", type=float, default=1.0)
    p.add_argument("--s3-key", default="AKIDWFMPITEST")
    p.add_argument("--s3-secret", default="wfmpi/test+secret")
    p.add_argument("--s3-region", default="us-east-1")
    p.add_argument("--s3-token")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    State.args = a = p.parse_args()
    State.log = open(a.log, "a")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
