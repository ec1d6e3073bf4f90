#!/usr/bin/env python3
"""Checks the decision lines a real bootstrap wrote (its stdout, as in .local/function.log): each is
one JSON object whose `_aws` member follows CloudWatch's Embedded Metric Format specification
(CloudWatch User Guide, "Specification: Embedded metric format"), the rules CloudWatch Logs applies
before it extracts any metric from a log event. Prints one row per decision.

  decision_lines.py LOG [--expect VERDICT]...

Fails when a decision line breaks a rule, when no decision line is found, or when an expected
verdict never appears. Other lines (the runtime's, tracing's) are left alone.
"""

import argparse
import json
import sys

UNITS = {"Count", "Milliseconds", "Seconds", "None"}


def problems(line):
    """What makes this decision line's metrics unreadable to CloudWatch Logs, if anything."""
    aws = line.get("_aws")
    if not isinstance(aws, dict):
        return ["no _aws member"]
    found = []
    if not isinstance(aws.get("Timestamp"), int) or aws["Timestamp"] < 1_600_000_000_000:
        found.append("_aws.Timestamp is not milliseconds since the epoch")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return found + ["_aws.CloudWatchMetrics is not a non-empty array"]
    for directive in directives:
        if not isinstance(directive.get("Namespace"), str) or not directive["Namespace"]:
            found.append("a directive without a Namespace")
        for dimensions in directive.get("Dimensions", []):
            if len(dimensions) > 30:
                found.append("more than 30 dimensions in a set")
            for key in dimensions:
                value = line.get(key)
                if not isinstance(value, str) or not value.strip() or not value.isascii():
                    found.append(f"dimension {key} is not a top-level ASCII string: {value!r}")
        metrics = directive.get("Metrics", [])
        if not 0 < len(metrics) <= 100:
            found.append("a directive with no metric, or more than 100")
        for metric in metrics:
            name = metric.get("Name")
            if metric.get("Unit", "None") not in UNITS:
                found.append(f"metric {name} has unit {metric.get('Unit')!r}")
            value = line.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                found.append(f"metric {name} is not a top-level number: {value!r}")
    # A decision that read the world made requests: a zero says the clients count nothing.
    if line.get("observed") is not None and line.get("AwsRequests") == 0:
        found.append("AwsRequests is 0 although the world was read")
    return found


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--expect", action="append", default=[], metavar="VERDICT")
    args = parser.parse_args(argv)
    decisions, failed = [], False
    with open(args.log, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, 1):
            text = text.strip()
            if not text.startswith("{"):
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if line.get("message") not in ("decision", "decision failed"):
                continue
            decisions.append(line)
            metrics = {m["Name"]: line.get(m["Name"]) for d in line.get("_aws", {}).get("CloudWatchMetrics", [])
                       for m in d.get("Metrics", [])}
            shown = " ".join(f"{k}={v}" for k, v in metrics.items() if v)
            print(f"  {line.get('verdict', '?'):<15} active={line.get('active', '-'):<20} "
                  f"target={line.get('target', '-'):<20} {shown}")
            for problem in problems(line):
                print(f"{args.log}:{number}: {problem}", file=sys.stderr)
                failed = True
    if not decisions:
        print(f"{args.log}: no decision line", file=sys.stderr)
        return 1
    seen = {line.get("verdict") for line in decisions}
    for verdict in args.expect:
        if verdict not in seen:
            print(f"{args.log}: no {verdict} decision (saw {sorted(v for v in seen if v)})", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
