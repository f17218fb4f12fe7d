"""Pull every alert of every CID from `seliq-mocks serve --vendor crowdstrike` with FalconPy.

    seliq-mocks serve --vendor crowdstrike --alerts 200000 --cid-count 1 > mock.json &
    python3 falconpy_pull.py mock.json        # needs: pip install -r requirements.txt

The first line the mock prints names its URL, the MSSP parent API client and the CIDs, each
holding `alerts_per_cid` alerts. For each CID the script mints a `member_cid` token and walks
`POST /alerts/combined/alerts/v1` with `after` (the `Alerts` service class); for CIDs small
enough for offset paging (offset + limit must stay within 10,000) it also walks
`GET /alerts/queries/alerts/v2` with `offset` and fetches the documents through
`POST /alerts/entities/alerts/v2` in batches of 1,000, once with `Alerts` and once with the Uber
class (`APIHarnessV2.command`). It exits non-zero unless every walk returns exactly the alerts
the mock holds, and prints the combined walk's throughput.
"""
import json
import sys
import time

from falconpy import Alerts, APIHarnessV2

OFFSET_WALL = 10_000

info = json.loads(open(sys.argv[1]).readline())
expected = info["alerts_per_cid"]


def check(ok, what):
    if not ok:
        sys.exit(what)


def body_of(page, what):
    check(page["status_code"] == 200,
          f"{what}: HTTP {page['status_code']}: {page['body'].get('errors')}")
    return page["body"]


def combined_walk(falcon):
    """`after` paging on the combined endpoint: full documents, 1,000 a page."""
    ids, after = [], None
    while True:
        body = {"limit": 1000, "sort": "updated_timestamp|asc", **({"after": after} if after else {})}
        page = body_of(falcon.get_alerts_combined(body=body), "combined")
        ids += [a["composite_id"] for a in page["resources"]]
        after = page["meta"]["pagination"].get("after")
        if not after:
            return ids


def offset_walk(query, entities):
    """`offset` paging on queries v2 for ids, then entities v2 for the documents."""
    ids, offset, limit = [], 0, 500
    while True:
        page = body_of(query(offset, limit), "queries v2")
        ids += page["resources"]
        total = page["meta"]["pagination"]["total"]
        offset += len(page["resources"])
        if not page["resources"] or offset >= total:
            break
    docs = []
    for i in range(0, len(ids), 1000):
        docs += body_of(entities(ids[i:i + 1000]), "entities v2")["resources"]
    check(sorted(d["composite_id"] for d in docs) == sorted(ids), "entities differ from the ids")
    return ids


report = {"vendor": "crowdstrike", "sdk": "crowdstrike-falconpy", "expected_per_cid": expected,
          "cids": {}}
wall, cpu, combined_total = time.perf_counter(), time.process_time(), 0
for cid in info["cids"]:
    auth = {"client_id": info["client_id"], "client_secret": info["client_secret"],
            "member_cid": cid, "base_url": info["url"]}
    falcon = Alerts(**auth)
    ids = combined_walk(falcon)
    check(len(ids) == len(set(ids)) == expected,
          f"CID {cid}: combined walk read {len(ids)} ({len(set(ids))} distinct), mock holds {expected}")
    combined_total += len(ids)
    row = {"combined_after": len(ids)}
    if expected + 500 <= OFFSET_WALL:
        off = offset_walk(
            lambda o, n: falcon.query_alerts_v2(limit=n, offset=o, sort="created_timestamp|asc"),
            lambda chunk: falcon.get_alerts_v2(composite_ids=chunk))
        check(sorted(off) == sorted(ids), f"CID {cid}: the offset walk differs from the combined one")
        row["queries_offset"] = len(off)
        uber = APIHarnessV2(**auth)
        uber_ids = offset_walk(
            lambda o, n: uber.command("GetQueriesAlertsV2", limit=n, offset=o,
                                      sort="created_timestamp|asc"),
            lambda chunk: uber.command("PostEntitiesAlertsV2", body={"composite_ids": chunk}))
        check(sorted(uber_ids) == sorted(ids), f"CID {cid}: the Uber class walk differs")
        uber_combined = body_of(uber.command("PostCombinedAlertsV1", body={"limit": 1000}),
                                "Uber combined")
        check(uber_combined["meta"]["pagination"]["total"] == expected, "Uber combined total")
        row["uber_offset"] = len(uber_ids)
        row["uber_combined_total"] = uber_combined["meta"]["pagination"]["total"]
    report["cids"][cid] = row

wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
report.update({"alerts": combined_total, "expected": expected * len(info["cids"]),
               "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "alerts_per_s": round(combined_total / wall)})
print(json.dumps(report))
