#!/bin/bash
# A glidein pilot places GPU tasks like `wfmpi run` does and accounts memory.
# On a DGX-2 topology (HWLOC_XMLFILE: 16 GPUs, 8 per package and NUMA node)
# with 4 ranks, four 3-GPU tasks claimed at once each get 3 GPUs of one
# package (the lowest free GPUs would have given one of them 6,7,8, across
# the two). Two tasks that each ask for 2/3 of the node's memory never run at
# the same time, although cores would let them.
source "$(dirname "$0")/lib.sh"
TOPO="$WFMPI_TEST_DATA/topo"
export HWLOC_XMLFILE="$TOPO/nvidiaDGX2.xml"
cd "$TMP"
"$WFMPI" serve --add-user alice --tokens tokens >alice.tok 2>/dev/null
C="--insecure-http"
gl_serve $C --tokens tokens --state-dir state --lease 10
"$MPIEXEC" -n 4 --oversubscribe "$WFMPI" topo --json >topo.json
pilot() { # pilot DIR: one pilot on 4 ranks until idle
  mkdir -p "$1"
  timeout 100 "$MPIEXEC" -n 4 --oversubscribe "$WFMPI" glidein --server "$GL_URL" \
    --token-file alice.tok $C --work-dir "$1" --max-claim 16 --idle-timeout 2 >"$1.out" 2>"$1.err" ||
    { cat "$1.err" >&2; fail "pilot $1 exit $?"; }
}

python3 "$TOPO/gen_gpu_wf.py" g.yml "$TOPO/gputask.sh" g3c1:3:1:4
ID=$("$WFMPI" submit g.yml --server "$GL_URL" --token-file alice.tok $C)
pilot g
gl_status alice.tok "$ID" $C | grep -q '"state":"finished"' || fail "GPU workflow: $(gl_status alice.tok "$ID" $C)"
python3 - g topo.json <<'EOF' || fail "GPU placement"
import glob, json, sys
gpus = json.load(open(sys.argv[2]))["nodes"][0]["gpus"]
package = {g["ordinal"]: g["package"] for g in gpus}
assert len(set(package.values())) == 2, package
envs = {}
for f in glob.glob(sys.argv[1] + "/env.*"):
    envs[f] = dict(l.rstrip("\n").split("=", 1) for l in open(f) if "=" in l)
assert len(envs) == 4, envs.keys()
used = []
for f, e in envs.items():
    ords = [int(x) for x in e["CUDA_VISIBLE_DEVICES"].split(",")]
    assert len(ords) == 3, (f, ords)
    assert len({package[o] for o in ords}) == 1, f"{f}: GPUs {ords} span packages"
    used += ords
assert len(set(used)) == 12, f"a GPU was given twice: {sorted(used)}"
# They ran at the same time: the check above is about one placement round.
starts = [float(e["START"]) for e in envs.values()]
ends = [float(e["END"]) for e in envs.values()]
assert max(starts) < min(ends), "the four tasks did not overlap"
EOF
pass "four 3-GPU tasks at once on a DGX-2: each within one package, no GPU twice"

# Memory: 1,000,000 MB each of the node's ~1,510,000.
python3 - m.yml "$TOPO/gputask.sh" <<'EOF'
import sys
out, exe = sys.argv[1], sys.argv[2]
lines = ["pegasus: '5.0'", "name: mem", "transformationCatalog:", "  transformations:",
         "  - name: t", f"    sites: [{{name: local, pfn: {exe}, type: installed}}]", "jobs:"]
for i in range(2):
    lines += [f"  - id: m{i}", "    name: t", "    arguments: ['0.5']", "    uses: []",
              "    profiles: {pegasus: {cores: 1, memory: 1000000}}"]
open(out, "w").write("\n".join(lines) + "\n")
EOF
ID2=$("$WFMPI" submit m.yml --server "$GL_URL" --token-file alice.tok $C)
pilot m
gl_status alice.tok "$ID2" $C | grep -q '"state":"finished"' || fail "memory workflow"
python3 - m <<'EOF' || fail "memory accounting"
import glob, sys
t = sorted(tuple(float(dict(l.strip().split("=", 1) for l in open(f) if "=" in l)[k])
                 for k in ("START", "END")) for f in glob.glob(sys.argv[1] + "/env.*"))
assert len(t) == 2, t
assert t[1][0] >= t[0][1], f"the two 1 TB tasks overlapped: {t}"
EOF
pass "two tasks of 2/3 of the node's memory ran one after the other"
gl_stop
