"""FalconPy writing every alert of `seliq-mocks serve --vendor crowdstrike` to a file, one JSON line
per alert: what a team would run instead of the gateway, for `compare-falconpy.sh`.

    python3 falconpy_to_file.py mock.json alerts.ndjson

For each CID: a `member_cid` token, then `get_alerts_combined` sorted `updated_timestamp|asc`,
1,000 a page, with `after` paging; each alert is written as `json.dumps(alert)` and a newline,
and the file is fsynced at the end. Prints one JSON line: alerts, wall and CPU seconds (user +
system, this process), peak RSS. Exits non-zero unless it wrote exactly the alerts the mock holds.
"""
import json
import os
import resource
import sys
import time

from falconpy import Alerts

info = json.loads(open(sys.argv[1]).readline())
expected = info["alerts_per_cid"] * len(info["cids"])

wall = time.perf_counter()
written = 0
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for cid in info["cids"]:
        falcon = Alerts(client_id=info["client_id"], client_secret=info["client_secret"],
                        member_cid=cid, base_url=info["url"])
        after = None
        while True:
            body = {"limit": 1000, "sort": "updated_timestamp|asc",
                    **({"after": after} if after else {})}
            page = falcon.get_alerts_combined(body=body)
            if page["status_code"] != 200:
                sys.exit(f"HTTP {page['status_code']}: {page['body'].get('errors')}")
            for alert in page["body"]["resources"]:
                out.write(json.dumps(alert))
                out.write("\n")
                written += 1
            after = page["body"]["meta"]["pagination"].get("after")
            if not after:
                break
    out.flush()
    os.fsync(out.fileno())
wall = time.perf_counter() - wall
usage = resource.getrusage(resource.RUSAGE_SELF)
if written != expected:
    sys.exit(f"wrote {written} alerts, the mock holds {expected}")
print(json.dumps({"tool": "falconpy", "alerts": written, "wall_s": round(wall, 3),
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                  "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}))
