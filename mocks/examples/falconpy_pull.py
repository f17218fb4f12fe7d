"""Pull every alert of one CID from `seliq-mocks serve --vendor crowdstrike` with FalconPy.

    seliq-mocks serve --vendor crowdstrike --alerts 200000 --cid-count 1 > mock.json &
    python3 falconpy_pull.py mock.json        # needs: pip install crowdstrike-falconpy
"""
import json
import sys
import time

from falconpy import Alerts

info = json.loads(open(sys.argv[1]).readline())
falcon = Alerts(client_id=info["client_id"], client_secret=info["client_secret"],
                member_cid=info["cids"][0], base_url=info["url"])
total, after = 0, None
wall, cpu = time.perf_counter(), time.process_time()
while True:
    body = {"limit": 1000, "sort": "updated_timestamp|asc", **({"after": after} if after else {})}
    page = falcon.get_alerts_combined(body=body)
    if page["status_code"] != 200:
        sys.exit(f"HTTP {page['status_code']}: {page['body'].get('errors')}")
    total += len(page["body"]["resources"])
    after = page["body"]["meta"]["pagination"].get("after")
    if not after:
        break
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"alerts": total, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                  "alerts_per_s": round(total / wall)}))
