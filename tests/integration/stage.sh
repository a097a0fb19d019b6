#!/usr/bin/env bash
# The data tasks' commands on their own (docs/staging.md, "Transfers"):
# `wfmpi stage-in` against tests/data/stage/httpd.py, a loopback HTTP(S)
# server that logs every request and misbehaves on purpose (slow, cut,
# flaky, Range-ignoring and SigV4-checking paths); `wfmpi stage-out` with
# an output replica catalog that wfmpi's own loader and PyYAML read back;
# `wfmpi cleanup`. Real processes, no mocks; stage_run.sh covers the same
# commands inside a planned run.
source "$(dirname "$0")/lib.sh"

HTTPD=$WFMPI_TEST_DATA/stage/httpd.py
WEB=$TMP/web
WORK=$TMP/work
SRC=$TMP/src
LOG=$TMP/http.log
mkdir -p "$WEB/s3/bkt/dir" "$WORK" "$SRC"
# Nothing here may go through a proxy, and the test's AWS settings are its own.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION \
    AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_SHARED_CREDENTIALS_FILE \
    AWS_CONFIG_FILE CURL_CA_BUNDLE SSL_CERT_FILE
export HOME=$TMP/home
mkdir -p "$HOME"

for f in a b c; do head -c 150000 /dev/urandom >"$WEB/$f.bin"; done
head -c 3000000 /dev/urandom >"$WEB/big.bin"
for i in 1 2 3 4; do head -c 40000 /dev/urandom >"$WEB/s$i.bin"; done
head -c 70000 /dev/urandom >"$WEB/s3/bkt/dir/obj.bin"
printf 'local data\n' >"$SRC/local.txt"
sha() { sha256sum "$1" | cut -d' ' -f1; }
wrong=$(printf 'something else' | sha256sum | cut -d' ' -f1)

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || :; done; rm -rf "$TMP"' EXIT

# start_httpd PORTFILE ARGS...: the server in the background; its port in PORT.
start_httpd() {
    local pf=$1
    shift
    python3 "$HTTPD" --dir "$WEB" --port-file "$pf" --log "$LOG" "$@" 2>>"$TMP/httpd.err" &
    PIDS+=($!)
    for _ in $(seq 100); do
        [ -s "$pf" ] && break
        sleep 0.1
    done
    [ -s "$pf" ] || fail "httpd did not start: $(cat "$TMP/httpd.err")"
    PORT=$(cat "$pf")
}
start_httpd "$TMP/port" --slow-seconds 1.5 --s3-token sessiontoken
URL=http://127.0.0.1:$PORT

# run CMD ARGS...: wfmpi CMD in the work dir; RC, $TMP/out, $TMP/err.
run() {
    set +e
    (cd "$WORK" && exec "$WFMPI" "$@") >"$TMP/out" 2>"$TMP/err"
    RC=$?
    set -e
}
# requests PATH: how many requests the server has logged for PATH.
requests() { python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["path"] == sys.argv[2]))' "$LOG" "$1"; }
show() { echo "--- stdout" >&2; cat "$TMP/out" >&2; echo "--- stderr" >&2; cat "$TMP/err" >&2; }
expect() {
    [ "$RC" = "$1" ] || {
        show
        fail "$2: exit $RC, expected $1"
    }
}
touch "$LOG"

# ------------------------------------------------------------ usage
run stage-in --help
expect 0 "stage-in --help"
grep -q -- "--parallel" "$TMP/out" || fail "stage-in --help lacks --parallel"
run stage-in -- "$URL/a.bin" a.bin
expect 2 "an incomplete triple"
run stage-in -- "$URL/a.bin" /tmp/abs.bin -
expect 2 "an absolute DEST"
run stage-in -- "$URL/a.bin" ok.bin - "$URL/b.bin" sub/../../b.bin -
expect 2 "a DEST with '..'"
run stage-in -- "$URL/a.bin" a.bin not-a-checksum
expect 2 "a malformed sha256"
run stage-in --parallel 0 -- "$URL/a.bin" a.bin -
expect 2 "--parallel 0"
[ ! -s "$LOG" ] || fail "a usage error fetched something: $(cat "$LOG")"
[ -z "$(ls -A "$WORK")" ] || fail "a usage error wrote into the work dir: $(ls -A "$WORK")"
pass "stage-in usage errors exit 2 and fetch nothing"

# ------------------------------------------------------------ checksums
run stage-in -- "$URL/a.bin" in/a.bin "$(sha "$WEB/a.bin")" \
    "$URL/b.bin" in/b.bin "$wrong" "$URL/c.bin" in/c.bin -
expect 65 "a wrong checksum"
cmp -s "$WEB/a.bin" "$WORK/in/a.bin" || fail "a.bin not staged"
cmp -s "$WEB/c.bin" "$WORK/in/c.bin" || fail "c.bin (no checksum) not staged"
[ ! -e "$WORK/in/b.bin" ] && [ ! -e "$WORK/in/b.bin.wfmpi-part" ] ||
    fail "the file with the wrong checksum was left: $(ls "$WORK/in")"
grep -q "in/b.bin: sha256 mismatch: expected $wrong, got $(sha "$WEB/b.bin") ($URL/b.bin)" \
    "$TMP/err" || {
    show
    fail "mismatch message"
}
grep -q "in/a.bin.*verified sha256" "$TMP/err" || {
    show
    fail "no 'verified sha256' line for a.bin"
}
pass "right checksum staged, wrong one exits 65 and leaves nothing, the rest staged"

# ------------------------------------------------------------ rerun
n=$(wc -l <"$LOG")
run stage-in -- "$URL/a.bin" in/a.bin "$(sha "$WEB/a.bin")" "$URL/c.bin" in/c.bin -
expect 0 "rerun"
[ "$(wc -l <"$LOG")" = "$n" ] || fail "a rerun fetched again: $(tail -n +$((n + 1)) "$LOG")"
grep -q "in/a.bin.*skipped" "$TMP/err" || {
    show
    fail "the rerun does not say it skipped"
}
pass "a rerun fetches nothing that is already there"

# ------------------------------------------------------------ cut connection
run stage-in -- "$URL/cut/big.bin" big.bin "$(sha "$WEB/big.bin")"
expect 0 "a cut transfer"
cmp -s "$WEB/big.bin" "$WORK/big.bin" || fail "big.bin incomplete after a cut"
python3 - "$LOG" <<'PY' || fail "the retry of a cut transfer did not resume: $(grep cut "$LOG")"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
reqs = [r for r in reqs if r["path"] == "/cut/big.bin"]
assert len(reqs) == 2, reqs
first, second = reqs
assert first["range"] == "" and first["bytes"] == 1500000, first
assert second["range"] == "bytes=1500000-" and second["status"] == 206, second
assert second["bytes"] == 1500000, second
PY
pass "a cut transfer resumes with a Range request"

# ------------------------------------------------------------ server ignores Range
printf 'stale partial content' >"$WORK/nr.bin.wfmpi-part"
run stage-in -- "$URL/norange/a.bin" nr.bin "$(sha "$WEB/a.bin")"
expect 0 "a server that answers 200 to a Range request"
cmp -s "$WEB/a.bin" "$WORK/nr.bin" || fail "nr.bin wrong after a 200 to a resume"
[ ! -e "$WORK/nr.bin.wfmpi-part" ] || fail "nr.bin.wfmpi-part left behind"
pass "a 200 answer to a resume starts over"

# A part that is already whole (killed between download and rename): the
# server answers 416 to the resume; the checksum proves the part right, and
# without one it is fetched again.
cp "$WEB/b.bin" "$WORK/whole.bin.wfmpi-part"
cp "$WEB/b.bin" "$WORK/whole2.bin.wfmpi-part" # as long as c.bin, but stale
nb=$(requests /b.bin)
nc=$(requests /c.bin)
run stage-in -- "$URL/b.bin" whole.bin "$(sha "$WEB/b.bin")" "$URL/c.bin" whole2.bin -
expect 0 "parts already whole"
cmp -s "$WEB/b.bin" "$WORK/whole.bin" && cmp -s "$WEB/c.bin" "$WORK/whole2.bin" ||
    fail "whole parts: wrong content"
[ "$(requests /b.bin)" = $((nb + 1)) ] || fail "a whole, verified part was fetched again: $(grep b.bin "$LOG")"
[ "$(requests /c.bin)" = $((nc + 2)) ] || fail "an unverifiable part was not fetched again: $(grep c.bin "$LOG")"
pass "a part already whole is verified by its checksum (416), else fetched again"

# ------------------------------------------------------------ 404, 503
run stage-in -- "$URL/missing.bin" missing.bin -
expect 1 "a 404"
grep -q "HTTP 404 for $URL/missing.bin" "$TMP/err" || {
    show
    fail "404 message"
}
[ "$(requests /missing.bin)" = 1 ] || fail "a 404 was retried: $(grep missing "$LOG")"
[ ! -e "$WORK/missing.bin" ] && [ ! -e "$WORK/missing.bin.wfmpi-part" ] || fail "404 left a file"
run stage-in -- "$URL/flaky/b.bin" flaky.bin "$(sha "$WEB/b.bin")"
expect 0 "a 503 then 200"
[ "$(requests /flaky/b.bin)" = 2 ] || fail "503 not retried once: $(grep flaky "$LOG")"
run stage-in --retries 0 -- "$URL/flaky/c.bin" flaky2.bin -
expect 1 "a 503 with --retries 0"
grep -q "HTTP 503" "$TMP/err" || fail "503 message: $(cat "$TMP/err")"
pass "404 fails at once, 503 is retried"

# A transfer that stalls is abandoned after --low-speed-time (and retried).
t0=$(date +%s)
run stage-in --low-speed-time 1 --retries 0 -- "$URL/stall/a.bin" stall.bin -
expect 1 "a stalled transfer"
[ $(($(date +%s) - t0)) -lt 10 ] || fail "a stalled transfer was not given up in time"
grep -qi "too slow" "$TMP/err" || fail "stall message: $(cat "$TMP/err")"
[ ! -e "$WORK/stall.bin" ] || fail "a stalled transfer produced DEST"
pass "a stalled transfer is given up after --low-speed-time"

# ------------------------------------------------------------ parallel
args=()
for i in 1 2 3 4; do args+=("$URL/slow/s$i.bin" "slow/s$i.bin" "$(sha "$WEB/s$i.bin")"); done
t0=$(date +%s.%N)
run stage-in --parallel 4 -- "${args[@]}"
expect 0 "four slow files"
t1=$(date +%s.%N)
for i in 1 2 3 4; do cmp -s "$WEB/s$i.bin" "$WORK/slow/s$i.bin" || fail "s$i.bin"; done
python3 - "$LOG" "$t0" "$t1" <<'PY' || fail "the slow transfers did not overlap: $(grep slow "$LOG")"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
reqs = [r for r in reqs if r["path"].startswith("/slow/")]
assert len(reqs) == 4, reqs
# All four were being served at once: each started before any ended.
assert max(r["start"] for r in reqs) < min(r["end"] for r in reqs), reqs
assert float(sys.argv[3]) - float(sys.argv[2]) < 4.5, "took as long as one at a time"
PY
# Progress: at most one line a second per transfer, and a final line each.
grep -Eq '^stage-in: slow/s1.bin [0-9]+% [0-9.]+ MB/s$' "$TMP/err" || {
    show
    fail "no progress line"
}
for i in 1 2 3 4; do
    p=$(grep -Ec "^stage-in: slow/s$i.bin [0-9]+% " "$TMP/err" || :)
    [ "$p" -le 2 ] || fail "$p progress lines for a 1.5 s transfer"
    grep -Eq "^stage-in: slow/s$i.bin: 40000 bytes in [0-9.]+ s .*verified sha256" "$TMP/err" ||
        fail "no final line for s$i.bin: $(cat "$TMP/err")"
done
pass "--parallel 4 runs four slow transfers at once, with progress lines"

# ------------------------------------------------------------ file://
run stage-in -- "file://$SRC/local.txt" l/link.txt "$(sha "$SRC/local.txt")" \
    "$SRC/local.txt" l/plain.txt -
expect 0 "file:// and a plain path"
[ "$(readlink "$WORK/l/link.txt")" = "$SRC/local.txt" ] || fail "file:// is not a symlink"
[ "$(readlink "$WORK/l/plain.txt")" = "$SRC/local.txt" ] || fail "a plain path is not a symlink"
run stage-in -- "file://$SRC/local.txt" l/link.txt -
expect 0 "relinking over an existing link"
run stage-in --no-symlink -- "file://$SRC/local.txt" l/copy.txt "$(sha "$SRC/local.txt")"
expect 0 "--no-symlink"
[ -f "$WORK/l/copy.txt" ] && [ ! -L "$WORK/l/copy.txt" ] || fail "--no-symlink made a link"
cmp -s "$SRC/local.txt" "$WORK/l/copy.txt" || fail "--no-symlink copy differs"
run stage-in -- "file://$SRC/local.txt" l/bad.txt "$wrong"
expect 65 "a local file with the wrong checksum"
[ ! -e "$WORK/l/bad.txt" ] && [ ! -L "$WORK/l/bad.txt" ] || fail "a bad local file was linked"
run stage-in -- "file://$SRC/nope.txt" l/nope.txt -
expect 1 "a missing local file"
grep -q "nope.txt" "$TMP/err" || fail "missing local file message"
pass "file:// links, --no-symlink copies, checksums of local files"

# ------------------------------------------------------------ s3
s3sha=$(sha "$WEB/s3/bkt/dir/obj.bin")
export AWS_ENDPOINT_URL=$URL/s3
AWS_ACCESS_KEY_ID=AKIDWFMPITEST AWS_SECRET_ACCESS_KEY=wfmpi/test+secret \
    AWS_SESSION_TOKEN=sessiontoken run stage-in -- s3://bkt/dir/obj.bin obj.bin "$s3sha"
expect 0 "s3 with credentials from the environment"
cmp -s "$WEB/s3/bkt/dir/obj.bin" "$WORK/obj.bin" || fail "obj.bin"
grep -q '"path": "/s3/bkt/dir/obj.bin".*"auth": "AWS4-HMAC-SHA256 Credential=AKIDWFMPITEST/' \
    "$LOG" || fail "no signed request in the log"
# From ~/.aws/credentials (profile from AWS_PROFILE), the token there too.
mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n\n[test]\naws_access_key_id = AKIDWFMPITEST\naws_secret_access_key = wfmpi/test+secret\naws_session_token = sessiontoken\n' \
    >"$HOME/.aws/credentials"
AWS_PROFILE=test run stage-in -- s3://bkt/dir/obj.bin obj2.bin "$s3sha"
expect 0 "s3 with credentials from ~/.aws/credentials"
# A bad signature is a 403, not retried.
AWS_PROFILE=default run stage-in -- s3://bkt/dir/obj.bin obj3.bin -
expect 1 "s3 with wrong credentials"
grep -q "HTTP 403" "$TMP/err" || fail "403 message: $(cat "$TMP/err")"
rm "$HOME/.aws/credentials"
n=$(wc -l <"$LOG")
run stage-in -- s3://bkt/dir/obj.bin obj4.bin -
expect 1 "s3 without credentials"
grep -qi "no AWS credentials" "$TMP/err" || fail "no-credentials message: $(cat "$TMP/err")"
[ "$(wc -l <"$LOG")" = "$n" ] || fail "a request went out without credentials"
unset AWS_ENDPOINT_URL
pass "s3 signed with SigV4 (env, ~/.aws/credentials), 403 and missing credentials"

# ------------------------------------------------------------ https
(cd "$TMP" && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 1 \
    -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null)
start_httpd "$TMP/tls.port" --tls "$TMP/cert.pem" "$TMP/key.pem"
SURL=https://127.0.0.1:$PORT
n=$(wc -l <"$LOG")
t0=$(date +%s)
run stage-in -- "$SURL/a.bin" tls.bin -
expect 1 "https with an unknown certificate"
[ $(($(date +%s) - t0)) -lt 3 ] || fail "a certificate failure was retried"
[ ! -e "$WORK/tls.bin" ] || fail "an unverified download was kept"
CURL_CA_BUNDLE=$TMP/cert.pem run stage-in -- "$SURL/a.bin" tls.bin "$(sha "$WEB/a.bin")"
expect 0 "https with the certificate as CA"
cmp -s "$WEB/a.bin" "$WORK/tls.bin" || fail "tls.bin"
pass "https verifies the server's certificate (CURL_CA_BUNDLE)"

# ------------------------------------------------------------ stage-out
mkdir -p "$WORK/sub"
printf 'first output\n' >"$WORK/o1.txt"
head -c 100000 /dev/urandom >"$WORK/sub/o2.bin"
printf 'registered only\n' >"$WORK/o3.txt"
RCF=$TMP/rc/out.yml
mkdir -p "$TMP/rc"
for round in 1 2; do
    run stage-out --output-dir "$TMP/outdir" --replica-catalog "$RCF" -- \
        o1.txt copy+register sub/o2.bin copy+register o3.txt register sub/o2.bin copy
    expect 0 "stage-out round $round"
done
cmp -s "$WORK/o1.txt" "$TMP/outdir/o1.txt" && cmp -s "$WORK/sub/o2.bin" "$TMP/outdir/sub/o2.bin" ||
    fail "stage-out copies"
[ ! -e "$TMP/outdir/o3.txt" ] || fail "a register-only file was copied"
grep -qx "sha256 $(sha "$WORK/o1.txt") o1.txt" "$TMP/out" || fail "stdout: $(cat "$TMP/out")"
grep -qx "sha256 $(sha "$WORK/sub/o2.bin") sub/o2.bin" "$TMP/out" || fail "stdout: $(cat "$TMP/out")"
[ -z "$(find "$TMP/outdir" -name '*wfmpi*')" ] || fail "temporary files left in the output dir"
python3 - "$RCF" "$TMP/outdir" "$WORK" "$(sha "$WORK/o1.txt")" "$(sha "$WORK/sub/o2.bin")" \
    "$(sha "$WORK/o3.txt")" <<'PY' || fail "replica catalog: $(cat "$RCF")"
import sys, yaml
rcf, out, work, s1, s2, s3 = sys.argv[1:]
rc = yaml.safe_load(open(rcf))
assert rc["pegasus"] == "5.0", rc
lfns = [r["lfn"] for r in rc["replicas"]]
assert sorted(lfns) == ["o1.txt", "o3.txt", "sub/o2.bin"], lfns  # once each after two rounds
by = {r["lfn"]: r for r in rc["replicas"]}
want = {"o1.txt": ("file://" + out + "/o1.txt", s1),
        "sub/o2.bin": ("file://" + out + "/sub/o2.bin", s2),
        "o3.txt": ("file://" + work + "/o3.txt", s3)}
for lfn, (pfn, sha) in want.items():
    assert by[lfn]["pfns"] == [{"site": "local", "pfn": pfn}], by[lfn]
    assert by[lfn]["checksum"] == {"sha256": sha}, by[lfn]
PY
# wfmpi's own loader takes it as a replica catalog.
cat >"$TMP/consume.yml" <<EOF
pegasus: '5.0'
name: consume
transformationCatalog:
  transformations:
  - name: cat
    sites: [{name: local, pfn: /bin/cat, type: installed}]
jobs:
- {type: job, name: cat, id: c1, arguments: [o1.txt, sub/o2.bin],
   uses: [{lfn: o1.txt, type: input}, {lfn: sub/o2.bin, type: input}]}
EOF
mkdir -p "$TMP/pw"
"$WFMPI" plan "$TMP/consume.yml" --rc "$RCF" --work-dir "$TMP/pw" -v >"$TMP/plan.out" 2>&1 ||
    fail "wfmpi plan does not load the catalog: $(cat "$TMP/plan.out")"
grep -q "$TMP/outdir/sub/o2.bin" "$TMP/plan.out" || fail "plan does not use the replica: $(cat "$TMP/plan.out")"
pass "stage-out copies, hashes and registers once per lfn; the catalog loads in wfmpi plan"

# Default catalog from WFMPI_RUN_DIR; a missing lfn fails alone.
mkdir -p "$TMP/run"
WFMPI_RUN_DIR=$TMP/run run stage-out --output-dir out2 -- gone.txt copy+register o1.txt copy+register
expect 1 "a missing output"
grep -q "gone.txt" "$TMP/err" || fail "the missing lfn is not named: $(cat "$TMP/err")"
cmp -s "$WORK/o1.txt" "$WORK/out2/o1.txt" || fail "the other output was not staged out"
grep -q '"o1.txt"' "$TMP/run/output-replicas.yml" || fail "WFMPI_RUN_DIR/output-replicas.yml"
grep -q 'gone.txt' "$TMP/run/output-replicas.yml" && fail "a missing output was registered"
run stage-out --output-dir out2 -- o1.txt move
expect 2 "a bad mode"
run stage-out --output-dir out2 -- ../o1.txt copy
expect 2 "an lfn with '..'"
run stage-out -- o1.txt copy
expect 2 "no --output-dir"
pass "stage-out: default catalog, missing lfn exits 1, usage errors exit 2"

# ------------------------------------------------------------ cleanup
touch "$WORK/x1" "$WORK/sub/x2"
run cleanup -- x1 ../x1
expect 2 "cleanup of '..'"
run cleanup -- x1 /tmp/x1
expect 2 "cleanup of an absolute path"
[ -e "$WORK/x1" ] || fail "a refused cleanup removed something"
run cleanup -- x1 sub/x2 never-there
expect 0 "cleanup"
[ ! -e "$WORK/x1" ] && [ ! -e "$WORK/sub/x2" ] || fail "cleanup left files"
[ "$(cat "$TMP/out")" = "$(printf 'removed x1\nremoved sub/x2')" ] || fail "cleanup stdout: $(cat "$TMP/out")"
pass "cleanup removes, tolerates missing files, refuses paths outside the work dir"
