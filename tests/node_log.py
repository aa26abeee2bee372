"""Log a Ray cluster's alive worker nodes (those without ``caseray_driver``) as JSON lines, every half
second, until killed. A separate process, so the test that reads the log never joins the cluster
itself (a joined test process keeps Ray's auth settings for the rest of the session).

    python tests/node_log.py <address> <out.jsonl>
"""

import json
import sys
import time

import ray

ray.init(address=sys.argv[1], log_to_driver=False)
start = time.time()
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        workers = sorted(n["NodeID"] for n in nodes if not n["Resources"].get("caseray_driver"))
        heads = sorted(n["NodeID"] for n in nodes if n["Resources"].get("caseray_driver"))
        out.write(json.dumps({"t": round(time.time() - start, 1), "workers": workers, "heads": heads}) + "\n")
        time.sleep(0.5)
