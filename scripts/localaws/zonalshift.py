"""Route 53 ARC's zonal shifts, which moto does not serve: the two reads the function makes, from
shifts a test or demo sets. Its REST JSON protocol (ARC Zonal Shift API Reference):

  GET /zonalshifts?status=ACTIVE   {"items": [ZonalShiftSummary], "nextToken"?}
  GET /autoshifts?status=ACTIVE    {"items": [AutoshiftSummary], "nextToken"?}

a request signed for the service arc-zonal-shift (its credential scope). A ZonalShiftSummary has
zonalShiftId, resourceIdentifier, awayFrom (an Availability Zone ID, "use1-az1"), expiryTime,
startTime (epoch seconds), status (ACTIVE, EXPIRED, CANCELED), comment, shiftType (ZONAL_SHIFT,
PRACTICE_RUN, FIS_EXPERIMENT, ZONAL_AUTOSHIFT); an AutoshiftSummary awayFrom, startTime, endTime and
status (ACTIVE, COMPLETED). Errors as the service sends them: HTTP 429 ThrottlingException, 500
InternalServerException, the type in X-Amzn-ErrorType and a JSON {"message"}.

  POST /_proxy/zonal-shift  {"away_from": "use1-az1", "type": "ZONAL_SHIFT" | "PRACTICE_RUN" |
                            "FIS_EXPERIMENT", "resource": "arn:...", "status": "ACTIVE" (default) |
                            "EXPIRED" | "CANCELED", "id": "..." (default: made up)}
  POST /_proxy/autoshift    {"away_from": "use1-az1", "status": "ACTIVE" (default) | "COMPLETED"}
  either with {"clear": true} forgets them; so does /_proxy/config.
Outages and seeded faults cover ListZonalShifts and ListAutoshifts as they cover EC2's actions.
"""

import json
import time
import urllib.parse

from .faults import credential_scope
from .emulated import serve

SERVICE = "arc-zonal-shift"
PATHS = {"/zonalshifts": "ListZonalShifts", "/autoshifts": "ListAutoshifts"}
SHIFT_TYPES = ("ZONAL_SHIFT", "PRACTICE_RUN", "FIS_EXPERIMENT")
SHIFT_STATUSES = ("ACTIVE", "EXPIRED", "CANCELED")
AUTOSHIFT_STATUSES = ("ACTIVE", "COMPLETED")


def handles(proxy):
    """Whether the request is one of ARC's reads."""
    path = urllib.parse.urlsplit(proxy.path).path
    return path in PATHS and credential_scope(proxy.headers)[1] == SERVICE


def answer(proxy):
    split = urllib.parse.urlsplit(proxy.path)
    action = PATHS[split.path]
    query = dict(urllib.parse.parse_qsl(split.query))

    def respond(fault):
        if fault == "throttle":
            return error(429, "ThrottlingException", "Rate exceeded")
        if fault == "unavailable":
            return error(500, "InternalServerException", "Internal server error")
        with proxy.state.lock:
            kept = list(proxy.state.zonal_shifts if action == "ListZonalShifts" else proxy.state.autoshifts)
        status = query.get("status")
        items = [item for item in kept if status is None or item["status"] == status]
        return 200, json.dumps({"items": items}).encode(), "application/json", []

    serve(proxy, SERVICE, action, query, respond)


def error(status, kind, message):
    return status, json.dumps({"message": message}).encode(), "application/json", [("X-Amzn-ErrorType", kind)]


def read_shift(change):
    if change.get("clear"):
        return None
    away, kind, status = change.get("away_from"), change.get("type", "ZONAL_SHIFT"), change.get("status", "ACTIVE")
    if not isinstance(away, str) or not away or kind not in SHIFT_TYPES or status not in SHIFT_STATUSES:
        raise ValueError(f"a zonal shift needs away_from (a zone ID), type in {SHIFT_TYPES}, status in {SHIFT_STATUSES}")
    now = int(time.time())
    return {"zonalShiftId": change.get("id") or f"zs-{now:x}-{away}", "resourceIdentifier":
            change.get("resource", "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1"),
            "awayFrom": away, "startTime": now, "expiryTime": now + 3600, "status": status, "comment": "",
            "shiftType": kind}


def read_autoshift(change):
    if change.get("clear"):
        return None
    away, status = change.get("away_from"), change.get("status", "ACTIVE")
    if not isinstance(away, str) or not away or status not in AUTOSHIFT_STATUSES:
        raise ValueError(f"an autoshift needs away_from (a zone ID) and status in {AUTOSHIFT_STATUSES}")
    return {"awayFrom": away, "startTime": int(time.time()), "status": status}


def keep(name):
    def apply(state, item):
        if item is None:
            setattr(state, name, [])
        else:
            getattr(state, name).append(item)
    return apply
