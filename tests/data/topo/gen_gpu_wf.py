#!/usr/bin/env python3
"""Write a workflow of independent GPU and CPU tasks for the placement test.
usage: gen_gpu_wf.py OUT.yml TASK_SCRIPT SPEC...   SPEC = name:gpus:cores:count"""
import sys

out, exe, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = ["pegasus: '5.0'", "name: gpuplace", "transformationCatalog:", "  transformations:",
         "  - name: gputask", f"    sites: [{{name: local, pfn: {exe}, type: installed}}]",
         "jobs:"]
for spec in specs:
    name, gpus, cores, count = spec.split(":")
    for i in range(int(count)):
        prof = f"cores: {cores}" + (f", gpus: {gpus}" if int(gpus) else "")
        lines += [f"  - id: {name}_{i}", "    name: gputask", "    arguments: ['0.3']",
                  "    uses: []", f"    profiles: {{pegasus: {{{prof}}}}}"]
open(out, "w").write("\n".join(lines) + "\n")
