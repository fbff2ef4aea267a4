"""The fault suite's closing counts as one Markdown table.

Reads the GoogleTest XML of mq-fault-tests and mq-outage-tests (written by
`scripts/dev fault-report`) and prints, per test: jobs accepted, results stored,
duplicates, dead letters, recovery time and the outcome.
"""

import sys
import xml.etree.ElementTree as ET

RECOVERY_KEYS = ("recovery_ms", "finished_without_redis_ms", "restart_broker_down_ms", "kill_broker_down_ms")


def rows(path):
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        props.update({k: v for k, v in case.attrib.items() if k not in ("name", "classname")})
        failed = case.find("failure") is not None
        recovery = [f"{k.replace('_ms', '')} {int(props[k]) / 1000:.1f} s" for k in RECOVERY_KEYS if k in props]
        yield (
            f"{case.get('classname')}.{case.get('name')}",
            props.get("accepted", "—"),
            props.get("results", "—"),
            props.get("failed", "—"),
            props.get("duplicates", "—"),
            props.get("dead_letters", "—"),
            "; ".join(recovery) or "—",
            f"{float(case.get('time', 0)):.1f} s",
            "FAILED" if failed else "ok",
        )


def main(paths):
    print("| fault | accepted | results | failed (final) | duplicates | dead letters | recovery | test time | outcome |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        for row in rows(path):
            print("| " + " | ".join(str(c) for c in row) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
