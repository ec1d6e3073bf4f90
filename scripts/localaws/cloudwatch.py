"""The CloudWatch bridge: Smithy RPC v2 CBOR in front of moto's awsJson1_0 (the codec is cbor.py).

CloudWatch in Smithy RPC v2 CBOR. The Rust aws-sdk-cloudwatch speaks rpcv2Cbor; moto 5.2.5 speaks
CloudWatch's awsQuery and awsJson1_0 only, and 404s the CBOR path. The proxy bridges every operation:
  POST {prefix}/service/GraniteServiceVersion20100801/operation/<Operation>  (Smithy-Protocol:
                 rpc-v2-cbor, Content-Type and Accept: application/cbor, body a CBOR map) is decoded
                 (all of RFC 8949: indefinite lengths, half/single/double floats, tags, simple values)
                 and asked of moto as the same operation in awsJson1_0: POST /, Content-Type:
                 application/x-amz-json-1.0, X-Amz-Target: GraniteServiceVersion20100801.<Operation>,
                 the other incoming headers kept. moto checks no signature but routes by the service
                 and region of the Authorization credential scope; an unsigned request is given one
                 for monitoring in us-east-1. Timestamps (tag 1) go to moto as epoch seconds, blobs
                 as base64, null members are left out.
  answers        moto's JSON in CBOR, HTTP 200, Content-Type: application/cbor, Smithy-Protocol:
                 rpc-v2-cbor, moto's x-amzn-RequestId. Output members JSON cannot type are typed by
                 member name from botocore's CloudWatch model (CLOUDWATCH_OUTPUT_KINDS): timestamps
                 (StateUpdatedTimestamp, AlarmConfigurationUpdatedTimestamp, StateTransitionedTimestamp,
                 ...) as tag 1 over a double (the Rust SDK reads epoch seconds as a float), doubles
                 (Threshold, ...) as doubles, blobs as byte strings. Floats are always 8 bytes (the
                 spec asks for no half precision). An operation without output (PutMetricAlarm,
                 SetAlarmState, DeleteAlarms, ...) gets no body and no Content-Type.
  errors         moto's status; a CBOR map {"__type": "com.amazonaws.cloudwatch#<Shape>", "message":
                 ...} ("Message" for the shapes whose member is so spelt); moto's x-amzn-query-error
                 header, Code;Sender or Code;Receiver (CloudWatch is awsQueryCompatible: the SDKs take
                 the error code from it). What moto does not implement (its HTML 500, e.g.
                 PutCompositeAlarm) becomes 500 InternalServiceFault "ec2_proxy: moto answered ...".
  DescribeAlarms moto applies only the first filter it finds of ActionPrefix, AlarmNamePrefix,
                 AlarmNames, StateValue; AWS applies them all. The proxy applies them all to moto's
                 answer, so AlarmNames with StateValue, and ActionPrefix with StateValue, select what
                 AWS selects (ActionPrefix matches AlarmActions, as moto matches it). AlarmTypes,
                 MaxRecords and NextToken are left to moto, which ignores them (one page; moto cannot
                 make composite alarms anyway).
Bridged requests are logged like the others: action is the operation, params the input flattened
as awsQuery would send it (AlarmNames.member.1, Dimensions.member.1.Name, booleans true/false,
timestamps ISO 8601), with "bridged": true. latency_ms applies, and so do the faults: throttle is
HTTP 400 {"__type": "...#Throttling", "message": "Rate exceeded"} (x-amzn-query-error
Throttling;Sender), unavailable HTTP 503 ServiceUnavailable "Service is unavailable."
(ServiceUnavailable;Receiver), drop-before and drop-after as for EC2. A request whose body is not a
CBOR map, that lacks Smithy-Protocol: rpc-v2-cbor or that has X-Amz-Target (the spec says to refuse
it) gets HTTP 400 ValidationException (ValidationError;Sender) with a message "ec2_proxy: ...", the
proxy's words and not AWS's; it is not forwarded and is logged with "emulated": true.

"""

import base64
import datetime
import json
import random
import re
import time

from .cbor import UNDEFINED, CBORError, Simple, Tagged, cbor_decode, cbor_encode
from .recorder import record_after, record_before
from .xmltext import HOP_BY_HOP

CLOUDWATCH_TARGET = "GraniteServiceVersion20100801"  # the service's shape name and JSON target prefix
CLOUDWATCH_NAMESPACE = "com.amazonaws.cloudwatch"  # of its shape ids, as in error __type
RPCV2_PATH = re.compile(
    r"(?:/[^?]*)?/service/(?:com\.amazonaws\.cloudwatch\.)?GraniteServiceVersion20100801/operation/([A-Za-z0-9]+)")
# What JSON cannot say about an output member, by member name (from botocore's
# cloudwatch/2010-08-01/service-2.json: in CloudWatch's outputs no member name has two types;
# tests/test_ec2_proxy.py checks this table against the model).
CLOUDWATCH_OUTPUT_KINDS = {
    **dict.fromkeys((
        "AlarmConfigurationUpdatedTimestamp", "CreatedAt", "CreationDate", "EndTime", "ExpireDate", "LastModified",
        "LastUpdateDate", "LastUpdatedTimestamp", "StartDate", "StartTime", "StateTransitionedTimestamp",
        "StateUpdatedTimestamp", "Timestamp", "UpdatedAt"), "timestamp"),
    "Timestamps": "timestamp-list",
    **dict.fromkeys((
        "AggregateValue", "ApproximateAggregateValue", "ApproximateValue", "Average", "MaxContributorValue", "Maximum",
        "Minimum", "SampleCount", "Sum", "Threshold", "UniqueContributors"), "double"),
    "Values": "double-list",
    "ExtendedStatistics": "double-map",
    "AlarmContributorAttributes": "string-map",
    "ContributorAttributes": "string-map",
    "MetricWidgetImage": "blob",
}
# Operations without output: their answer has no body and no Content-Type.
CLOUDWATCH_NO_OUTPUT = frozenset((
    "DeleteAlarmMuteRule", "DeleteAlarms", "DisableAlarmActions", "EnableAlarmActions", "PutAlarmMuteRule",
    "PutCompositeAlarm", "PutLogAlarm", "PutMetricAlarm", "PutMetricData", "SetAlarmState"))
# Error shapes whose message member is "Message" (the others' is "message").
CLOUDWATCH_MESSAGE_MEMBER = frozenset((
    "ConflictException", "InternalServiceFault", "KmsAccessDeniedException", "KmsKeyDisabledException",
    "KmsKeyNotFoundException"))
CLOUDWATCH_FAULTS = {  # fault: (status, __type and query code, Sender | Receiver, message)
    "throttle": (400, "Throttling", "Sender", "Rate exceeded"),
    "unavailable": (503, "ServiceUnavailable", "Receiver", "Service is unavailable."),
}


def rpcv2_operation(path):
    """The CloudWatch operation an RPC v2 path names ({prefix}/service/{service}/operation/{name}),
    or None."""
    found = RPCV2_PATH.fullmatch(path.split("?", 1)[0])
    return found.group(1) if found else None


def cbor_to_json(value):
    """A decoded CBOR input as the awsJson1_0 document moto reads: timestamps (tag 1) as epoch
    seconds, blobs as base64, null and undefined members left out. ValueError for what JSON cannot
    carry (other tags, simple values, non-text map keys)."""
    if isinstance(value, Tagged):
        if value.tag == 1 and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            return value.value
        raise ValueError(f"tag {value.tag} is not part of the CloudWatch protocol")
    if isinstance(value, Simple):
        raise ValueError(f"simple value {value.value} is not part of the CloudWatch protocol")
    if value is UNDEFINED:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("a map key that is not text")
        return {k: cbor_to_json(v) for k, v in value.items() if v is not None and v is not UNDEFINED}
    return value


def _epoch(value):
    """Epoch seconds (float) from a JSON timestamp: a number, or an ISO 8601 string."""
    if isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.timestamp()
    return float(value)


def cloudwatch_output(value, kind=None):
    """moto's JSON answer as the CBOR value CloudWatch sends: timestamps as tag 1 over a double,
    doubles as floats, blobs as byte strings (by CLOUDWATCH_OUTPUT_KINDS), null members left out."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "timestamp" and (number or isinstance(value, str)):
        return Tagged(1, _epoch(value))
    if kind == "timestamp-list" and isinstance(value, list):
        return [Tagged(1, _epoch(v)) for v in value]
    if kind == "double" and number:
        return float(value)
    if kind == "double-list" and isinstance(value, list):
        return [float(v) for v in value]
    if kind == "double-map" and isinstance(value, dict):
        return {k: float(v) for k, v in value.items()}
    if kind == "string-map" and isinstance(value, dict):
        return dict(value)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(value, dict):
        return {k: cloudwatch_output(v, CLOUDWATCH_OUTPUT_KINDS.get(k)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [cloudwatch_output(v) for v in value]
    return value


def query_params(value, prefix=""):
    """A decoded CBOR input flattened as awsQuery would send it, every value a string: lists as
    Name.member.N, structure (and map) members as Name.Member, booleans true/false, timestamps ISO
    8601 (UTC), blobs base64; null members left out."""
    flat = {}
    if isinstance(value, dict):
        for key, item in value.items():
            flat.update(query_params(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        for n, item in enumerate(value, 1):
            flat.update(query_params(item, f"{prefix}.member.{n}"))
    elif value is None or value is UNDEFINED:
        pass
    elif isinstance(value, bool):
        flat[prefix] = "true" if value else "false"
    elif isinstance(value, Tagged) and value.tag == 1 and isinstance(value.value, (int, float)):
        moment = datetime.datetime.fromtimestamp(value.value, datetime.timezone.utc)
        flat[prefix] = moment.isoformat().replace("+00:00", "Z")
    elif isinstance(value, bytes):
        flat[prefix] = base64.b64encode(value).decode()
    else:
        flat[prefix] = str(value)
    return flat


def filter_alarms(document, request):
    """moto's DescribeAlarms answer with every filter of the request applied. moto applies only the
    first it finds of ActionPrefix, AlarmNamePrefix, AlarmNames, StateValue; AWS applies them all.
    ActionPrefix matches AlarmActions, as moto matches it."""
    names = request.get("AlarmNames") or None
    name_prefix = request.get("AlarmNamePrefix")
    state = request.get("StateValue")
    action_prefix = request.get("ActionPrefix")

    def wanted(alarm):
        name = str(alarm.get("AlarmName", ""))
        return ((not names or name in names)
                and (not name_prefix or name.startswith(name_prefix))
                and (not state or alarm.get("StateValue") == state)
                and (not action_prefix or any(str(a).startswith(action_prefix) for a in alarm.get("AlarmActions") or [])))

    for key in ("MetricAlarms", "CompositeAlarms"):
        if isinstance(document.get(key), list):
            document[key] = [a for a in document[key] if isinstance(a, dict) and wanted(a)]
    return document


def bridge(proxy, operation):
    """Answers a CloudWatch request in Smithy RPC v2 CBOR by asking moto the same operation in
    awsJson1_0; logged, delayed and faulted like any other request."""
    start = time.monotonic()
    body = proxy.read_body()
    request, document, params, problem = {}, {}, {}, None
    try:
        request = cbor_decode(body) if body else {}
        if not isinstance(request, dict):
            raise CBORError("the input is not a CBOR map")
        params = query_params(request)
        document = cbor_to_json(request)
    except ValueError as e:  # CBORError too
        problem = f"the body is not a CloudWatch input in CBOR: {e}"
    if proxy.headers.get("Smithy-Protocol", "").strip().lower() != "rpc-v2-cbor":
        problem = "an RPC v2 CBOR request needs the header Smithy-Protocol: rpc-v2-cbor"
    elif proxy.headers.get("X-Amz-Target") or proxy.headers.get("X-Amzn-Target"):
        problem = "an RPC v2 CBOR request must not have an X-Amz-Target header"
    fault = proxy.state.fault_for(operation, proxy.headers)
    entry = {"action": operation, "params": params, "start": start, "fault": fault, "bridged": True}
    recorded = record_before(proxy, "monitoring", operation, params)
    time.sleep(proxy.state.latency)
    answer = None  # (status, payload, content type, extra headers), or None to drop
    try:
        if fault in CLOUDWATCH_FAULTS:
            status, code, side, message = CLOUDWATCH_FAULTS[fault]
            answer = cbor_error(status, code, f"{code};{side}", message, f"proxy-{random.getrandbits(32):08x}")
        elif fault == "drop-before":
            pass
        elif problem:
            entry["emulated"] = True
            answer = cbor_error(400, "ValidationException", "ValidationError;Sender", f"ec2_proxy: {problem}",
                                f"proxy-{random.getrandbits(32):08x}")
        else:
            status, headers, payload = upstream_json(proxy, operation, json.dumps(document).encode())
            if fault != "drop-after":
                answer = from_json(operation, request, status, headers, payload)
    finally:
        entry["status"] = answer[0] if answer else None
        entry["end"] = time.monotonic()
        proxy.state.record(entry)
        record_after(proxy, recorded, entry, document)
    if answer is None:
        proxy.drop()
    else:
        proxy.reply(*answer)


def upstream_json(proxy, operation, body):
    """moto's answer to operation in awsJson1_0, asked with the incoming headers (moto checks no
    signature, but routes by the service and region of the Authorization credential scope; an
    unsigned request gets one for monitoring in us-east-1)."""
    dropped = HOP_BY_HOP | {"content-type", "accept", "smithy-protocol", "x-amz-target", "x-amzn-target"}
    headers = {k: v for k, v in proxy.headers.items() if k.lower() not in dropped}
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["X-Amz-Target"] = f"{CLOUDWATCH_TARGET}.{operation}"
    if not any(k.lower() == "authorization" for k in headers):
        day = time.strftime("%Y%m%d", time.gmtime())
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=testing/{day}/us-east-1/monitoring/aws4_request, "
                                    "SignedHeaders=host, Signature=0")
    return proxy.upstream(body, path="/", headers=headers)


def cbor_error(status, shape, query_error, message, request_id, members=None):
    """An RPC v2 CBOR error answer: a CBOR map with __type (the error's absolute shape id) and its
    message member, plus the x-amzn-query-error header (Code;Sender|Receiver) that CloudWatch, being
    awsQueryCompatible, sends and the SDKs take the error code from."""
    document = dict(members or {})
    document["__type"] = f"{CLOUDWATCH_NAMESPACE}#{shape}"
    if message is not None:
        document["Message" if shape in CLOUDWATCH_MESSAGE_MEMBER else "message"] = message
    extra = [("Smithy-Protocol", "rpc-v2-cbor"), ("x-amzn-query-error", query_error), ("x-amzn-RequestId", request_id)]
    return status, cbor_encode(document), "application/cbor", extra


def from_json(operation, request, status, headers, payload):
    """moto's awsJson1_0 answer as an RPC v2 CBOR answer: (status, body, content type, headers)."""
    found = {k.lower(): v for k, v in headers}
    request_id = found.get("x-amzn-requestid") or f"proxy-{random.getrandbits(32):08x}"
    try:
        document = json.loads(payload) if payload.strip() else {}
    except ValueError:
        document = None
    if status == 200 and isinstance(document, dict):
        if operation == "DescribeAlarms":
            document = filter_alarms(document, request)
        extra = [("Smithy-Protocol", "rpc-v2-cbor"), ("x-amzn-RequestId", request_id)]
        if operation in CLOUDWATCH_NO_OUTPUT:
            return 200, b"", None, extra
        return 200, cbor_encode(cloudwatch_output(document)), "application/cbor", extra
    if isinstance(document, dict) and document.get("__type"):
        # "GraniteServiceVersion20100801#ResourceNotFound" from moto: the shape name, as the SDKs read it
        shape = str(document["__type"]).split(":", 1)[0].rsplit("#", 1)[-1]
        message = document.get("message", document.get("Message"))
        side = "Receiver" if status >= 500 else "Sender"
        members = cloudwatch_output({k: v for k, v in document.items() if k not in ("__type", "message", "Message")})
        return cbor_error(status, shape, found.get("x-amzn-query-error") or f"{shape};{side}", message, request_id,
                          members)
    # moto's HTML 500 (an operation it does not implement), or anything else that is not its JSON.
    text = payload[:200].decode("utf-8", "replace")
    return cbor_error(status if status >= 400 else 500, "InternalServiceFault", "InternalServiceError;Receiver",
                      f"ec2_proxy: moto answered HTTP {status} without a JSON document: {text}", request_id)
