#!/usr/bin/env python3
"""Hostile clients for tests/integration/glidein_limits.sh, loopback only,
bounded in count and time.

  flood.py upload PORT N SECONDS [TOKEN]
      N chunked POST /v1/workflows, with TOKEN or none, each pushing 64 KiB
      chunks for SECONDS (or until the service closes or stops reading).
      Prints "answered=A closed=C sent_mb=M" (A: got an HTTP status line).
  flood.py idle PORT SPEC HOLD_S CMD...
      Opens idle connections, SPEC = "ADDR:N,ADDR:N,..." (source addresses
      in 127/8), plus a few that trickle header bytes (slowloris), runs CMD
      while they are held, then waits HOLD_S and reports how many the
      service closed meanwhile. Prints "opened=O open_after_1s=K
      cmd_rc=R cmd_s=T closed_after_hold=Z".
"""
import socket, subprocess, sys, time


def conn(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    return s


def alive(s):
    """False once the peer closed (EOF/reset); idle sockets stay True."""
    s.setblocking(False)
    try:
        d = s.recv(4096)
        return d != b"" and not d.startswith(b"HTTP/")
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.setblocking(True)


def upload(port, n, secs, token):
    hdr = "POST /v1/workflows HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    if token:
        hdr += "Authorization: Bearer %s\r\n" % token
    hdr += "Content-Type: application/json\r\n\r\n"
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    socks = []
    for _ in range(n):
        s = conn(port)
        s.sendall(hdr.encode())
        s.setblocking(False)
        socks.append(s)
    sent, answered, closed = 0, set(), set()
    end = time.time() + secs
    while time.time() < end and len(closed) < n:
        progress = False
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                d = s.recv(4096)
                if d.startswith(b"HTTP/"):
                    answered.add(i)
                if d == b"":
                    closed.add(i)
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
                continue
            try:
                sent += s.send(chunk)
                progress = True
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        if not progress:
            time.sleep(0.01)
    print("answered=%d closed=%d sent_mb=%.1f" % (len(answered), len(closed), sent / 2**20))
    sys.stdout.flush()
    # Held open until the caller has measured the service.
    time.sleep(float(sys.argv[6]) if len(sys.argv) > 6 else 0)


def idle(port, spec, hold, cmd):
    socks = []
    for part in spec.split(","):
        addr, n = part.split(":")
        for _ in range(int(n)):
            try:
                socks.append(conn(port, addr))
            except OSError:
                pass
    slow = []
    for _ in range(8):
        s = conn(port, "127.0.0.250")
        s.sendall(b"GET /v1/health HTTP/1.1\r\nX-Slow: ")
        slow.append(s)
    time.sleep(1)
    open_now = sum(alive(s) for s in socks)
    t0 = time.time()
    rc = subprocess.call(cmd)
    took = time.time() - t0
    end = time.time() + hold
    while time.time() < end:
        for s in slow:
            try:
                s.send(b"a")
            except OSError:
                pass
        time.sleep(0.5)
    closed = sum(not alive(s) for s in socks)
    print("opened=%d open_after_1s=%d cmd_rc=%d cmd_s=%.2f closed_after_hold=%d"
          % (len(socks), open_now, rc, took, closed))


if sys.argv[1] == "upload":
    upload(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
           sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != "-" else None)
else:
    idle(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5:])
