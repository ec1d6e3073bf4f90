"""Fleets in the bench (MODE=fleet, template-fleet.yaml): pairs declared by tags, built in moto
around the function (scripts/localaws/scenes.py `fleet`, through moto's own endpoint: the set-up
takes no token of EC2's throttling), then the function through the proxy, EC2 --latency-ms away
and EC2's throttling on at EC2's numbers (scripts/localaws/throttle.py).

Rows:
  zone loss, events     every primary in us-east-1a stopped, their state-change events delivered
                        at once to one process (the template's reserved concurrency of 1: the
                        Lambda Runtime API hands them over one after another); from the first
                        event handed over to the last result, and to the last move as the proxy
                        logged it; the Elastic IPs read at the end (wrong holders)
  zone loss, reconcile  the same loss handled by one reconcile (MAX_PARALLEL_FAILOVERS pairs at a
                        time, within its 40 s budget)
  reconcile cost        one reconcile of a healthy fleet of each size, a fresh process each run:
                        requests by action and sequential round trips

Each row also gives the time an EC2 that answers every request in exactly --latency-ms would
take ("at the latency"): each invocation's sequential round trips times the latency, plus its time
outside EC2. Moto (Python) answers a read of thousands of tagged instances in seconds, which the
wall-clock figure includes and AWS would not add.
"""

import json
import statistics
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

from runtime import RuntimeApi, peak_rss_kib, spawn, stop
from scenarios import EVENTS, SAME_LATENCY, LocalEc2, critical_path

from localaws import events, processes, scenes

# The function's environment as template-fleet.yaml deploys it with its defaults (the endpoint as
# every bench run gets it): decisions published on the default bus (PutEvents, not EC2's).
FLEET_ENV = {"MODE": "fleet", "MAX_PARALLEL_FAILOVERS": "10", "FENCE_MODE": "stop", "COOLDOWN_SECONDS": "600",
             "STANDBY_READY": "checks", "SILENT_SECONDS": "60", "ZONAL_SHIFT": "avoid", "STANDBY_INSTANCE_TYPES": "",
             "DRY_RUN": "false", "EVENT_BUS": "default",
             # The groups (ServeGroups, its default): every reconcile sweeps them too.
             "SERVE_GROUPS": "true", "KEEP_DATA": "false", "KEEP_SNAPSHOTS": "3", "SNAPSHOT_EVERY_SECONDS": "3600",
             "DATA_WAIT_SECONDS": "300", "DATA_INIT_RATE_MIBPS": "0", "MAX_WAIT_SECONDS": "3600"}
STATE_CHANGE = "ec2-state-change-primary-stopped.json"
RECONCILE = "scheduled-reconcile.json"


class FleetEc2(LocalEc2):
    """The local AWS of the fleet rows: moto with its tags looked up by resource id
    (bench/moto_indexed.py: the same answers; moto's own lookup makes a read of a thousand pairs
    outlast the function's timeout), and the proxy in front of it."""

    def __init__(self, venv, latency_ms):
        port = processes.free_port()
        script = Path(__file__).resolve().parent / "moto_indexed.py"
        self.moto, self.moto_url = processes.start([sys.executable, str(script), "-H", "127.0.0.1", "-p", str(port)],
                                                   port, "bench/moto_indexed.py")
        self.proxy, self.proxy_url = processes.start_proxy(self.moto_url)
        self.latency_ms = latency_ms
        self._network = None
        self.ec2 = self.client("ec2")


def names(count):
    return [f"pair-{i:04d}" for i in range(count)]


def build(local, count, standby_running=True, batch=False):
    """A fresh account with `count` tagged pairs, every Elastic IP on its primary: (scene, seconds).
    Each instance launched on its own (a reservation each), or with `batch` 250 at a time."""
    local.reset()
    started = time.monotonic()
    scene = scenes.fleet(local.ec2, names(count), standby_running, batch=batch)
    return scene, time.monotonic() - started


def lose_zone(local, scene):
    """Every primary (all in us-east-1a) stops, as moto shows it at once."""
    primaries = [p["primary"] for p in scene.values()]
    for i in range(0, len(primaries), 250):
        local.ec2.stop_instances(InstanceIds=primaries[i:i + 250])


def measured_config(local):
    """The proxy for the measured part: the latency, no injected fault, EC2's throttling at EC2's
    numbers (every bucket full, as after a quiet while), a fresh log."""
    local.control("/_proxy/config", {"latency_ms": local.latency_ms, "fault_rate": 0, "faults": [], **SAME_LATENCY,
                                     "ec2_throttle": True, "ec2_throttle_scale": 1.0})


def proxy_log(local):
    """The proxy's log (a thousand pairs' reads make it long: more time than the control API's 10 s)."""
    with urllib.request.urlopen(local.proxy_url + "/_proxy/log", timeout=300) as r:
        return json.loads(r.read())


def requests_of(log, start=None, end=None):
    """The logged requests (the control API's are not logged; '?' is no action), within [start, end]."""
    return [r for r in log if r["action"] != "?" and (start is None or r["start"] >= start - 0.001)
            and (end is None or r["end"] <= end + 0.001)]


def invocation_figures(requests, seconds, latency):
    """One invocation's round trips, its time outside EC2, and its time at the latency."""
    round_trips, in_ec2 = critical_path(requests)
    outside = max(0.0, seconds - in_ec2)
    return round_trips, outside, round_trips * latency + outside


def wrong_holders(local, scene):
    """The pairs whose Elastic IP is not on their standby, each with where it is: "primary" (not
    moved), "none" or "elsewhere" (on an instance of no member: a wrong move)."""
    holders = scenes.fleet_holders(local.ec2, scene)
    where = lambda pair, holder: "primary" if holder == pair["primary"] else "none" if holder is None else "elsewhere"
    return {name: where(pair, holders.get(name)) for name, pair in sorted(scene.items())
            if holders.get(name) != pair["standby"]}


def throttles(requests):
    return dict(Counter(r.get("bucket", "?") for r in requests if r.get("throttled")))


def by_action(requests):
    return dict(sorted(Counter(r["action"] for r in requests).items()))


def zone_loss_events_run(local, bootstrap, count):
    """Every primary of a `count`-pair fleet stopped; its `count` state-change events at once."""
    scene, built = build(local, count)
    lose_zone(local, scene)
    measured_config(local)
    payloads = [json.loads(events.pair_event(EVENTS / STATE_CHANGE, {
        "PRIMARY_INSTANCE_ID": p["primary"], "STANDBY_INSTANCE_ID": p["standby"]})) for p in scene.values()]
    api = RuntimeApi()
    try:
        process, _ = spawn(bootstrap, api, {**FLEET_ENV, "AWS_ENDPOINT_URL": local.proxy_url})
        try:
            # perf_counter and the proxy's monotonic clock are both CLOCK_MONOTONIC on Linux.
            results = api.invoke_all(payloads)
            rss = peak_rss_kib(process.pid)
        finally:
            stop(process)
    finally:
        api.close()
    log = proxy_log(local)
    first, last = results[0][1], max(r[2] for r in results)
    verdicts = Counter(json.loads(body).get("verdict", kind) if kind == "response" else kind
                       for kind, _, _, body in results)
    moves = [r for r in log if r["action"] == "AssociateAddress" and r.get("status") == 200]
    at_latency, round_trips = 0.0, []
    for _, handed, at, _ in results:
        trips, _, modelled = invocation_figures(requests_of(log, handed, at), at - handed, local.latency_ms / 1000)
        at_latency += modelled
        round_trips.append(trips)
    wrong = wrong_holders(local, scene)
    requests = requests_of(log)
    return {"ok": not wrong and verdicts.get("fail_over", 0) == count, "pairs": count, "build_seconds": built,
            "not_moved": sum(1 for w in wrong.values() if w == "primary"),
            "seconds": last - first, "last_move_seconds": (max(r["end"] for r in moves) - first) if moves else None,
            "at_latency_seconds": at_latency, "per_event_round_trips": summary(round_trips),
            "per_event_ms": summary([(at - handed) * 1000 for _, handed, at, _ in results]),
            "verdicts": dict(verdicts), "wrong_holders": len(wrong) - sum(1 for w in wrong.values() if w == "primary"),
            "requests": len(requests),
            "by_action": by_action(requests), "throttled": throttles(requests), "rss_kib": rss,
            "error": None if not wrong else f"{len(wrong)} Elastic IPs not on their standby: {dict(list(wrong.items())[:5])}"}


def reconcile_run(local, bootstrap, scene, measured):
    """One reconcile of the scene in a fresh process; `measured` sets the proxy up just before."""
    measured()
    api = RuntimeApi()
    try:
        process, _ = spawn(bootstrap, api, {**FLEET_ENV, "AWS_ENDPOINT_URL": local.proxy_url})
        try:
            kind, seconds, body = api.invoke(json.loads((EVENTS / RECONCILE).read_text()), timeout=600)
            rss = peak_rss_kib(process.pid)
        finally:
            stop(process)
    finally:
        api.close()
    requests = requests_of(proxy_log(local))
    round_trips, outside, modelled = invocation_figures(requests, seconds, local.latency_ms / 1000)
    moves = [r["end"] for r in requests if r["action"] == "AssociateAddress" and r.get("status") == 200]
    answer = json.loads(body) if kind == "response" and body else {}
    return {"ok": kind == "response", "seconds": seconds, "outside_ec2_seconds": outside, "at_latency_seconds": modelled,
            "round_trips": round_trips, "requests": len(requests), "by_action": by_action(requests),
            "last_move_seconds": (max(moves) - api.handed_at) if moves else None,
            "throttled": throttles(requests), "rss_kib": rss, "verdict": answer.get("verdict", kind),
            "reason": (answer.get("reason") or (body or b"").decode(errors="replace"))[:300],
            "error": None if kind == "response" else (body or b"").decode(errors="replace")[:300]}


def zone_loss_reconcile_run(local, bootstrap, count):
    """Every primary of a `count`-pair fleet stopped; one reconcile, then passes until every address
    is on its standby (at most 5), as the schedule's next passes would."""
    scene, built = build(local, count)
    lose_zone(local, scene)
    first = reconcile_run(local, bootstrap, scene, lambda: measured_config(local))
    first.update(pairs=count, build_seconds=built)
    wrong = wrong_holders(local, scene)
    first["wrong_holders"] = sum(1 for w in wrong.values() if w != "primary")
    first["not_moved"] = len(wrong) - first["wrong_holders"]
    first["moved_first_pass"] = count - len(wrong)
    if first["error"]:
        first["error"] = f"the first pass answered an error: {first['error']}"
    passes = 1
    while wrong and passes < 5:
        # The schedule's next pass, a minute later: the buckets have refilled (the config does that).
        reconcile_run(local, bootstrap, scene, lambda: measured_config(local))
        passes += 1
        wrong = wrong_holders(local, scene)
    first["passes_to_converge"] = passes if not wrong else None
    first["ok"] = first["ok"] and not wrong
    if wrong:
        first["error"] = f"after {passes} passes {len(wrong)} Elastic IPs not on their standby: {wrong}"
    return first


def reconcile_cost_runs(local, bootstrap, count, runs, batch=False):
    """`runs` reconciles of one healthy `count`-pair fleet, a fresh process each."""
    scene, built = build(local, count, batch=batch)
    results = [reconcile_run(local, bootstrap, scene, lambda: measured_config(local)) for _ in range(runs)]
    for r in results:
        r.pop("last_move_seconds")
        r.update(pairs=count, build_seconds=built, ok=r["ok"] and r["verdict"] == "no_change")
        if r["verdict"] != "no_change":
            r["error"] = r["error"] or f"verdict {r['verdict']}: {r['reason']}"
    return results


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def collect(runs):
    """A row's figures over its runs (each run one fleet, one process)."""
    get = lambda key, scale=1: summary([r[key] * scale if r.get(key) is not None else None for r in runs])
    row = {"ok": all(r["ok"] for r in runs), "errors": [r["error"] for r in runs if r.get("error")],
           "pairs": runs[0]["pairs"], "build_seconds": get("build_seconds"), "duration_s": get("seconds"),
           "at_latency_s": get("at_latency_seconds"), "peak_rss_mib": get("rss_kib", 1 / 1024),
           "requests": get("requests"), "by_action": runs[-1]["by_action"], "throttled": runs[-1]["throttled"],
           "throttled_total": get_total(runs)}
    for key in ("last_move_seconds", "round_trips", "wrong_holders", "not_moved", "moved_first_pass",
                "passes_to_converge", "outside_ec2_seconds"):
        if any(key in r for r in runs):
            row[key] = get(key)
    for key in ("verdicts", "per_event_round_trips", "per_event_ms", "verdict", "reason"):
        if key in runs[-1]:
            row[key] = runs[-1][key]
    return row


def get_total(runs):
    return summary([sum(r["throttled"].values()) for r in runs])


def fleet_rows(local, bootstrap, runs, zone_pairs, sizes, batched=()):
    """{row name: figures} of every fleet row: the zone loss of `zone_pairs` pairs, the reconcile of
    each size in `sizes` (each instance its own reservation) and in `batched` (250 a reservation)."""
    rows = {}
    if zone_pairs:
        rows[f"fleet zone loss: {zone_pairs} pairs, {zone_pairs} state-change events at once"] = collect(
            [zone_loss_events_run(local, bootstrap, zone_pairs) for _ in range(runs)])
        rows[f"fleet zone loss: {zone_pairs} pairs, one reconcile"] = collect(
            [zone_loss_reconcile_run(local, bootstrap, zone_pairs) for _ in range(runs)])
    for count in sizes:
        rows[f"fleet reconcile cost: {count} healthy pairs"] = collect(reconcile_cost_runs(local, bootstrap, count, runs))
    for count in batched:
        rows[f"fleet reconcile cost: {count} healthy pairs, launched 250 at a time"] = collect(
            reconcile_cost_runs(local, bootstrap, count, runs, batch=True))
    return rows


def fmt(s, unit="", digits=1):
    if s is None or s["median"] is None:
        return "n/a"
    if s["min"] == s["max"]:
        return f"{s['median']:.{digits}f}{unit}"
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


def print_rows(rows, runs):
    print(f"\nfleets (MODE=fleet), {runs} runs, EC2's throttling on at EC2's numbers")
    for name, f in rows.items():
        status = "" if f["ok"] else "  FAILED: " + "; ".join(f["errors"][:1])
        print(f"  {name}{status}")
        timing = f"    duration {fmt(f['duration_s'], ' s', 2)}"
        if "last_move_seconds" in f:
            timing += f", last move {fmt(f['last_move_seconds'], ' s', 2)} after the first event handed over"
        timing += f"; at the latency {fmt(f['at_latency_s'], ' s', 2)}"
        if "round_trips" in f:
            timing += f"; sequential round trips {fmt(f['round_trips'], '', 0)}"
        if "per_event_round_trips" in f:
            timing += f"; per event {fmt(f['per_event_round_trips'], '', 0)} round trips, {fmt(f['per_event_ms'], ' ms', 0)}"
        print(timing)
        print(f"    requests {fmt(f['requests'], '', 0)} {f['by_action']}")
        extra = f"    throttled {fmt(f['throttled_total'], '', 0)} {f['throttled']}; peak RSS {fmt(f['peak_rss_mib'], ' MiB')}"
        if "wrong_holders" in f:
            extra += f"; wrong holders {fmt(f['wrong_holders'], '', 0)}, not moved {fmt(f['not_moved'], '', 0)}"
        if "moved_first_pass" in f:
            extra += f"; moved by the first pass {fmt(f['moved_first_pass'], '', 0)}"
        if "passes_to_converge" in f:
            extra += f"; passes to converge {fmt(f['passes_to_converge'], '', 0)}"
        extra += f"; fleet built in moto in {fmt(f['build_seconds'], ' s')}"
        print(extra)
        if "verdicts" in f:
            print(f"    verdicts {f['verdicts']}")
