"""Pull every incident of every workspace from `seliq-mocks serve --vendor sentinel` with
azure-mgmt-securityinsight (its default api-version, 2021-10-01 in 1.0.0).

    seliq-mocks serve --vendor sentinel --port 0 --alerts 2500 --workspaces 2 > mock.json &
    python3 sentinel_sdk_pull.py mock.json        # needs: pip install -r requirements.txt

The first line the mock prints names its URL (token endpoint and ARM in one), the app
registration and how many incidents each workspace holds. Tokens come from the mock's Entra ID
v2 endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials) through the small
`MockAuthorityCredential` below: azure-identity's ClientSecretCredential (MSAL) accepts only an
https authority with OpenID discovery, which a plain-http loopback mock is not. The mock speaks
http, so each call passes `enforce_https=False` (azure-core refuses bearer tokens over http
otherwise). The script pages through `Incidents_List` with `$top=1000` (following `nextLink`),
checks one incident's alerts, checks that an unknown api-version is refused as ARM refuses it, and
exits non-zero unless the count per workspace equals what the mock says it holds.
"""
import json
import sys
import time

from azure.core.exceptions import HttpResponseError
from azure.mgmt.securityinsight import SecurityInsights

from mock_authority import MockAuthorityCredential


info = json.loads(open(sys.argv[1]).readline())
credential = MockAuthorityCredential(info["url"], info["tenant_id"], info["client_id"],
                                     info["client_secret"])
expected = info["incidents_per_workspace"]

wall = time.perf_counter()
per_workspace = {}
api_version = None
for ws in info["workspaces"]:
    client = SecurityInsights(credential, ws["subscription_id"], base_url=info["url"])
    api_version = client._config.api_version
    names = set()
    pages = client.incidents.list(
        ws["resource_group"], ws["workspace_name"], top=1000,
        filter="properties/lastModifiedTimeUtc ge 2000-01-01T00:00:00Z",
        orderby="properties/lastModifiedTimeUtc asc", enforce_https=False)
    read = 0
    first = None
    for incident in pages:
        read += 1
        names.add(incident.name)
        first = first or incident
        assert incident.title and incident.severity and incident.last_modified_time_utc
    alerts = client.incidents.list_alerts(ws["resource_group"], ws["workspace_name"], first.name,
                                          enforce_https=False)
    per_workspace[ws["workspace_name"]] = {"expected": expected, "read": read,
                                           "distinct": len(names),
                                           "first_incident_alerts": len(alerts.value)}
    if not (read == len(names) == expected):
        sys.exit(f"workspace {ws['workspace_name']}: the mock holds {expected}, "
                 f"read {per_workspace[ws['workspace_name']]}")

# An api-version ARM does not know is refused with 400 NoRegisteredProviderFound.
ws = info["workspaces"][0]
client = SecurityInsights(credential, ws["subscription_id"], base_url=info["url"])
try:
    next(iter(client.incidents.list(ws["resource_group"], ws["workspace_name"],
                                    api_version="2021-10-02", enforce_https=False)))
    sys.exit("api-version 2021-10-02 was accepted")
except HttpResponseError as e:
    assert e.status_code == 400 and e.error.code == "NoRegisteredProviderFound", e

total = sum(w["read"] for w in per_workspace.values())
print(json.dumps({"vendor": "sentinel", "sdk": "azure-mgmt-securityinsight",
                  "api_version": api_version, "incidents": total,
                  "expected": expected * len(info["workspaces"]),
                  "workspaces": per_workspace, "token_requests": credential.requests,
                  "unknown_api_version": "400 NoRegisteredProviderFound",
                  "wall_s": round(time.perf_counter() - wall, 2)}))
