#!/usr/bin/env python3
"""Write a synthetic Pegasus 5.0 workflow (YAML as the Pegasus Python API
writes it: 2-space block style, x-pegasus header, pegasus: 5.0.4, inline
transformation catalog with /bin/true pfns) for planner benchmarks.

Shapes (N = --jobs, deterministic, no randomness):
  independent  N jobs, no edges, each reads one shared input (like test 014).
  chain        N jobs, each depending on the previous (jobDependencies).
  fanout       repeated fan-out/fan-in layers: split -> W workers -> join,
               with W about sqrt(N).
  montage      Montage-like levels with file edges: mProject (one per raw
               image, inputs through the inline replica catalog), mDiffFit
               (neighbouring projections), one mConcatFit (all fits), one
               mBgModel, mBackground (one per projection), one mAdd (all).
               jobDependencies are written too, as the API infers them.

usage: gen_workflow.py --jobs N --shape SHAPE [-o FILE]
"""
import argparse
import sys

TRANSFORMATIONS = {
    "independent": ["work"],
    "chain": ["work"],
    "fanout": ["split", "work", "join"],
    "montage": ["mProject", "mDiffFit", "mConcatFit", "mBgModel", "mBackground", "mAdd"],
}


class Writer:
    def __init__(self, out):
        self.out = out
        self.buf = []

    def w(self, s):
        self.buf.append(s)
        if len(self.buf) >= 4096:
            self.flush()

    def flush(self):
        self.out.write("".join(self.buf))
        self.buf = []


def jid(i):
    return "ID%07d" % (i + 1)


def header(w, shape, n, replicas):
    w.w("x-pegasus:\n  apiLang: python\n  createdBy: bench\n  createdOn: 01-01-26T00:00:00Z\n")
    w.w("pegasus: 5.0.4\nname: bench-%s-%d\n" % (shape, n))
    if replicas:
        w.w("replicaCatalog:\n  replicas:\n")
        for lfn in replicas:
            w.w("  - lfn: %s\n    pfns:\n    - site: local\n      pfn: /data/%s\n" % (lfn, lfn))
    w.w("transformationCatalog:\n  transformations:\n")
    for t in TRANSFORMATIONS[shape]:
        w.w("  - name: %s\n    sites:\n    - name: local\n      pfn: /bin/true\n"
            "      type: installed\n" % t)
    w.w("jobs:\n")


def job(w, i, name, args, inputs=(), outputs=(), profiles=None):
    w.w("- type: job\n  name: %s\n  id: %s\n  arguments:\n" % (name, jid(i)))
    for a in args:
        w.w("  - %s\n" % a)
    if not inputs and not outputs:
        w.w("  uses: []\n")
    else:
        w.w("  uses:\n")
        for lfn in inputs:
            w.w("  - lfn: %s\n    type: input\n" % lfn)
        for lfn in outputs:
            w.w("  - lfn: %s\n    type: output\n    stageOut: false\n"
                "    registerReplica: false\n" % lfn)
    if profiles:
        w.w("  profiles:\n    pegasus:\n")
        for k, v in profiles:
            w.w("      %s: '%s'\n" % (k, v))


def deps(w, edges):
    """edges: iterable of (parent, [children]) in parent order."""
    first = True
    for p, children in edges:
        if first:
            w.w("jobDependencies:\n")
            first = False
        w.w("- id: %s\n  children:\n" % jid(p))
        for c in children:
            w.w("  - %s\n" % jid(c))


def independent(w, n):
    header(w, "independent", n, ["f.a"])
    for i in range(n):
        job(w, i, "work", ["-i", "f.a", "-n", str(i)], inputs=["f.a"],
            profiles=[("runtime", 10)])


def chain(w, n):
    header(w, "chain", n, [])
    for i in range(n):
        job(w, i, "work", ["-n", str(i)], profiles=[("runtime", 1)])
    deps(w, ((i, [i + 1]) for i in range(n - 1)))


def fanout(w, n):
    header(w, "fanout", n, [])
    width = max(1, int(n ** 0.5))
    layout = []  # (split, [workers], join)
    i = 0
    while i < n:
        rest = n - i
        if rest < 3:
            for _ in range(rest):
                job(w, i, "work", ["-n", str(i)])
                layout.append((i, [], None))
                i += 1
            break
        k = min(width, rest - 2)
        split, workers, join = i, list(range(i + 1, i + 1 + k)), i + 1 + k
        job(w, split, "split", ["-n", str(split)])
        for x in workers:
            job(w, x, "work", ["-n", str(x)], profiles=[("cores", 1), ("runtime", 60)])
        job(w, join, "join", ["-n", str(join)])
        layout.append((split, workers, join))
        i = join + 1

    def edges():
        prev_join = None
        for split, workers, join in layout:
            if prev_join is not None:
                yield prev_join, [split]
            if join is None:
                prev_join = None
                continue
            yield split, workers
            for x in workers:
                yield x, [join]
            prev_join = join
    deps(w, edges())


def montage(w, n):
    if n < 7:
        sys.exit("montage needs at least 7 jobs")
    p = (n - 3) // 3          # mProject and mBackground jobs
    d = n - 3 - 2 * p         # mDiffFit jobs (about p)
    raws = ["raw_%d.fits" % k for k in range(p)]
    header(w, "montage", n, raws)
    proj = lambda k: k                      # job indexes by level
    diff = lambda k: p + k
    concat, bgmodel = p + d, p + d + 1
    bg = lambda k: p + d + 2 + k
    add = p + d + 2 + p
    pairs = [(k % p, (k + 1) % p) for k in range(d)]
    for k in range(p):
        job(w, proj(k), "mProject", ["-X", raws[k], "p_%d.fits" % k], inputs=[raws[k]],
            outputs=["p_%d.fits" % k], profiles=[("runtime", 30)])
    for k, (a, b) in enumerate(pairs):
        job(w, diff(k), "mDiffFit", ["p_%d.fits" % a, "p_%d.fits" % b, "d_%d.fits" % k],
            inputs=["p_%d.fits" % a, "p_%d.fits" % b], outputs=["d_%d.fits" % k],
            profiles=[("runtime", 5)])
    job(w, concat, "mConcatFit", ["fits.tbl"], inputs=["d_%d.fits" % k for k in range(d)],
        outputs=["fits.tbl"], profiles=[("runtime", 60)])
    job(w, bgmodel, "mBgModel", ["fits.tbl", "corr.tbl"], inputs=["fits.tbl"],
        outputs=["corr.tbl"], profiles=[("runtime", 60), ("memory", 4096)])
    for k in range(p):
        job(w, bg(k), "mBackground", ["p_%d.fits" % k, "corr.tbl", "b_%d.fits" % k],
            inputs=["p_%d.fits" % k, "corr.tbl"], outputs=["b_%d.fits" % k],
            profiles=[("runtime", 10)])
    job(w, add, "mAdd", ["mosaic.fits"], inputs=["b_%d.fits" % k for k in range(p)],
        outputs=["mosaic.fits"], profiles=[("runtime", 300), ("cores", 4)])

    def edges():
        children = [[] for _ in range(p)]
        for k, (a, b) in enumerate(pairs):
            children[a].append(diff(k))
            if b != a:
                children[b].append(diff(k))
        for k in range(p):
            yield proj(k), sorted(children[k]) + [bg(k)]
        for k in range(d):
            yield diff(k), [concat]
        yield concat, [bgmodel]
        yield bgmodel, [bg(k) for k in range(p)]
        for k in range(p):
            yield bg(k), [add]
    deps(w, edges())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--shape", choices=sorted(TRANSFORMATIONS), required=True)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    out = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")
    w = Writer(out)
    globals()[a.shape](w, a.jobs)
    w.flush()
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    main()
