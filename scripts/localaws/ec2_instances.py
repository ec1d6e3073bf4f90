"""Strict EC2: the instance state machine over moto's instant one.

moto is kinder than EC2: a started instance is running at once (never pending), a stopped one
stopped at once (never stopping), nothing refuses to act on a pending instance, capacity never
runs out and status checks are ok at once. Strict mode (on by default) makes EC2 as AWS is:
  POST /_proxy/config  also takes {"strict": true, "pending_seconds": 2, "stopping_seconds": 2,
                       "initializing_seconds": 4, "attaching_seconds": 2, "tag_write_seconds": 0.1},
                       these defaults when absent
  StartInstances     each named instance that was not running is pending for pending_seconds
                     (from the answer), then running with status checks (instance and system)
                     initializing for initializing_seconds, then ok; its answer says pending
  StopInstances      each named instance that was running is stopping for stopping_seconds, then
                     stopped; its answer says stopping. With Force=true, one already stopping is
                     stopped at once (a forced stop ends a stop that hangs)
  DescribeInstances  shows those states (pending 0, running 16, stopping 64, stopped 80), a
                     pending instance with stateReason pending; instance-state-name and
                     instance-state-code filters match the states shown
  DescribeInstanceStatus  pending and stopping instances only with IncludeAllInstances=true (AWS
                     lists running instances only by default): pending with checks initializing,
                     stopping not-applicable; a running instance initializing, then ok
and refuses, with AWS's HTTP 400 and words, without forwarding (logged with "emulated": true):
  StopInstances naming a pending one    IncorrectInstanceState "Instance 'i-...' cannot be stopped
                                        as it has never reached the 'running' state."
  StartInstances naming a stopping one  IncorrectInstanceState "The instance 'i-...' is not in a
                                        state from which it can be started."
The function reaches an instance at its private address, in its VPC; on this machine the service
a test or demo stands up listens on loopback instead. The proxy plays the VPC's network:
  POST /_proxy/network  {"instance": "i-...", "private_ip": "127.0.0.2"}   ("private_ip": null clears)
and DescribeInstances shows that address as the instance's privateIpAddress (kept across
/_proxy/config, like the network it stands for).
AWS takes its time; the tests need not. Where AWS would simply take time, tests call
  POST /_proxy/settle    {"instances": ["i-...", "vol-..."]} ({} for all)   ends their transitions
                       now: pending -> running, stopping -> stopped, initializing -> ok, kms ->
                       stopped, a volume's attachment attaching -> attached
  GET  /_proxy/instances {"i-...": {"state", "until", "checks", "checks_until", "reason",
                       "failure"}} what the overlay shows now (times as in the log; null: none)
A zone that goes dark (power or network lost): EC2 goes on saying its instances run, but has no
data for their status checks, and cannot start an instance there:
  POST /_proxy/dark-zone {"zone": "us-east-1a", "dark": true | false}
  DescribeInstanceStatus  an instance in a dark zone: instance and system checks insufficient-data
  StartInstances     naming a stopped instance in a dark zone: HTTP 500 InsufficientInstanceCapacity
                     (not forwarded), as the capacity failure below
(CloudWatch's side, its alarms on those instances' metrics going to INSUFFICIENT_DATA, is the
scene's to set: moto evaluates no alarm.)
POST /_proxy/config forgets transitions, start failures and dark zones as it forgets holds
(keep_lifecycle keeps the first two); strict=false forwards and answers as moto does.


The overlay (what is shown instead of moto's state) is State's; the start failures, Spot requests
and scheduled events are in faults.py.
"""

import fnmatch
import random
import re
import time
import urllib.parse
from xml.sax.saxutils import escape

from .faults import capacity_message, with_events
from .xmltext import EC2_XMLNS, members, own, rewrite_set, set_own

STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
STATE_FILTERS = ("instance-state-name", "instance-state-code")


def start_instances(proxy, pairs, body):
    ids = members(pairs, "InstanceId")
    with proxy.state.lock:
        now = time.monotonic()
        strict = proxy.state.strict
        shown = {i: proxy.state.shown(i, now) for i in ids}
        failures = {i: proxy.state.failures[i] for i in ids if i in proxy.state.failures}
        types = {i: proxy.state.failure_types.get(i) for i in failures}
        dark = set(proxy.state.dark_zones)
    # A stopped instance in a dark zone cannot be started: as if its zone had no capacity.
    if dark:
        failures = {i: failures.get(i, "dark") for i in ids}
    if strict:
        for i in ids:
            if shown[i] == "stopping":
                return proxy.refuse(400, "IncorrectInstanceState",
                                    f"The instance '{i}' is not in a state from which it can be started.")
    kms = []
    if failures:
        # A start fails only from stopped; moto knows each instance's state, type and zone.
        status, headers, payload = proxy.ask(pairs, "DescribeInstances",
                                             [(f"InstanceId.{n}", i) for n, i in enumerate(failures, 1)])
        if status != 200:
            return status, headers, payload, False
        facts = {}
        rewrite_set(payload.decode(), "instancesSet", lambda item: facts.update({own(item, "instanceId"): item}))
        for i, failure in failures.items():
            item = facts.get(i)
            if item is None or shown_state(item)[0] != "stopped":
                continue
            if failure == "dark" and own(item, "availabilityZone") not in dark:
                continue
            if failure == "insufficient" and types.get(i) and own(item, "instanceType") not in types[i]:
                continue  # capacity lacks for other types only: this one starts
            if failure in ("insufficient", "dark"):
                return proxy.refuse(500, "InsufficientInstanceCapacity",
                                    capacity_message(own(item, "instanceType"), own(item, "availabilityZone")))
            if failure == "kms":
                kms.append(i)
        failures = {i: f for i, f in failures.items() if f != "dark"}
    rest = [i for i in ids if i not in kms]
    previous = {}
    if rest:
        if kms:
            body = urllib.parse.urlencode(
                [(k, v) for k, v in pairs if not re.fullmatch(r"InstanceId\.\d+", k)]
                + [(f"InstanceId.{n}", i) for n, i in enumerate(rest, 1)]).encode()
        status, headers, payload = proxy.upstream(body)
        if status != 200:
            return status, headers, payload, False
        previous = state_changes(payload)
    else:
        status, headers = 200, [("Content-Type", "text/xml;charset=UTF-8")]
        payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<StartInstancesResponse xmlns="{EC2_XMLNS}">'
                   f"<requestId>proxy-{random.getrandbits(32):08x}</requestId><instancesSet></instancesSet>"
                   "</StartInstancesResponse>").encode()
    changes = {}  # instance -> (previous, current) as the answer says them
    with proxy.state.lock:
        now = time.monotonic()  # transitions count from the answer
        for i, before in previous.items():
            entry, state = proxy.state.overlay.get(i), proxy.state.shown(i, now)
            if not strict:
                proxy.state.overlay.pop(i, None)
            elif state == "pending" and entry["kind"] == "start":
                changes[i] = ("pending", "pending")
            elif before == "running" and state in (None, "running"):
                changes[i] = ("running", "running")  # initializing checks go on
            else:
                proxy.state.begin(i, "start", now)
                changes[i] = (state or before, "pending")
        for i in kms:
            state = proxy.state.shown(i, now)
            if not (state == "pending" and proxy.state.overlay[i]["kind"] == "kms"):
                proxy.state.begin(i, "kms", now)
            changes[i] = (state or "stopped", "pending")
    text = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes))
    added = "".join(state_change_item(f"<item><instanceId>{i}</instanceId></item>", changes) for i in kms)
    text = text.replace("<instancesSet/>", "<instancesSet></instancesSet>", 1)
    text = text.replace("</instancesSet>", added + "</instancesSet>", 1)
    return status, headers, text.encode(), not rest


def stop_instances(proxy, pairs, body):
    ids = members(pairs, "InstanceId")
    force = dict(pairs).get("Force", "").lower() == "true"
    with proxy.state.lock:
        now = time.monotonic()
        strict = proxy.state.strict
        shown = {i: proxy.state.shown(i, now) for i in ids}
    with proxy.state.lock:
        one_time = [i for i in ids if proxy.state.spot.get(i, {}).get("type") == "one-time"]
    if one_time:
        # EC2 User Guide, "Stop a Spot Instance": only one of a persistent request can be stopped.
        return proxy.refuse(400, "UnsupportedOperation",
                            f"You can't stop the Spot Instance '{one_time[0]}' because it is associated with a "
                            "one-time Spot Instance request. You can only stop Spot Instances associated with "
                            "persistent Spot Instance requests.")
    if strict:
        for i in ids:
            if shown[i] == "pending":
                return proxy.refuse(400, "IncorrectInstanceState",
                                    f"Instance '{i}' cannot be stopped as it has never reached the 'running' state.")
    status, headers, payload = proxy.upstream(body)
    if status != 200:
        return status, headers, payload, False
    changes = {}
    with proxy.state.lock:
        now = time.monotonic()
        for i, before in state_changes(payload).items():
            state = proxy.state.shown(i, now)
            if not strict:
                proxy.state.overlay.pop(i, None)
            elif state == "stopping" and force:
                # A forced stop ends a stop that hangs: stopped now (EC2 API reference, StopInstances).
                proxy.state.overlay.pop(i, None)
                changes[i] = ("stopping", "stopped")
            elif state == "stopping":
                changes[i] = ("stopping", "stopping")
            elif before == "running":
                proxy.state.begin(i, "stop", now)
                changes[i] = (state or before, "stopping")
            else:  # already stopped (a KMS failure's reason stays): nothing changes
                changes[i] = (state or before, state or before)
    if changes:
        payload = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes)).encode()
    return status, headers, payload, False


def terminate_instances(proxy, pairs, body):
    status, headers, payload = proxy.upstream(body)
    if status == 200:
        changes = {}
        with proxy.state.lock:
            now = time.monotonic()
            for i in state_changes(payload):
                state = proxy.state.shown(i, now)
                if state and proxy.state.strict:
                    changes[i] = (state, None)
                proxy.state.overlay.pop(i, None)
        if changes:
            payload = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes)).encode()
    return status, headers, payload, False


def describe_instances(proxy, pairs, body):
    status, headers, payload, emulated = describe(proxy, pairs, body, "instancesSet", instance_item)
    with proxy.state.lock:
        network, spot = dict(proxy.state.network), dict(proxy.state.spot)
    if status == 200 and (network or spot):
        def addressed(item):
            instance = own(item, "instanceId")
            address = network.get(instance)
            item = item if address is None else set_own(item, "privateIpAddress", address)
            if instance in spot:  # moto shows neither for a Spot instance
                own_id = f"<instanceId>{instance}</instanceId>"
                item = item.replace(own_id, f"{own_id}<instanceLifecycle>spot</instanceLifecycle>"
                                    f"<spotInstanceRequestId>{spot[instance]['request']}</spotInstanceRequestId>", 1)
            return item
        payload = rewrite_set(payload.decode(), "instancesSet", addressed).encode()
    return status, headers, payload, emulated


def describe_instance_status(proxy, pairs, body):
    include_all = dict(pairs).get("IncludeAllInstances", "").lower() == "true"
    status, headers, payload, emulated = describe(proxy, pairs, body, "instanceStatusSet",
                                                  lambda item, view: status_item(item, view, include_all))
    with proxy.state.lock:
        scheduled = {i: list(events) for i, events in proxy.state.scheduled.items()}
        dark = set(proxy.state.dark_zones)
    if status == 200 and scheduled:
        payload = rewrite_set(payload.decode(), "instanceStatusSet",
                              lambda item: with_events(item, scheduled.get(own(item, "instanceId"), []))).encode()
    if status == 200 and dark:
        payload = rewrite_set(payload.decode(), "instanceStatusSet",
                              lambda item: in_the_dark(item) if own(item, "availabilityZone") in dark else item).encode()
    return status, headers, payload, emulated


def in_the_dark(item):
    """A DescribeInstanceStatus entry of a running instance in a dark zone: EC2 has no data for its
    checks (EC2 User Guide, "Status checks for Amazon EC2 instances": insufficient-data)."""
    return with_checks(item, "insufficient-data") if shown_state(item)[0] == "running" else item


def describe(proxy, pairs, body, set_tag, show):
    """moto's answer with each instance as the overlay shows it (show(item, view) gives the
    item, or None to leave it out); state filters are applied here, to the states shown."""
    with proxy.state.lock:
        if not proxy.state.overlay:
            return (*proxy.upstream(body), False)
    filters, others = state_filters(pairs)
    if filters:
        body = urllib.parse.urlencode(others).encode()
    status, headers, payload = proxy.upstream(body)
    if status != 200:
        return status, headers, payload, False

    def change(item):
        with proxy.state.lock:
            view = proxy.state.view(own(item, "instanceId"), time.monotonic())
        item = show(item, view) if view else item
        if item is None or not all(matches(item, name, values) for name, values in filters):
            return None
        return item

    text = rewrite_set(payload.decode(), set_tag, change)
    if set_tag == "instancesSet":  # a reservation whose instances are all left out goes too
        text = rewrite_set(text, "reservationSet",
                           lambda r: None if re.search(r"<instancesSet>\s*</instancesSet>", r) else r)
    return status, headers, text.encode(), False


HANDLERS = {
    "StartInstances": start_instances,
    "StopInstances": stop_instances,
    "TerminateInstances": terminate_instances,
    "DescribeInstances": describe_instances,
    "DescribeInstanceStatus": describe_instance_status,
}


def state_filters(pairs):
    """([(filter name, values)] of the instance-state filters, the query without them)."""
    filters = {}
    for key, value in pairs:
        m = re.fullmatch(r"Filter\.(\d+)\.(Name|Value\.\d+)", key)
        if m:
            filters.setdefault(int(m.group(1)), {"values": []})
            if m.group(2) == "Name":
                filters[int(m.group(1))]["name"] = value
            else:
                filters[int(m.group(1))]["values"].append(value)
    ours = [(f["name"], f["values"]) for f in filters.values() if f.get("name") in STATE_FILTERS]
    if not ours:
        return [], pairs
    others = [(k, v) for k, v in pairs if not k.startswith("Filter.")]
    kept = [f for f in filters.values() if f.get("name") not in STATE_FILTERS]
    for n, f in enumerate(kept, 1):
        others.append((f"Filter.{n}.Name", f.get("name", "")))
        others.extend((f"Filter.{n}.Value.{m}", v) for m, v in enumerate(f["values"], 1))
    return ours, others


def matches(item, name, values):
    """Whether an instance item passes an instance-state filter (values may hold * and ?)."""
    state, code = shown_state(item)
    value = state if name == "instance-state-name" else code
    return any(fnmatch.fnmatchcase(value, v) for v in values)


def shown_state(item):
    """(name, code) of an instance item's instanceState."""
    found = re.search(r"<instanceState><code>(\d+)</code><name>([^<]*)</name></instanceState>", item)
    return (found.group(2), found.group(1)) if found else ("", "")


def state_xml(tag, state):
    return f"<{tag}><code>{STATE_CODES[state]}</code><name>{state}</name></{tag}>"


def state_changes(payload):
    """{instance: previous state name} from a Start/Stop/TerminateInstances answer."""
    changes = {}

    def note(item):
        found = re.search(r"<previousState><code>\d+</code><name>([^<]*)</name></previousState>", item)
        changes[own(item, "instanceId")] = found.group(1) if found else ""
        return item

    rewrite_set(payload.decode(), "instancesSet", note)
    return changes


def state_change_item(item, changes):
    """An instance's item of a Start/Stop/TerminateInstances answer, with the (previous, current)
    states changes gives it (None: leaves it)."""
    instance = own(item, "instanceId")
    if instance not in changes:
        return item
    before, after = changes[instance]
    for tag, state in (("currentState", after), ("previousState", before)):
        if state is None:
            continue
        new = state_xml(tag, state)
        item, n = re.subn(rf"<{tag}>(?:(?!</{tag}>).)*</{tag}>|<{tag}/>", lambda _: new, item, count=1, flags=re.S)
        if not n:
            item = item[:-len("</item>")] + new + "</item>"
    return item


def instance_item(item, view):
    """A DescribeInstances instance as the overlay shows it."""
    state, _, reason, _, _ = view
    item = re.sub(r"<instanceState>(?:(?!</instanceState>).)*</instanceState>", lambda _: state_xml("instanceState", state),
                  item, count=1, flags=re.S)
    if reason:
        new = f"<stateReason><code>{reason[0]}</code><message>{escape(reason[1])}</message></stateReason>"
        item, n = re.subn(r"<stateReason>(?:(?!</stateReason>).)*</stateReason>|<stateReason/>", lambda _: new, item,
                          count=1, flags=re.S)
        if not n:
            item = item.replace("</instanceState>", "</instanceState>" + new, 1)
    return item


def status_item(item, view, include_all):
    """A DescribeInstanceStatus entry as the overlay shows it, or None: without
    IncludeAllInstances AWS lists running instances only."""
    state, checks = view[0], view[1]
    if state != "running" and not include_all:
        return None
    item = re.sub(r"<instanceState>(?:(?!</instanceState>).)*</instanceState>", lambda _: state_xml("instanceState", state),
                  item, count=1, flags=re.S)
    return with_checks(item, checks)


def with_checks(item, checks):
    """A DescribeInstanceStatus entry with both status checks (instance and system) at `checks`:
    not-applicable, initializing, ok or insufficient-data, and the reachability detail to match."""
    for tag in ("instanceStatus", "systemStatus"):
        if checks == "not-applicable":
            new = f"<{tag}><status>not-applicable</status></{tag}>"
        else:
            detail = {"ok": "passed"}.get(checks, checks)
            new = (f"<{tag}><details><item><name>reachability</name><status>{detail}</status></item></details>"
                   f"<status>{checks}</status></{tag}>")
        item, n = re.subn(rf"<{tag}>(?:(?!</{tag}>).)*</{tag}>|<{tag}/>", lambda _: new, item, count=1, flags=re.S)
        if not n:
            item = item[:-len("</item>")] + new + "</item>"
    return item
