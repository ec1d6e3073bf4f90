"""EventBridge's PutEvents, answered here (the function publishes each failover, refusal and hold
on a bus: src/publish.rs): the request is recorded for the IAM checker and logged, the entries kept
for the tests and demos to read (GET /_proxy/events), and EventBridge's refusals made. Its JSON 1.1
protocol (EventBridge API reference, PutEvents):

  POST /  X-Amz-Target: AWSEvents.PutEvents  {"Entries": [{"Source", "DetailType", "Detail",
          "EventBusName"?, "Resources"?, "Time"?}]}
  -> {"FailedEntryCount": n, "Entries": [{"EventId"} | {"ErrorCode", "ErrorMessage"}]}

Refused as EventBridge refuses them: more than 10 entries, or entries over 256 KB in all (HTTP 400
ValidationException); per entry, a Detail that is not a JSON object (MalformedDetail), a Source
that starts with "aws." (NotAuthorizedForSourceException: only AWS services send those).
Outages and seeded faults cover PutEvents as they cover EC2's actions.
"""

import json
import time
import uuid

from .recorder import record_after, record_before

SERVICE = "events"
TARGET = "AWSEvents.PutEvents"
MAX_ENTRIES, MAX_BYTES = 10, 256 * 1024
JSON = "application/x-amz-json-1.1"


def handles(proxy):
    """Whether the request is EventBridge's PutEvents."""
    return proxy.headers.get("X-Amz-Target", "") == TARGET


def error(status, kind, message):
    return status, json.dumps({"__type": kind, "message": message}).encode(), JSON, []


def entry_result(entry):
    detail = entry.get("Detail")
    try:
        parsed = json.loads(detail) if isinstance(detail, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    if str(entry.get("Source", "")).startswith("aws."):
        return {"ErrorCode": "NotAuthorizedForSourceException", "ErrorMessage": "Not authorized for the source."}
    return {"EventId": str(uuid.uuid4())}


def answer(proxy):
    start = time.monotonic()
    try:
        request = json.loads(proxy.read_body() or b"{}")
    except ValueError:
        request = {}
    entries = request.get("Entries") if isinstance(request.get("Entries"), list) else []
    first = entries[0] if entries and isinstance(entries[0], dict) else {}
    params = {"EventBusName": first.get("EventBusName", "default"), "Source": first.get("Source", ""),
              "DetailType": first.get("DetailType", ""), "Entries": str(len(entries))}
    fault = proxy.state.fault_for("PutEvents", proxy.headers)
    recorded = record_before(proxy, SERVICE, "PutEvents", params)
    entry = {"action": "PutEvents", "params": params, "start": start, "fault": fault, "emulated": True}
    time.sleep(proxy.state.latency)
    answer = None
    try:
        size = sum(len(json.dumps(e)) for e in entries)
        if fault == "throttle":
            answer = error(400, "ThrottlingException", "Rate exceeded")
        elif fault == "unavailable":
            answer = error(500, "InternalException", "Internal error")
        elif fault == "drop-before":
            pass
        elif not entries or len(entries) > MAX_ENTRIES:
            answer = error(400, "ValidationException", f"1 to {MAX_ENTRIES} entries per request")
        elif size > MAX_BYTES:
            answer = error(400, "ValidationException", "Total size of the entries in the request is over the limit.")
        else:
            results = [entry_result(e) for e in entries]
            with proxy.state.lock:
                for e, r in zip(entries, results):
                    if "EventId" in r:
                        proxy.state.events.append(e)
            failed = sum(1 for r in results if "ErrorCode" in r)
            if fault != "drop-after":
                answer = (200, json.dumps({"FailedEntryCount": failed, "Entries": results}).encode(), JSON, [])
    finally:
        entry["status"] = answer[0] if answer else None
        entry["end"] = time.monotonic()
        proxy.state.record(entry)
        record_after(proxy, recorded, entry)
    if answer is None:
        proxy.drop()
    else:
        proxy.reply(*answer)
