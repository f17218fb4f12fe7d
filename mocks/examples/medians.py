"""Medians per vendor and tool, and two ratios from the medians, of the runs compare-falconpy.sh
and compare-sdks.sh record (one JSON object per line: tool, vendor, run, alerts, wall_s, cpu_s,
peak_rss_mib, alerts_per_s). The ratios: the gateway's alerts/s over the other tool's, and the
other tool's CPU per alert over the gateway's.

    python3 medians.py results.ndjson
"""
import json
import statistics
import sys

GATEWAY = "seliq-gateway"


def main(path):
    rows = [json.loads(line) for line in open(path)]
    for vendor in dict.fromkeys(r["vendor"] for r in rows):
        med = {}
        for tool in dict.fromkeys(r["tool"] for r in rows if r["vendor"] == vendor):
            rs = [r for r in rows if r["vendor"] == vendor and r["tool"] == tool]
            m = {k: statistics.median(r[k] for r in rs)
                 for k in ("wall_s", "cpu_s", "peak_rss_mib", "alerts_per_s")}
            m["cpu_us_per_alert"] = m["cpu_s"] / rs[0]["alerts"] * 1e6
            med[tool] = m
            print(json.dumps({"median": tool, "vendor": vendor, "runs": len(rs),
                              "alerts": rs[0]["alerts"], "wall_s": round(m["wall_s"], 2),
                              "cpu_s": round(m["cpu_s"], 2),
                              "cpu_us_per_alert": round(m["cpu_us_per_alert"], 1),
                              "peak_rss_mib": round(m["peak_rss_mib"], 1),
                              "alerts_per_s": round(m["alerts_per_s"])}))
        gw = med.pop(GATEWAY)
        (other, py), = med.items()
        print(json.dumps({"ratio": vendor, "sdk": other,
                          "gateway_alerts_per_s_over_sdk": round(gw["alerts_per_s"] / py["alerts_per_s"], 2),
                          "sdk_cpu_per_alert_over_gateway": round(py["cpu_us_per_alert"] / gw["cpu_us_per_alert"], 2)}))


if __name__ == "__main__":
    main(sys.argv[1])
