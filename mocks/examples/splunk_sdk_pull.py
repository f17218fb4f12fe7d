"""Pull every event of every index (and every ES notable) from `seliq-mocks serve --vendor splunk` with splunk-sdk.

    seliq-mocks serve --vendor splunk --port 0 --alerts 500 > mock.json &
    python3 splunk_sdk_pull.py mock.json          # needs: pip install -r requirements.txt

The first line the mock prints names its URL, credentials and, per index, how many events it
holds. The script logs in with username and password (`auth/login`, XML), lets the SDK read
`server/info` (Atom XML) to choose the v2 search endpoints, runs one search job per index
(create: XML `<response><sid>`; status: Atom `<entry>`), pages through its results as JSON
(`output_mode=json`, `JSONResultsReader`) and once more as Splunk's default XML `<results>`,
and exits non-zero unless both counts equal what the mock says it holds.
"""
import json
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import splunklib.client as client
import splunklib.results as results

PAGE = 1000

info = json.loads(open(sys.argv[1]).readline())
url = urlparse(info["url"])
service = client.connect(host=url.hostname, port=url.port, scheme=url.scheme,
                         username=info["username"], password=info["password"], autologin=True)
version = service.info["version"]
assert version == info["version"], (version, info["version"])
assert not service.disable_v2_api, "the mock's version should select the v2 search endpoints"

wall = time.perf_counter()
# Raw events per index, and the ES notables, all in the shared `notable` index.
sources = [(i["index"], i["events"]) for i in info["indexes"]]
notables = sum(n["events"] for n in info.get("notables", []))
if notables:
    sources.append(("notable", notables))
per_index = {}
for name, expected in sources:
    job = service.jobs.create(f"search index={name}", exec_mode="normal",
                              earliest_time="0", max_count=expected + 10)
    while not job.is_done():
        time.sleep(0.05)
    result_count = int(job["resultCount"])

    as_json = 0
    offset = 0
    while True:
        page = [r for r in results.JSONResultsReader(
            job.results(output_mode="json", count=PAGE, offset=offset)) if isinstance(r, dict)]
        as_json += len(page)
        offset += len(page)
        if len(page) < PAGE:
            break

    as_xml = 0
    offset = 0
    while True:
        doc = ET.fromstring(job.results(count=PAGE, offset=offset).read())
        rows = doc.findall("result")
        assert all(r.find("field[@k='_raw']/v") is not None for r in rows)
        as_xml += len(rows)
        offset += len(rows)
        if len(rows) < PAGE:
            break
    job.cancel()

    per_index[name] = {"expected": expected, "resultCount": result_count,
                       "json": as_json, "xml": as_xml}
    if not (expected == result_count == as_json == as_xml):
        sys.exit(f"index {name}: the mock holds {expected}, read {per_index[name]}")

total = sum(v["json"] for v in per_index.values())
print(json.dumps({"vendor": "splunk", "sdk": "splunk-sdk", "splunk_version": version,
                  "events": total, "expected": sum(n for _, n in sources),
                  "indexes": per_index, "wall_s": round(time.perf_counter() - wall, 2)}))
