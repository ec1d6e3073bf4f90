#!/usr/bin/env python3
"""`make bench`: how fast the function starts, how fast it fails over, how much memory and disk it
takes, and whether that grows with the size of the account. It reports; it never fails on a slow
machine. Every figure is the median of --runs runs, with the spread (min..max).

What runs, all on loopback:
  - a Lambda Runtime API emulator (below): it records when a freshly spawned process first asks
    for an event, hands it one, and records when the result comes back;
  - moto, the local EC2 API, behind scripts/ec2_proxy.py, which adds a fixed latency to every EC2
    request (as if AWS were --latency-ms away) and logs each request's action and timing;
  - the release binaries: the function (target/release/bootstrap) and two floors built the same
    way (bench/floors: an echo function, and one that also builds the AWS SDK client at init).

Figures:
  cold start    spawn -> first GET .../invocation/next, for each binary
  failover      one invocation that handles a failure (event handed over -> result received),
                EC2 requests by action, and sequential round trips on the critical path: the
                longest chain of requests in which each starts after the previous one ended
  memory        the function's peak RSS (VmHWM) across the failover; stripped binary size
  scale         the same failover with --scale unrelated instances and Elastic IPs in the account
  endpoints    a dead primary's failover with the Elastic IP only, with a route and a private IP as
                well, and with 100 route entries and no Elastic IP: the same sequential round trips
  service check a reconcile of a hot pair without the check, then with HEALTH_CHECK (HTTP, both
                services answering on loopback): the first reconcile probes and records the
                results, the next (within 50 s) probes only; the difference is the probe's cost
  fleets        MODE=fleet with EC2's throttling on at EC2's numbers (fleet.py): a zone's loss
                (--fleet-pairs pairs) by their state-change events delivered at once to one
                process, then by one reconcile; one reconcile of healthy fleets of --fleet-sizes

The Runtime API emulator and the spawned function are runtime.py's; the local AWS, the scenarios and
their runs scenarios.py's (the scenes themselves: scripts/localaws/scenes.py).

Usage: bench.py --venv .venv [--runs 7] [--latency-ms 50] [--scale 1000] [--out target/bench/results.json]
                [--fleet-runs 3] [--fleet-pairs 100] [--fleet-sizes 10,100,1000] [--fleet-batched 1000]
                [--only-fleet]
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from fleet import FleetEc2, fleet_rows, print_rows
from runtime import RuntimeApi, spawn, stop
from scenarios import (DEAD, ENDPOINT_SCENARIOS, ENDPOINT_STEPS, GROUP_SCENARIOS, SCENARIOS, SERVICE_SCENARIOS,
                       LocalEc2, Services, endpoint_run, failover_run, group_run, service_run)

from localaws.events import EVENT_PRIMARY, EVENT_STANDBY  # scripts/, on the path since scenarios

ROOT = Path(__file__).resolve().parent.parent


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def collect_steps(scenario, runs, steps=None):
    """{row name: figures} for a scenario's runs, one row per invocation."""
    steps = steps if steps is not None else SCENARIOS[scenario][2]
    if len(steps) == 1:
        return {scenario: collect([r[0] for r in runs])}
    return {f"{scenario}, {i + 1}: {file.removesuffix('.json')}": collect([r[i] for r in runs])
            for i, (file, _) in enumerate(steps)}


def collect(runs):
    return {
        "ok": all(r["ok"] for r in runs),
        "errors": [r["error"] for r in runs if r["error"]],
        "duration_ms": summary([r["seconds"] * 1000 for r in runs]),
        # What the invocation spent outside EC2's answers: parsing, deciding, signing, the
        # connections, and the proxy's own overhead (a fraction of a millisecond per request).
        "outside_ec2_ms": summary([(r["seconds"] - r["in_ec2"]) * 1000 for r in runs]),
        "peak_rss_mib": summary([r["rss_kib"] / 1024 for r in runs if r["rss_kib"]]),
        "requests": summary([r["requests"] for r in runs]),
        "round_trips": summary([r["round_trips"] for r in runs]),
        "by_action": runs[-1]["by_action"] if runs else {},
    }


def fmt(s, unit="", digits=1):
    if s["median"] is None:
        return "n/a"
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


def main():
    parser = argparse.ArgumentParser(description="ec2-failover benchmark")
    parser.add_argument("--venv", default=str(ROOT / ".venv"))
    parser.add_argument("--target", default=str(ROOT / "target" / "release"))
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold-runs", type=int, default=31, help="cold starts are cheap and noisy: more runs")
    parser.add_argument("--extra", action="append", default=[], metavar="NAME=PATH",
                        help="another bootstrap to time the cold start of, e.g. a build before a change")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "target" / "bench" / "results.json"))
    parser.add_argument("--fleet-runs", type=int, default=3, help="runs of each fleet row (each builds its fleet)")
    parser.add_argument("--fleet-pairs", type=int, default=100, help="pairs that lose their zone; 0: no zone loss")
    parser.add_argument("--fleet-sizes", default="10,100,1000", help="healthy fleets to reconcile, each instance "
                        "launched on its own (moto: about a minute for 1,000 pairs)")
    parser.add_argument("--fleet-batched", default="1000", help="the same, launched 250 instances at a time")
    parser.add_argument("--only-fleet", action="store_true", help="the fleet rows only")
    args = parser.parse_args()
    sizes = lambda text: [int(n) for n in text.split(",") if n.strip()]
    venv, target = Path(args.venv), Path(args.target)
    binaries = {"floor: echo": target / "floor-echo", "floor: SDK client": target / "floor-sdk",
                "ec2-failover": target / "bootstrap"}
    for extra in args.extra:
        name, _, path = extra.partition("=")
        binaries[name] = Path(path)
    for path in binaries.values():
        if not path.exists():
            sys.exit(f"{path} is missing: run `make bench`, which builds it")

    results = {"machine": {"cpus": os.cpu_count(), "uname": " ".join(os.uname())},
               "settings": {"runs": args.runs, "cold_runs": args.cold_runs, "latency_ms": args.latency_ms, "scale": args.scale,
                            "fleet_runs": args.fleet_runs}}
    if args.only_fleet:
        results["fleet"] = run_fleet(args, binaries["ec2-failover"], venv, sizes)
        write(results, args.out)
        print_rows(results["fleet"], args.fleet_runs)
        print(f"\nwrote {args.out}")
        return

    # Cold start, interleaved so that drift in the machine hits every binary alike.
    config = {"PRIMARY_INSTANCE_ID": EVENT_PRIMARY, "STANDBY_INSTANCE_ID": EVENT_STANDBY,
              "EIP_ALLOCATION_ID": "eipalloc-0123456789abcdef0", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    cold = {name: [] for name in binaries}
    for _ in range(args.cold_runs + 1):
        for name, path in binaries.items():
            api = RuntimeApi()
            process, seconds = spawn(path, api, config)
            stop(process)
            api.close()
            cold[name].append(seconds * 1000)
    cold = {name: summary(values[1:]) for name, values in cold.items()}  # the first run warms the page cache
    results["cold_start_ms"] = cold
    results["binary_bytes"] = {name: path.stat().st_size for name, path in binaries.items()}

    local = LocalEc2(venv, args.latency_ms)
    try:
        results["failover"] = {}
        for scenario in SCENARIOS:
            runs = [failover_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs))
        for scenario, (_, steps) in GROUP_SCENARIOS.items():
            runs = [group_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs, steps))
        for scenario in ENDPOINT_SCENARIOS:
            runs = [endpoint_run(local, binaries["ec2-failover"], scenario) for _ in range(args.runs)]
            results["failover"].update(collect_steps(scenario, runs, ENDPOINT_STEPS))
        services = Services()
        try:
            for scenario, (_, steps) in SERVICE_SCENARIOS.items():
                runs = [service_run(local, binaries["ec2-failover"], services, scenario) for _ in range(args.runs)]
                results["failover"].update(collect_steps(scenario, runs, steps))
        finally:
            services.close()
        results["scale"] = {"unrelated_instances": args.scale, "unrelated_addresses": args.scale}
        if args.scale:
            local.reset()
            local.clutter(args.scale)
            runs = [failover_run(local, binaries["ec2-failover"], DEAD, fresh=False) for _ in range(args.runs)]
            results["scale"].update(collect_steps(DEAD, runs))
    finally:
        local.close()
    results["fleet"] = run_fleet(args, binaries["ec2-failover"], venv, sizes)
    write(results, args.out)

    floor = cold["floor: SDK client"]["median"]
    print(f"ec2-failover benchmark: medians (min..max); EC2 {args.latency_ms:.0f} ms away\n")
    print(f"cold start, {args.cold_runs} runs (spawn -> first request for an event)")
    for name, s in cold.items():
        ratio = f"  {s['median'] / floor:.2f}x the SDK floor" if floor else ""
        print(f"  {name:22} {fmt(s, ' ms', 2):28} {results['binary_bytes'][name] / 1e6:5.1f} MB{ratio}")
    rows = [(k, v) for k, v in results["failover"].items()] + [
        (f"{k}, +{args.scale} unrelated", v) for k, v in results["scale"].items() if isinstance(v, dict)]
    print(f"\nfailover invocation, {args.runs} runs (event handed over -> result)")
    for name, f in rows:
        status = "" if f["ok"] else "  FAILED: " + "; ".join(f["errors"][:1])
        print(f"  {name}{status}")
        print(f"    duration {fmt(f['duration_ms'], ' ms')} of which outside EC2 {fmt(f['outside_ec2_ms'], ' ms')}; "
              f"sequential round trips {fmt(f['round_trips'], '', 0)}")
        print(f"    EC2 requests {fmt(f['requests'], '', 0)} {f['by_action']}; peak RSS {fmt(f['peak_rss_mib'], ' MiB')}")
    print_rows(results["fleet"], args.fleet_runs)
    print(f"\nwrote {args.out}")


def run_fleet(args, bootstrap, venv, sizes):
    """The fleet rows, against a local AWS of their own (fleet.py)."""
    local = FleetEc2(venv, args.latency_ms)
    try:
        return fleet_rows(local, bootstrap, args.fleet_runs, args.fleet_pairs, sizes(args.fleet_sizes),
                          sizes(args.fleet_batched))
    finally:
        local.close()


def write(results, out):
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
