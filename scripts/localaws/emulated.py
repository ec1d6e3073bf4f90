"""The frame of a request the proxy answers itself rather than forward to moto (Route 53 ARC's
reads, EventBridge's PutEvents): the seeded fault or outage for its action, the latency, the IAM
record, the log entry, then the answer or a dropped connection."""

import time

from .recorder import record_after, record_before


def serve(proxy, service, action, params, respond):
    """Answers `action` of `service` with `respond(fault)`: (status, body, content type, headers),
    or None to drop the connection. `respond` is not called for a fault that drops the request
    before it is served ("drop-before"); after "drop-after" its answer is dropped (what it changed
    stays changed, as when a real answer is lost)."""
    start = time.monotonic()
    fault = proxy.state.fault_for(action, proxy.headers)
    recorded = record_before(proxy, service, action, params)
    entry = {"action": action, "params": params, "start": start, "fault": fault, "emulated": True}
    time.sleep(proxy.state.latency)
    answer = None
    try:
        if fault != "drop-before":
            answer = respond(fault)
        if fault == "drop-after":
            answer = None
    finally:
        logged(proxy, recorded, entry, answer)
    send(proxy, answer)


def logged(proxy, recorded, entry, answer):
    """Ends a request's log entry with its answer's status (none: dropped) and its end, in the log
    and the IAM record: before the answer is sent, so that whoever reads the log after the client
    got its answer finds the request there."""
    entry["status"] = answer[0] if answer else None
    entry["end"] = time.monotonic()
    proxy.state.record(entry)
    record_after(proxy, recorded, entry)


def send(proxy, answer):
    """Sends the answer (status, body, content type, headers), or drops the connection for none."""
    if answer is None:
        proxy.drop()
    else:
        proxy.reply(*answer)
