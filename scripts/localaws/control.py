"""The control API (JSON), never proxied: how tests, demos and the bench set the proxy up and read
what it saw. Each route is described with what it controls: config and log in server.py, outage,
capacity, scheduled-event and spot in faults.py, hold and lifecycle in autoscaling.py, snapshot in
ec2_rules.py, network, settle and instances in ec2_instances.py, deployment in recorder.py.

A bad request gets HTTP 400 with the reason as text/plain; an accepted one HTTP 200 and JSON ({}
unless the route answers something)."""

import ipaddress
import json
import time

from .autoscaling import WAIT_STATES
from .faults import SCHEDULED_CODES, START_FAILURES
from . import zonalshift
from .recorder import register_deployment

BAD = (ValueError, TypeError, KeyError, AttributeError)


def change(proxy, read, apply, errors=BAD):
    """A POST: read(the JSON body) gives what to change or raises (400, its words); apply(state, it)
    runs under the state's lock and gives the answer (None: {})."""
    try:
        given = read(json.loads(proxy.read_body() or b"{}"))
    except errors as e:
        return proxy.reply(400, str(e).encode(), "text/plain")
    with proxy.state.lock:
        answer = apply(proxy.state, given)
    return proxy.reply(200, json.dumps(answer if answer is not None else {}).encode(), "application/json")


def put(mapping, key, value):
    """Sets key to value, or forgets it when value is None."""
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value


def read_hold(hold):
    if hold.get("transition") not in WAIT_STATES or not all(hold.get(k) for k in ("group", "hook", "instance")):
        raise ValueError("a hold needs group, hook, instance and transition (launching | terminating)")
    return hold


def read_snapshot(change):
    snapshot, state = change["snapshot"], change.get("state")
    if not str(snapshot).startswith("snap-") or state not in (None, "pending", "completed", "error"):
        raise ValueError("a snapshot state needs snapshot (snap-...) and state (pending, completed, error or null)")
    return snapshot, state


def read_scheduled_event(event):
    instance, code = event["instance"], event.get("code")
    if not str(instance).startswith("i-") or code not in (None, *SCHEDULED_CODES):
        raise ValueError(f"a scheduled event needs instance (i-...) and code ({', '.join(SCHEDULED_CODES)} or null)")
    not_before = float(event.get("not_before", time.time()))
    return instance, code and {"code": code, "not_before": not_before, "description": event.get("description", "")}


def scheduled_event(state, given):
    instance, event = given
    if event is None:
        state.scheduled.pop(instance, None)
    else:
        state.scheduled.setdefault(instance, []).append(event)


def read_network(change):
    instance, address = change["instance"], change.get("private_ip")
    if not str(instance).startswith("i-") or not (address is None or ipaddress.ip_address(address)):
        raise ValueError("a network change needs instance (i-...) and private_ip (an address or null)")
    return instance, address


def read_spot(change):
    instance, kind = change["instance"], change.get("type")
    if not str(instance).startswith("i-") or kind not in (None, "one-time", "persistent"):
        raise ValueError("a Spot change needs instance (i-...) and type (one-time, persistent or null)")
    return instance, kind and {"request": f"sir-{instance[2:10]}", "type": kind}


def read_capacity(change):
    instance, failure, types = change["instance"], change.get("failure"), change.get("types")
    if not str(instance).startswith("i-") or failure not in (None, *START_FAILURES):
        raise ValueError("a start failure needs instance (i-...) and failure (insufficient, kms or null)")
    if types is not None and (failure != "insufficient" or not isinstance(types, list)):
        raise ValueError("types (a list of instance types) narrows an insufficient failure only")
    return instance, failure, types


def capacity(state, given):
    instance, failure, types = given
    put(state.failures, instance, failure)
    put(state.failure_types, instance, set(types) if types else None)


def read_settle(body):
    instances = body.get("instances")
    if instances is not None and (not isinstance(instances, list) or not all(isinstance(i, str) for i in instances)):
        raise ValueError('settle takes {"instances": ["i-...", ...]}, or {} for all')
    return instances


def read_outage(outage):
    if outage.get("clear"):
        return outage
    if outage.get("fault") not in ("throttle", "unavailable", "drop-before"):
        raise ValueError("an outage's fault is throttle, unavailable or drop-before")
    unknown = set(outage) - {"service", "region", "action", "fault"}
    if unknown:
        raise ValueError(f"an outage names service, region, action and fault, not {sorted(unknown)}")
    return outage


def outage(state, given):
    if given.get("clear"):
        state.outages = []
    else:
        state.outages.append(given)


def read_dark_zone(change):
    zone, dark = change.get("zone"), change.get("dark", True)
    if not isinstance(zone, str) or not zone or not isinstance(dark, bool):
        raise ValueError('a dark zone is {"zone": "us-east-1a", "dark": true | false}')
    return zone, dark


def dark_zone(state, given):
    zone, dark = given
    (state.dark_zones.add if dark else state.dark_zones.discard)(zone)


def config(proxy):
    try:
        proxy.state.configure(json.loads(proxy.read_body() or b"{}"))
    except (ValueError, TypeError) as e:
        return proxy.reply(400, str(e).encode(), "text/plain")
    return proxy.reply(200, b"{}", "application/json")


def shown(read):
    """A GET of what the state holds: read(state, now) under its lock."""
    def route(proxy):
        with proxy.state.lock:
            body = json.dumps(read(proxy.state, time.monotonic())).encode()
        return proxy.reply(200, body, "application/json")
    return route


GET = {
    "/_proxy/log": shown(lambda state, now: state.log),
    "/_proxy/events": shown(lambda state, now: state.events),
    "/_proxy/lifecycle": shown(lambda state, now: state.completions),
    "/_proxy/instances": shown(lambda state, now: state.instances(now)),
}
POST = {
    "/_proxy/hold": lambda p: change(p, read_hold, lambda state, hold: state.holds.append(hold),
                                     (ValueError, TypeError, AttributeError)),
    "/_proxy/snapshot": lambda p: change(p, read_snapshot, lambda state, c: put(state.snapshot_states, *c)),
    "/_proxy/scheduled-event": lambda p: change(p, read_scheduled_event, scheduled_event),
    "/_proxy/network": lambda p: change(p, read_network, lambda state, c: put(state.network, *c)),
    "/_proxy/spot": lambda p: change(p, read_spot, lambda state, c: put(state.spot, *c)),
    "/_proxy/capacity": lambda p: change(p, read_capacity, capacity),
    "/_proxy/settle": lambda p: change(p, read_settle, lambda state, instances: {
        "settled": state.settle(instances, time.monotonic())}, (ValueError, TypeError, AttributeError)),
    "/_proxy/deployment": register_deployment,
    "/_proxy/dark-zone": lambda p: change(p, read_dark_zone, dark_zone),
    "/_proxy/zonal-shift": lambda p: change(p, zonalshift.read_shift, zonalshift.keep("zonal_shifts")),
    "/_proxy/autoshift": lambda p: change(p, zonalshift.read_autoshift, zonalshift.keep("autoshifts")),
    "/_proxy/outage": lambda p: change(p, read_outage, outage, (ValueError, TypeError, AttributeError)),
    "/_proxy/config": config,
}
