#!/usr/bin/env bash
# Data handling in real runs (docs/staging.md): `mpiexec -n 2 wfmpi` on a
# workflow whose inputs come from a real HTTP server on loopback (python3's
# http.server) and from file:// replicas, with a wrong checksum on one
# branch, stage-out with an output replica catalog, --cleanup of an
# intermediate file, and a container job.
#
# Apptainer cannot be installed here (no Debian package; it needs setuid or
# user namespaces), so tests/data/container/apptainer, a stand-in that
# records its arguments and runs the inner command on the host, is put on
# PATH: the test checks the command wfmpi builds and the pull-once
# behaviour, not container isolation.
source "$(dirname "$0")/lib.sh"

WORK=$TMP/work
SRC=$TMP/src
WEB=$TMP/web
mkdir -p "$WORK" "$SRC" "$WEB"
export APPTAINER_LOG=$TMP/apptainer.log
export PATH=$WFMPI_TEST_DATA/container:$PATH

printf 'good data\n' >"$WEB/good.txt"
printf 'tampered\n' >"$WEB/bad.txt"
printf 'local data\n' >"$SRC/local.txt"
printf 'not really an image\n' >"$SRC/img.sif"
good_sha=$(sha256sum "$WEB/good.txt" | cut -d' ' -f1)
# The checksum of what bad.txt should have been, not what the server has.
bad_sha=$(printf 'original\n' | sha256sum | cut -d' ' -f1)

http_serve "$WEB"
URL=$HTTP_URL

# cat.sh OUT IN...: concatenate inputs into OUT.
cat >"$SRC/cat.sh" <<'EOF'
#!/bin/sh
out=$1; shift
cat "$@" >"$out"
EOF
chmod +x "$SRC/cat.sh"

cat >"$TMP/wf.yml" <<EOF
pegasus: '5.0'
name: staging
replicaCatalog:
  replicas:
  - lfn: good.txt
    pfns: [{site: web, pfn: '$URL/good.txt'}]
    checksum: {sha256: '$good_sha'}
  - lfn: bad.txt
    pfns: [{site: web, pfn: '$URL/bad.txt'}]
    checksum: {sha256: '$bad_sha'}
  - lfn: local.txt
    pfns: [{site: local, pfn: 'file://$SRC/local.txt'}]
  - lfn: missing.txt
    pfns: [{site: web, pfn: '$URL/missing.txt'}]
transformationCatalog:
  transformations:
  - name: cat
    sites: [{name: local, pfn: '$SRC/cat.sh', type: installed}]
  - name: boxed
    sites: [{name: local, pfn: '$SRC/cat.sh', type: installed, container: box}]
  containers:
  - {name: box, type: singularity, image: 'file://$SRC/img.sif', mounts: ['$SRC:$SRC']}
jobs:
- {type: job, name: cat, id: good, arguments: [out_good, good.txt, local.txt],
   uses: [{lfn: good.txt, type: input}, {lfn: local.txt, type: input},
          {lfn: out_good, type: output, stageOut: true, registerReplica: true}]}
- {type: job, name: cat, id: bad, arguments: [out_bad, bad.txt],
   uses: [{lfn: bad.txt, type: input}, {lfn: out_bad, type: output, stageOut: false}]}
- {type: job, name: cat, id: after_bad, arguments: [out_after, out_bad],
   uses: [{lfn: out_bad, type: input}, {lfn: out_after, type: output, stageOut: false}]}
- {type: job, name: cat, id: gone, arguments: [out_gone, missing.txt],
   uses: [{lfn: missing.txt, type: input}, {lfn: out_gone, type: output, stageOut: false}]}
- {type: job, name: cat, id: mid, arguments: [mid.txt, local.txt],
   uses: [{lfn: local.txt, type: input},
          {lfn: mid.txt, type: output, stageOut: false, registerReplica: false}]}
- {type: job, name: boxed, id: end, arguments: [out_end, mid.txt, good.txt],
   uses: [{lfn: mid.txt, type: input}, {lfn: good.txt, type: input},
          {lfn: out_end, type: output, stageOut: true, registerReplica: false}]}
EOF

run() {
    wfmpi_mpi -C "$WORK" 2 "$TMP/wf.yml" --run-dir "$TMP/run" --retries 0 --cleanup \
        --container-runtime apptainer --progress 60
}
run
expect_rc 1 "staging run (the bad-checksum and 404 branches fail)"

# Stage-in: the good inputs are in the work dir, local.txt as a link.
[ "$(cat "$WORK/good.txt")" = "good data" ] || fail "good.txt not staged"
[ -L "$WORK/local.txt" ] || fail "local.txt is not a symlink"
[ "$(readlink "$WORK/local.txt")" = "$SRC/local.txt" ] || fail "local.txt links elsewhere"
[ ! -e "$WORK/bad.txt" ] || fail "a file with a wrong checksum was left in the work dir"
# One GET of good.txt although two jobs need it: one stage-in for both.
n=$(grep -c 'GET /good.txt' "$TMP/http.log" || :)
[ "$n" = 1 ] || fail "good.txt fetched $n times"
pass "stage-in over HTTP and file://, once per file"

# Stage-out and the output replica catalog.
[ "$(cat "$WORK/output/out_good")" = "$(printf 'good data\nlocal data')" ] ||
    fail "out_good not staged out: $(ls -R "$WORK/output" 2>&1)"
[ -f "$WORK/output/out_end" ] || fail "out_end not staged out"
python3 - "$TMP/run/output-replicas.yml" "$WORK/output/out_good" <<'PY' || fail "output-replicas.yml"
import hashlib, sys, yaml
rc = yaml.safe_load(open(sys.argv[1]))
assert rc["pegasus"] == "5.0", rc
by = {r["lfn"]: r for r in rc["replicas"]}
assert set(by) == {"out_good"}, by  # out_end is staged out but not registered
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert by["out_good"]["checksum"]["sha256"] == want, by
assert by["out_good"]["pfns"][0]["pfn"] == "file://" + sys.argv[2], by
PY
# The checksums stage-out computed are in the checkpoint too.
"$WFMPI_BUILD/tests/tools/ckpt_dump" --files "$TMP/run" >"$TMP/files" || fail "ckpt_dump"
grep -qx "out_good $(sha256sum "$WORK/output/out_good" | cut -d' ' -f1) stage_out_good" "$TMP/files" ||
    fail "out_good's checksum not in the checkpoint: $(cat "$TMP/files")"
grep -q "^out_end [0-9a-f]\{64\} stage_out_end\$" "$TMP/files" || fail "out_end's checksum"
pass "stage-out to WORK/output, registered with sha256, checksums in the checkpoint"

# Cleanup removed the intermediate once 'end' had read it; nothing else.
[ ! -e "$WORK/mid.txt" ] || fail "mid.txt survived --cleanup"
[ -e "$WORK/out_good" ] || fail "cleanup removed a staged-out file"
[ -e "$WORK/local.txt" ] || fail "cleanup removed a workflow input"
pass "--cleanup removes only the intermediate"

# The container job ran through the runtime with the work dir bound.
grep -q "^apptainer exec --bind $WORK --bind $SRC:$SRC --pwd $WORK $SRC/img.sif $SRC/cat.sh out_end mid.txt good.txt\$" \
    "$APPTAINER_LOG" || fail "container command: $(cat "$APPTAINER_LOG")"
[ "$(cat "$WORK/out_end")" = "$(printf 'local data\ngood data')" ] || fail "out_end content"
pass "container job runs as apptainer exec"

# Failure reasons: the checksum mismatch is 'input integrity' on the
# stage-in, its branch is blocked, the 404 is a plain failure.
"$WFMPI" analyze "$TMP/run" >"$TMP/analyze" || :
grep -q "stage_in_bad" "$TMP/analyze" || fail "analyze lacks stage_in_bad: $(cat "$TMP/analyze")"
grep -qi "input integrity" "$TMP/analyze" || fail "no 'input integrity': $(cat "$TMP/analyze")"
# Blocked: bad, after_bad and the three stage-outs on those branches, and
# gone (its input 404s); the 7 other tasks succeeded.
grep -Eq "tasks blocked +: +6 " "$TMP/analyze" || fail "blocked count: $(head -12 "$TMP/analyze")"
grep -Eq "tasks succeeded +: +7 " "$TMP/analyze" || fail "succeeded count"
grep -q "404" "$TMP/run/jobs/stage_in_gone.1.err" || fail "404 not in the stage-in's stderr"
[ ! -e "$WORK/out_bad" ] && [ ! -e "$WORK/out_after" ] || fail "the bad branch ran"
pass "integrity failure blocks only its branch"

# A rerun resumes the same plan (staged links do not change it): nothing
# that succeeded runs again, nothing is fetched again.
run
expect_rc 1 "rerun"
grep -q "resumed" "$TMP/out" || fail "rerun did not resume: $(cat "$TMP/out")"
n=$(grep -c 'GET /good.txt' "$TMP/http.log" || :)
[ "$n" = 1 ] || fail "good.txt fetched again on resume ($n)"
pass "rerun resumes the same plan"
