"""azure-mgmt-securityinsight writing every incident of `seliq-mocks serve --vendor sentinel` to a
file, one JSON line per incident: what a team would run instead of the gateway, for
`compare-sdks.sh`.

    python3 sentinel_sdk_to_file.py mock.json incidents.ndjson

For each workspace: `incidents.list` (the SDK's default api-version, 2021-10-01 in 1.0.0) with
`$filter=properties/lastModifiedTimeUtc ge <now - 2 days>` (the window of the gateway's
`pull --since 2d`), `$orderby=properties/lastModifiedTimeUtc asc` and `$top=1000`, the SDK's
pager following `nextLink`. Each incident is written as
`json.dumps(incident.serialize(keep_readonly=True))` and a newline (the SDK hands out models, not
dicts; `serialize` gives back the REST shape, `keep_readonly` keeps `id`, `name`, `etag` and the
read-only properties such as `incidentNumber` and the timestamps), and the file is fsynced at the
end. Tokens come from the mock's Entra ID v2 endpoint through the same small credential as
`sentinel_sdk_pull.py` (`mock_authority.py`); `enforce_https=False`
because the mock speaks plain http. Prints one JSON line: incidents, wall and CPU seconds (user +
system, this process), peak RSS. Exits non-zero unless it wrote exactly what the mock holds.
"""
import datetime
import json
import os
import resource
import sys
import time

from azure.mgmt.securityinsight import SecurityInsights

from mock_authority import MockAuthorityCredential


info = json.loads(open(sys.argv[1]).readline())
expected = info["incidents_per_workspace"] * len(info["workspaces"])
credential = MockAuthorityCredential(info["url"], info["tenant_id"], info["client_id"],
                                     info["client_secret"])
since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2))
since = since.strftime("%Y-%m-%dT%H:%M:%SZ")

wall = time.perf_counter()
written = 0
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for ws in info["workspaces"]:
        client = SecurityInsights(credential, ws["subscription_id"], base_url=info["url"])
        for incident in client.incidents.list(
                ws["resource_group"], ws["workspace_name"], top=1000,
                filter=f"properties/lastModifiedTimeUtc ge {since}",
                orderby="properties/lastModifiedTimeUtc asc", enforce_https=False):
            out.write(json.dumps(incident.serialize(keep_readonly=True)))
            out.write("\n")
            written += 1
    out.flush()
    os.fsync(out.fileno())
wall = time.perf_counter() - wall
usage = resource.getrusage(resource.RUSAGE_SELF)
if written != expected:
    sys.exit(f"wrote {written} incidents, the mock holds {expected}")
print(json.dumps({"tool": "azure-mgmt-securityinsight", "alerts": written,
                  "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                  "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}))
