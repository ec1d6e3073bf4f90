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
import uuid

from .emulated import serve

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
    try:
        request = json.loads(proxy.read_body() or b"{}")
    except ValueError:
        request = {}
    entries = request.get("Entries") if isinstance(request.get("Entries"), list) else []
    first = entries[0] if entries and isinstance(entries[0], dict) else {}
    params = {"EventBusName": first.get("EventBusName", "default"), "Source": first.get("Source", ""),
              "DetailType": first.get("DetailType", ""), "Entries": str(len(entries))}

    def respond(fault):
        if fault == "throttle":
            return error(400, "ThrottlingException", "Rate exceeded")
        if fault == "unavailable":
            return error(500, "InternalException", "Internal error")
        if not entries or len(entries) > MAX_ENTRIES:
            return error(400, "ValidationException", f"1 to {MAX_ENTRIES} entries per request")
        if sum(len(json.dumps(e)) for e in entries) > MAX_BYTES:
            return error(400, "ValidationException", "Total size of the entries in the request is over the limit.")
        results = [entry_result(e) for e in entries]
        with proxy.state.lock:
            proxy.state.events.extend(e for e, r in zip(entries, results) if "EventId" in r)
        failed = sum(1 for r in results if "ErrorCode" in r)
        return 200, json.dumps({"FailedEntryCount": failed, "Entries": results}).encode(), JSON, []

    serve(proxy, SERVICE, "PutEvents", params, respond)
