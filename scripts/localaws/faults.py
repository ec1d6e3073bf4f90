"""What goes wrong on demand. Faults for the fault-injection tests, the ways AWS misbehaves:

  throttle     HTTP 503, <Code>RequestLimitExceeded</Code> (Auto Scaling: Throttling; CloudWatch:
               HTTP 400 Throttling); not applied
  unavailable  HTTP 503, <Code>Unavailable</Code> (Auto Scaling and CloudWatch: ServiceUnavailable);
               not applied
  drop-before  the connection closes with no response; the request is not applied
  drop-after   the request is applied upstream, then the connection closes with no response

Faults are seeded and deterministic: whether the n-th request for an action fails, and how,
depends only on (seed, action, n), not on timing or on how parallel requests interleave.

Outages (POST /_proxy/outage, control.py):
  POST /_proxy/outage  {"service": "monitoring", "region": "us-west-2", "action": "DescribeAlarms",
                        "fault": "throttle"}   every request it covers (any field left out
                       covers all; service and region as the request's credential scope says)
                       fails with that fault, until {"clear": true} or /_proxy/config: one
                       region's CloudWatch throttled, a service unavailable

Starts that fail as on AWS, strict or not, until cleared:
  POST /_proxy/capacity  {"instance": "i-...", "failure": "insufficient" | "kms" | null}
    insufficient  StartInstances naming it (while stopped) gets HTTP 500
                  InsufficientInstanceCapacity "We currently do not have sufficient <type>
                  capacity in the Availability Zone you requested (<zone>). ..."; not forwarded;
                  with "types": [...] only while the instance is of one of those types (EC2's
                  advice: "try a different instance type")
    kms           an EBS volume under a KMS key the caller may not use: StartInstances succeeds
                  (pending) but is not forwarded; the instance is pending for pending_seconds,
                  then stopped again with stateReason Client.InternalError "Client.InternalError:
                  Client error on launch" (until it is next started or stopped)

EC2 schedules events for instances (retirement, stop, reboots, maintenance), which moto never does:
  POST /_proxy/scheduled-event  {"instance": "i-...", "code": "instance-retirement" | "instance-stop" |
                       "instance-reboot" | "system-reboot" | "system-maintenance", "not_before": epoch
                       seconds (default now), "description": "..."}   ({"instance", "code": null} clears)
and DescribeInstanceStatus lists them in the instance's eventsSet (notAfter two hours later); a
description starting "[Completed]" or "[Canceled]" is one EC2 keeps listing after the fact.

A Spot instance (moto shows none as such):
  POST /_proxy/spot  {"instance": "i-...", "type": "one-time" | "persistent"}   ("type": null clears)
and DescribeInstances shows its instanceLifecycle spot and spotInstanceRequestId, DescribeSpotInstanceRequests
answers its request (by id or instance-id filter), and StopInstances naming an instance of a one-time
request is refused: UnsupportedOperation "You can't stop the Spot Instance 'i-...' because it is
associated with a one-time Spot Instance request. ..." (kept across /_proxy/config).
"""

import datetime
import random
import re
from xml.sax.saxutils import escape

from .autoscaling import AUTOSCALING_ERROR
from .xmltext import EC2_XMLNS, ERROR_XML, members

FAULTS = ("throttle", "unavailable", "drop-before", "drop-after")
START_FAILURES = ("insufficient", "kms")
KMS_REASON = ("Client.InternalError", "Client.InternalError: Client error on launch")
# EC2 User Guide, "Scheduled events for Amazon EC2 instances": the event types.
SCHEDULED_CODES = ("instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop")


def credential_scope(headers):
    """(region, service) of a SigV4 request's credential scope (Credential=KEY/DATE/REGION/SERVICE/
    aws4_request), or (None, None)."""
    found = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", (headers or {}).get("Authorization", "") or "")
    return (found.group(1), found.group(2)) if found else (None, None)


def query_fault(fault, authorization):
    """The answer of EC2 or Auto Scaling (by the credential scope) to a throttled or unavailable
    Query request: (status, payload, content type, extra headers)."""
    request_id = f"proxy-{random.getrandbits(32):08x}"
    if "/autoscaling/" in authorization:
        code, message = {
            "throttle": ("Throttling", "Rate exceeded"),
            "unavailable": ("ServiceUnavailable", "Service is unavailable."),
        }[fault]
        xml = AUTOSCALING_ERROR.format(code=code, message=message, request_id=request_id)
    else:
        code, message = {
            "throttle": ("RequestLimitExceeded", "Request limit exceeded."),
            "unavailable": ("Unavailable", "The service is unavailable. Please try again shortly."),
        }[fault]
        xml = ERROR_XML.format(code=code, message=message, request_id=request_id)
    return 503, xml.encode(), "text/xml;charset=UTF-8", []


def capacity_message(instance_type, zone):
    instance_type, zone = instance_type or "t3.micro", zone or "us-east-1b"
    other = next(zone[:-1] + c for c in "abcdef" if zone[:-1] + c != zone)
    return (f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested "
            f"({zone}). Our system will be working on provisioning additional capacity. You can currently get "
            f"{instance_type} capacity by not specifying an Availability Zone in your request or choosing {other}.")


def with_events(item, events):
    """A DescribeInstanceStatus entry with the scheduled events a test set (moto has none): eventsSet,
    each with instanceEventId, code, description, notBefore and notAfter, as EC2 answers them."""
    if not events:
        return item
    iso = lambda t: datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    xml = "<eventsSet>" + "".join(
        f"<item><instanceEventId>instance-event-{n:017x}</instanceEventId><code>{e['code']}</code>"
        f"<description>{escape(e['description'] or e['code'])}</description>"
        f"<notBefore>{iso(e['not_before'])}</notBefore><notAfter>{iso(e['not_before'] + 7200)}</notAfter></item>"
        for n, e in enumerate(events, 1)) + "</eventsSet>"
    item = re.sub(r"<eventsSet>(?:(?!</eventsSet>).)*</eventsSet>|<eventsSet/>", "", item, count=1, flags=re.S)
    return item[:-len("</item>")] + xml + "</item>"



def describe_spot_instance_requests(proxy, pairs, body):
    """The Spot requests of POST /_proxy/spot (moto knows none of them), by id or instance-id
    filter; every one without either."""
    with proxy.state.lock:
        spot = dict(proxy.state.spot)
    ids, filters = members(pairs, "SpotInstanceRequestId"), {}
    for k, v in pairs:
        if (m := re.fullmatch(r"Filter\.(\d+)\.Name", k)):
            filters[v] = [value for key, value in pairs if re.fullmatch(rf"Filter\.{m.group(1)}\.Value\.\d+", key)]
    unknown = [i for i in ids if i not in {s["request"] for s in spot.values()}]
    if unknown:
        return proxy.refuse(400, "InvalidSpotInstanceRequestID.NotFound",
                            f"The spot instance request ID '{unknown[0]}' does not exist")
    items = "".join(
        f"<item><spotInstanceRequestId>{s['request']}</spotInstanceRequestId><type>{s['type']}</type>"
        f"<state>active</state><status><code>fulfilled</code></status><instanceId>{instance}</instanceId>"
        "<productDescription>Linux/UNIX</productDescription></item>"
        for instance, s in spot.items()
        if (not ids or s["request"] in ids) and instance in filters.get("instance-id", [instance]))
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeSpotInstanceRequestsResponse xmlns="{EC2_XMLNS}">'
           f"<requestId>proxy-{random.getrandbits(32):08x}</requestId>"
           f"<spotInstanceRequestSet>{items}</spotInstanceRequestSet></DescribeSpotInstanceRequestsResponse>")
    return 200, [("Content-Type", "text/xml;charset=UTF-8")], xml.encode(), True


HANDLERS = {"DescribeSpotInstanceRequests": describe_spot_instance_requests}
