"""splunk-sdk writing every event of `seliq-mocks serve --vendor splunk` to a file, one JSON line
per event: what a team would run instead of the gateway, for `compare-sdks.sh`.

    python3 splunk_sdk_to_file.py mock.json events.ndjson

Logs in with username and password (`client.connect`, which also reads `server/info` to pick the
v2 search endpoints). For each index the mock names (and the ES `notable` index when it holds
notables): one search job `search index=<name>` over the last 2 days (`earliest_time=-2d`, the
window of the gateway's `pull --since 2d`), `exec_mode=blocking` (the create returns when the
job is done, so no status-poll sleeps count against the SDK), and `max_count=1000000`, as the
gateway asks (Splunk keeps only 10,000 events of a job unless told otherwise). Its results are
read as JSON pages (`output_mode=json`, `JSONResultsReader`) of 50,000 rows, Splunk's
`maxresultrows` and the gateway's page size, by `offset` until `resultCount` rows are read; then
the job is cancelled. Each row is written as `json.dumps(row)` and a newline, and the file is
fsynced at the end. Prints one JSON line: events, wall and CPU seconds (user + system, this
process), peak RSS. Exits non-zero unless it wrote exactly what the mock holds.
"""
import json
import os
import resource
import sys
import time
from urllib.parse import urlparse

import splunklib.client as client
import splunklib.results as results

PAGE = 50_000

info = json.loads(open(sys.argv[1]).readline())
sources = [i["index"] for i in info["indexes"]]
if info.get("notables"):
    sources.append("notable")
expected = (sum(i["events"] for i in info["indexes"])
            + sum(n["events"] for n in info.get("notables", [])))
url = urlparse(info["url"])

wall = time.perf_counter()
service = client.connect(host=url.hostname, port=url.port, scheme=url.scheme,
                         username=info["username"], password=info["password"], autologin=True)
written = 0
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for index in sources:
        job = service.jobs.create(f"search index={index}", exec_mode="blocking",
                                  earliest_time="-2d", max_count=1_000_000)
        total = int(job["resultCount"])
        offset = 0
        while offset < total:
            rows = 0
            for row in results.JSONResultsReader(
                    job.results(output_mode="json", count=PAGE, offset=offset)):
                if isinstance(row, dict):
                    out.write(json.dumps(row))
                    out.write("\n")
                    rows += 1
            if rows == 0:
                sys.exit(f"index {index}: an empty page at offset {offset} of {total}")
            offset += rows
        written += offset
        job.cancel()
    out.flush()
    os.fsync(out.fileno())
wall = time.perf_counter() - wall
usage = resource.getrusage(resource.RUSAGE_SELF)
if written != expected:
    sys.exit(f"wrote {written} events, the mock holds {expected}")
print(json.dumps({"tool": "splunk-sdk", "alerts": written, "wall_s": round(wall, 3),
                  "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                  "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}))
