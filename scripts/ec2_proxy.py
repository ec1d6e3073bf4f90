#!/usr/bin/env python3
"""A proxy in front of the local EC2 API that adds latency, injects faults and records requests.

The benchmark puts it between the function and moto to give every EC2 request a fixed round
trip (as if AWS were 50 ms away) and to count requests by action and along the critical path.
Auto Scaling requests go through it too, and CloudWatch's in Smithy RPC v2 CBOR (see the bridge
below). The fault-injection tests use it to make EC2 misbehave the ways AWS does:

  throttle     HTTP 503, <Code>RequestLimitExceeded</Code> (Auto Scaling: Throttling; CloudWatch:
               HTTP 400 Throttling); not applied
  unavailable  HTTP 503, <Code>Unavailable</Code> (Auto Scaling and CloudWatch: ServiceUnavailable);
               not applied
  drop-before  the connection closes with no response; the request is not applied
  drop-after   the request is applied upstream, then the connection closes with no response

Faults are seeded and deterministic: whether the n-th request for an action fails, and how,
depends only on (seed, action, n), not on timing or on how parallel requests interleave.

Control API (JSON), never proxied:
  POST /_proxy/outage  {"service": "monitoring", "region": "us-west-2", "action": "DescribeAlarms",
                        "fault": "throttle"}   every request it covers (any field left out
                       covers all; service and region as the request's credential scope says)
                       fails with that fault, until {"clear": true} or /_proxy/config: one
                       region's CloudWatch throttled, a service unavailable
  POST /_proxy/config  {"latency_ms": 50, "fault_rate": 0.3, "seed": 7,
                        "faults": ["throttle", ...]}   applies settings, clears the log, and
                       forgets lifecycle completions, holds, snapshot states, transitions
                       and start failures unless "keep_lifecycle": true; strict mode below
  GET  /_proxy/log     [{"action", "params", "start", "end", "fault", "status"}], times in
                       seconds from a monotonic clock

It also stands in for the two Auto Scaling calls moto does not implement (HTTP 500 there):
  CompleteLifecycleAction         recorded; a second completion of the same (group, hook,
                                  instance) gets AWS's ValidationError "No active Lifecycle Action"
  RecordLifecycleActionHeartbeat  recorded; refused the same way once the action is completed
Both appear in the log like any other request (with "emulated": true), and
GET /_proxy/lifecycle lists the completions: [{"group", "hook", "instance", "result"}].

moto puts every instance straight InService: it never holds one for a hook. The tests and the
demo say which instance a hook holds, as Auto Scaling would have done:
  POST /_proxy/hold  {"group", "hook", "instance", "transition": "launching" | "terminating"}
Until that action is completed, DescribeAutoScalingGroups shows the instance in Pending:Wait (or
Terminating:Wait), putting it back into its group if moto, which terminates at once, dropped it,
and its heartbeat is accepted; without a hold, heartbeats and completions are
accepted as before (an event may well come from a hook moto never saw).

moto completes a snapshot at once; AWS takes minutes. To show a snapshot still being copied:
  POST /_proxy/snapshot  {"snapshot": "snap-...", "state": "pending"}   ("state": null ends it)
and DescribeSnapshots reports that state for it.

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
and refuses, with AWS's HTTP 400 and words, without forwarding (logged like any request, with
"emulated": true):
  AssociateAddress InstanceId pending   InvalidInstanceID "The pending instance 'i-...' is not in
                                        a valid state for this operation."
  AssociateAddress NetworkInterfaceId   IncorrectInstanceState "The pending instance to which
    attached to a pending instance      'eni-...' is attached is not in a valid state for this
                                        operation" (the attachment is asked of moto each time)
  StopInstances naming a pending one    IncorrectInstanceState "Instance 'i-...' cannot be stopped
                                        as it has never reached the 'running' state."
  CreateVolume with Iops for gp2, st1,  InvalidParameterCombination "The parameter iops is not
  sc1 or standard; without Iops for io1   supported for gp2 volumes." / "The parameter iops must be
  or io2; with Throughput but not gp3     specified for io1 volumes." / "throughput can only be
                                          specified for volumeType gp3."
  StartInstances naming a stopping one  IncorrectInstanceState "The instance 'i-...' is not in a
                                        state from which it can be started."
  AttachVolume to an instance that is   IncorrectState "Instance 'i-...' is not 'running'."
    not running (pending, stopped...)
  AttachVolume of a volume in another   InvalidVolume.ZoneMismatch "The volume 'vol-...' is not in
    zone (moto attaches across zones)   the same availability zone as instance 'i-...'"
  AttachVolume of a volume attached     VolumeInUse "vol-... is already attached to an instance"
  DescribeAddresses after a move        shows the address where it was for stale_read_seconds
                                          (config, default 0): EC2's reads are eventually consistent
  ModifyInstanceMetadataOptions         changes only the options it names, as EC2 does (moto resets
                                          the others)
  CreateTags or DeleteTags on a         ConcurrentTagAccess "You can't run simultaneous commands to
    resource whose tags another one is    modify a tag for <id>. ..." (a tag write takes
    changing (moto applies both)          tag_write_seconds, default 0.1, as AWS takes its time)
and an accepted AttachVolume leaves the attachment `attaching` (DescribeVolumes; moto: `attached` at
once) for attaching_seconds (config, default 2), as AWS takes seconds before the instance sees it.
Starts that fail as on AWS, strict or not, until cleared:
  POST /_proxy/capacity  {"instance": "i-...", "failure": "insufficient" | "kms" | null}
    insufficient  StartInstances naming it (while stopped) gets HTTP 500
                  InsufficientInstanceCapacity "We currently do not have sufficient <type>
                  capacity in the Availability Zone you requested (<zone>). ..."; not forwarded
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
The function reaches an instance at its private address, in its VPC; on this machine the service
a test or demo stands up listens on loopback instead. The proxy plays the VPC's network:
  POST /_proxy/network  {"instance": "i-...", "private_ip": "127.0.0.2"}   ("private_ip": null clears)
and DescribeInstances shows that address as the instance's privateIpAddress (kept across
/_proxy/config, like the network it stands for).
A Spot instance (moto shows none as such):
  POST /_proxy/spot  {"instance": "i-...", "type": "one-time" | "persistent"}   ("type": null clears)
and DescribeInstances shows its instanceLifecycle spot and spotInstanceRequestId, DescribeSpotInstanceRequests
answers its request (by id or instance-id filter), and StopInstances naming an instance of a one-time
request is refused: UnsupportedOperation "You can't stop the Spot Instance 'i-...' because it is
associated with a one-time Spot Instance request. ..." (kept across /_proxy/config).
AssignPrivateIpAddresses honours AllowReassignment, which moto ignores: with it an address held by
another interface is unassigned there first; without it the request is refused
(InvalidIPAddress.InUse). An address outside the interface's subnet is refused
(InvalidParameterValue "Address ... does not fall within the subnet's address range"), as EC2 does. DescribeNetworkInterfaces' addresses.private-ip-address filter matches
secondary addresses too, as EC2's does (moto's, the primary one only).
AWS takes its time; the tests need not. Where AWS would simply take time, tests call
  POST /_proxy/settle    {"instances": ["i-...", "vol-..."]} ({} for all)   ends their transitions
                       now: pending -> running, stopping -> stopped, initializing -> ok, kms ->
                       stopped, a volume's attachment attaching -> attached
  GET  /_proxy/instances {"i-...": {"state", "until", "checks", "checks_until", "reason",
                       "failure"}} what the overlay shows now (times as in the log; null: none)
POST /_proxy/config forgets transitions and start failures as it forgets holds (keep_lifecycle
keeps them); strict=false forwards and answers as moto does.

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

Recording for the IAM checker (scripts/iamcheck, `make iam-check`). Off by default, and then it costs
nothing; with --record DIR or EC2_PROXY_RECORD_DIR=DIR (inherited by the proxies the tests start) the
proxy appends one JSON line per request it serves to DIR/<pid>-<port>.jsonl:
  {"kind": "request", "seq", "time", "service": ec2 | autoscaling | monitoring, "action", "params" (the
   Query form's, or for CloudWatch its input flattened as in the log, plus "document", the decoded
   input), "access_key" and "region" (from the SigV4 Authorization header's credential), "status",
   "fault", "emulated", "state"}
"state" is what the request acts on, read from moto before the request is forwarded (nothing for
Describe, Get and List actions): for each resource it names ({"instance", "volume", "snapshot",
"address", "network_interface", "route_table", "autoscaling_group"}: {id: facts}) its tags and what IAM conditions
use: an instance's VPC, subnet, zone, type and network interfaces (for StartInstances also its
volumes); a volume's zone, encryption, KMS key (and the key's aliases: alias/aws/ebs is the AWS
managed key), snapshot, type, size, IOPS, throughput and attachments; a snapshot's volume,
encryption, key and owner; an address's allocation id, public IP and association; an interface's
VPC, subnet, zone and instance; an Auto Scaling group's ARN. moto drops the key of a snapshot and of
a volume restored from one; AWS keeps its source's, and so does the record. {"missing": true} for
what moto does not know.
  POST /_proxy/deployment  {"access_key": "AKIDFUNCTION...", "template": "template.yaml" |
                       "template-group.yaml", "parameters": {template parameter: value},
                       "stack_name": "...", "source": "tests/e2e.rs some_test",
                       "deployed_policies": [{PolicyName, PolicyDocument}] (optional: the
                       role's policies as a deployed stack holds them)}   says which deployed
                       function signs with that key: one {"kind": "deployment", ...} line, which
                       holds for that key's later requests in the same file. Answers {"recorded":
                       true | false}. Requests signed by other keys (the set-up's `testing`) are
                       recorded and not checked.

Only the standard library, so any python3 runs it:
  python3 scripts/ec2_proxy.py --upstream http://127.0.0.1:5000 --port 5001 [--record DIR]
"""

import argparse
import base64
import collections
import datetime
import fnmatch
import http.client
import ipaddress
import json
import os
import random
import re
import struct
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

FAULTS = ("throttle", "unavailable", "drop-before", "drop-after")
LIFECYCLE = ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat")
AUTOSCALING_OK = (
    '<{action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><{action}Result/>'
    "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
)
AUTOSCALING_ERROR = (
    '<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
)
WAIT_STATES = {"launching": "Pending:Wait", "terminating": "Terminating:Wait"}
INNER_MEMBER = re.compile(r"<member>((?:(?!<member>|</member>).)*)</member>", re.S)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer", "upgrade"}
ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
)
# Strict mode: instance state codes, the state reasons AWS gives, and the start failures.
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
PENDING_REASON = ("pending", "pending")
KMS_REASON = ("Client.InternalError", "Client.InternalError: Client error on launch")
START_FAILURES = ("insufficient", "kms")
# EC2 User Guide, "Scheduled events for Amazon EC2 instances": the event types.
SCHEDULED_CODES = ("instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop")
STRICT_DEFAULTS = {"strict": True, "pending_seconds": 2.0, "stopping_seconds": 2.0, "initializing_seconds": 4.0,
                   "attaching_seconds": 2.0, "tag_write_seconds": 0.1, "stale_read_seconds": 0.0}
STATE_FILTERS = ("instance-state-name", "instance-state-code")
ITEM_TAG = re.compile(r"<item>|</item>|<item/>")


# CBOR (RFC 8949) for the CloudWatch bridge: the whole format as far as decoding goes (major types
# 0-7, indefinite-length strings, arrays and maps, half/single/double floats, simple values, tags;
# bignum tags 2 and 3 decode to int), and an encoder for the values the decoder gives back.


class CBORError(ValueError):
    """Bytes that are not one well-formed CBOR data item (or a value CBOR cannot carry)."""


class Tagged(collections.namedtuple("Tagged", "tag value")):
    """A tagged data item (major type 6), e.g. Tagged(1, 1363896240.5), an epoch timestamp. The
    bignum tags 2 and 3 decode to plain int instead."""


class Simple(collections.namedtuple("Simple", "value")):
    """A simple value with no Python equivalent: 0-19 and 32-255 (20-23 are False, True, None and
    UNDEFINED)."""


class _Undefined:
    """CBOR's undefined (0xf7), as distinct from null (None). Falsy."""

    def __repr__(self):
        return "UNDEFINED"

    def __bool__(self):
        return False


UNDEFINED = _Undefined()
_BREAK = object()  # the 0xff that ends an indefinite-length item; never a value
_MAX_DEPTH = 256


def cbor_decode(data):
    """The data item that data (bytes) holds; CBORError unless it is exactly one well-formed item."""
    data = bytes(data)
    value, pos = _cbor_item(data, 0, 0)
    if value is _BREAK:
        raise CBORError("a break (0xff) outside any indefinite-length item")
    if pos != len(data):
        raise CBORError(f"{len(data) - pos} bytes after the data item")
    return value


def _cbor_head(data, pos):
    """(major type, additional information, argument (None: indefinite length), next position)."""
    if pos >= len(data):
        raise CBORError(f"truncated: a data item was expected at byte {pos}")
    major, info = data[pos] >> 5, data[pos] & 0x1F
    if info < 24:
        return major, info, info, pos + 1
    if info <= 27:
        end = pos + 1 + (1 << (info - 24))
        if end > len(data):
            raise CBORError(f"truncated: the argument of the item at byte {pos} runs past the end")
        return major, info, int.from_bytes(data[pos + 1:end], "big"), end
    if info == 31 and major in (2, 3, 4, 5, 7):
        return major, info, None, pos + 1
    raise CBORError(f"additional information {info} is not well-formed for major type {major} (byte {pos})")


def _cbor_item(data, pos, depth):
    """(value, next position); the value is _BREAK for a break code, which callers check for."""
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    at = pos
    major, info, arg, pos = _cbor_head(data, pos)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        if arg is None:
            chunks = []
            while True:
                if pos < len(data) and data[pos] == 0xFF:
                    pos += 1
                    break
                chunk_major, _, length, pos = _cbor_head(data, pos)
                if chunk_major != major or length is None:
                    raise CBORError(f"a chunk of the indefinite-length string at byte {at} is not a definite "
                                    f"{'byte' if major == 2 else 'text'} string")
                chunk, pos = _cbor_bytes(data, pos, length)
                chunks.append(chunk if major == 2 else _cbor_text(chunk, at))
            return (b"" if major == 2 else "").join(chunks), pos
        raw, pos = _cbor_bytes(data, pos, arg)
        return (raw if major == 2 else _cbor_text(raw, at)), pos
    if major == 4:
        items = []
        while arg is None or len(items) < arg:
            item, pos = _cbor_item(data, pos, depth + 1)
            if item is _BREAK:
                if arg is None:
                    break
                raise CBORError(f"a break inside the definite-length array at byte {at}")
            items.append(item)
        return items, pos
    if major == 5:
        pairs, count = {}, 0
        while arg is None or count < arg:
            key, pos = _cbor_item(data, pos, depth + 1)
            if key is _BREAK:
                if arg is None:
                    break
                raise CBORError(f"a break inside the definite-length map at byte {at}")
            value, pos = _cbor_item(data, pos, depth + 1)
            if value is _BREAK:
                raise CBORError(f"a map key without a value in the map at byte {at}")
            if isinstance(key, list):
                key = tuple(key)
            try:
                if key in pairs:
                    raise CBORError(f"duplicate key {key!r} in the map at byte {at}")
            except TypeError:
                raise CBORError(f"a map key that cannot be a Python key (a map) at byte {at}") from None
            pairs[key] = value
            count += 1
        return pairs, pos
    if major == 6:
        value, pos = _cbor_item(data, pos, depth + 1)
        if value is _BREAK:
            raise CBORError(f"a tag without content at byte {at}")
        if arg in (2, 3) and isinstance(value, bytes):  # bignums
            n = int.from_bytes(value, "big")
            return (n if arg == 2 else -1 - n), pos
        return Tagged(arg, value), pos
    # major 7
    if info == 31:
        return _BREAK, pos
    if info < 24:
        return {20: False, 21: True, 22: None, 23: UNDEFINED}.get(info, Simple(info)), pos
    if info == 24:
        if arg < 32:
            raise CBORError(f"simple value {arg} in two bytes is not well-formed (byte {at})")
        return Simple(arg), pos
    fmt, size = {25: (">e", 2), 26: (">f", 4), 27: (">d", 8)}[info]
    return struct.unpack(fmt, arg.to_bytes(size, "big"))[0], pos


def _cbor_bytes(data, pos, length):
    end = pos + length
    if end > len(data):
        raise CBORError(f"truncated: a string of {length} bytes at byte {pos} runs past the end")
    return data[pos:end], end


def _cbor_text(raw, at):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CBORError(f"a text string that is not UTF-8 at byte {at}") from None


def cbor_encode(value, floats="double"):
    """The CBOR bytes of value: None, UNDEFINED, bool, int (beyond 64 bits as bignum tag 2/3),
    float, str, bytes, list/tuple, dict, Tagged, Simple. Lengths are definite and arguments as short
    as they can be. floats="double" writes every float in 8 bytes (the bridge: the Smithy RPC v2 spec
    says not to send half precision); floats="shortest" writes the shortest of half/single/double
    that keeps the value (RFC 8949's preferred serialization, as in its Appendix A)."""
    if floats not in ("double", "shortest"):
        raise ValueError('floats is "double" or "shortest"')
    out = bytearray()
    _cbor_put(out, value, floats, 0)
    return bytes(out)


def _cbor_put_head(out, major, n):
    if n < 24:
        out.append(major << 5 | n)
    elif n < 0x100:
        out += bytes((major << 5 | 24, n))
    elif n < 0x10000:
        out.append(major << 5 | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(major << 5 | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += n.to_bytes(8, "big")


def _cbor_put(out, value, floats, depth):
    if depth > _MAX_DEPTH:
        raise CBORError("nested too deeply")
    if value is None:
        out.append(0xF6)
    elif value is UNDEFINED:
        out.append(0xF7)
    elif value is True or value is False:
        out.append(0xF5 if value else 0xF4)
    elif isinstance(value, int):
        major, n = (0, value) if value >= 0 else (1, -1 - value)
        if n < 1 << 64:
            _cbor_put_head(out, major, n)
        else:  # bignum: tag 2 (unsigned) or 3 (negative) over the big-endian bytes of n
            _cbor_put_head(out, 6, 2 + major)
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            _cbor_put_head(out, 2, len(raw))
            out += raw
    elif isinstance(value, float):
        if floats == "shortest":
            if value != value:
                out += b"\xf9\x7e\x00"  # NaN
                return
            for fmt, info in ((">e", 25), (">f", 26)):
                try:
                    packed = struct.pack(fmt, value)
                except (OverflowError, struct.error):
                    continue
                if struct.unpack(fmt, packed)[0] == value:
                    out.append(0xE0 | info)
                    out += packed
                    return
        out.append(0xFB)
        out += struct.pack(">d", value)
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        _cbor_put_head(out, 3, len(raw))
        out += raw
    elif isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        _cbor_put_head(out, 2, len(raw))
        out += raw
    elif isinstance(value, Tagged):
        _cbor_put_head(out, 6, value.tag)
        _cbor_put(out, value.value, floats, depth + 1)
    elif isinstance(value, Simple):
        if not (0 <= value.value < 20 or 32 <= value.value < 256):
            raise CBORError(f"no simple value {value.value}")
        _cbor_put_head(out, 7, value.value)
    elif isinstance(value, (list, tuple)):
        _cbor_put_head(out, 4, len(value))
        for item in value:
            _cbor_put(out, item, floats, depth + 1)
    elif isinstance(value, dict):
        _cbor_put_head(out, 5, len(value))
        for key, item in value.items():
            _cbor_put(out, key, floats, depth + 1)
            _cbor_put(out, item, floats, depth + 1)
    else:
        raise CBORError(f"CBOR cannot carry a {type(value).__name__}")


# The CloudWatch bridge: Smithy RPC v2 CBOR in front of moto's awsJson1_0.

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


class State:
    """Settings, counters and the request log, shared by all connection threads."""

    recorder = None  # a Recorder when requests are recorded for the IAM checker (--record)

    def __init__(self, upstream, latency_ms=0.0, fault_rate=0.0, seed=0, faults=FAULTS):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.lock = threading.Lock()
        # instance -> the private address DescribeInstances shows (POST /_proxy/network)
        self.network = {}
        # instance -> {"request": "sir-...", "type": "one-time" | "persistent"} (POST /_proxy/spot)
        self.spot = {}
        self.configure({"latency_ms": latency_ms, "fault_rate": fault_rate, "seed": seed, "faults": list(faults)})

    def configure(self, settings):
        faults = settings.get("faults", list(FAULTS))
        unknown = [f for f in faults if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown faults {unknown}; known: {list(FAULTS)}")
        strict = settings.get("strict", STRICT_DEFAULTS["strict"])
        if not isinstance(strict, bool):
            raise ValueError("strict is true or false")
        seconds = []
        for name in ("pending_seconds", "stopping_seconds", "initializing_seconds", "attaching_seconds",
                     "tag_write_seconds", "stale_read_seconds"):
            value = float(settings.get(name, STRICT_DEFAULTS[name]))
            if not value >= 0:
                raise ValueError(f"{name} is a number of seconds, 0 or more")
            seconds.append(value)
        with self.lock:
            self.latency = float(settings.get("latency_ms", 0)) / 1000.0
            self.fault_rate = float(settings.get("fault_rate", 0))
            self.seed = settings.get("seed", 0)
            self.faults = faults
            self.counts = {}
            self.log = []
            self.strict = strict
            (self.pending_seconds, self.stopping_seconds, self.initializing_seconds, self.attaching_seconds,
             self.tag_write_seconds, self.stale_read_seconds) = seconds
            # allocation id -> (its DescribeAddresses item before the last move, until when it shows)
            self.stale = {}
            # resources whose tags a CreateTags or DeleteTags is changing now
            self.tagging = set()
            # [{"service", "region", "action", "fault"}]: every request they cover fails (POST /_proxy/outage)
            self.outages = []
            if not settings.get("keep_lifecycle") or not hasattr(self, "holds"):
                self.completions = []
                self.holds = []
                self.snapshot_states = {}
                # instance -> {"kind": "start" | "stop" | "kms", "until", "checks_until"}
                self.overlay = {}
                # instance -> "insufficient" | "kms"
                self.failures = {}
                # volume -> when its attachment stops showing `attaching` (monotonic seconds)
                self.attaching = {}
                # instance -> [{"code", "not_before", "description"}]: EC2's scheduled events
                self.scheduled = {}

    def fault_for(self, action, headers=None):
        """The fault for the next request of this action, or None: an outage that covers it (its
        service and region read from the request's credential scope), else the seeded faults."""
        region, service = credential_scope(headers)
        with self.lock:
            n = self.counts.get(action, 0)
            self.counts[action] = n + 1
            for outage in self.outages:
                if all(outage.get(k) in (None, v) for k, v in (("service", service), ("region", region),
                                                               ("action", action))):
                    return outage["fault"]
            if not self.faults or self.fault_rate <= 0:
                return None
            rng = random.Random(f"{self.seed}/{action}/{n}")
            if rng.random() >= self.fault_rate:
                return None
            return rng.choice(self.faults)

    def record(self, entry):
        with self.lock:
            self.log.append(entry)

    # The overlay: what strict mode shows instead of moto's state. Callers hold the lock.

    def view(self, instance, now):
        """(state, checks, reason, until, checks_until) the overlay shows for an instance now, or
        None where moto's own state is right. Transitions that ended are forgotten."""
        entry = self.overlay.get(instance)
        if entry is None:
            return None
        kind, until = entry["kind"], entry["until"]
        if kind == "start":
            if now < until:
                return "pending", "initializing", PENDING_REASON, until, entry["checks_until"]
            if now < entry["checks_until"]:
                return "running", "initializing", None, None, entry["checks_until"]
        elif kind == "stop":
            if now < until:
                return "stopping", "not-applicable", None, until, None
        elif kind == "kms":
            if now < until:
                return "pending", "initializing", PENDING_REASON, until, until
            # Stopped again, and the reason stays until the instance is next started or stopped.
            return "stopped", "not-applicable", KMS_REASON, None, None
        del self.overlay[instance]
        return None

    def shown(self, instance, now):
        """The state the overlay shows for an instance, or None."""
        view = self.view(instance, now)
        return view[0] if view else None

    def begin(self, instance, kind, now):
        """Starts a transition of an instance: a start (pending), a stop (stopping) or a start
        that a KMS key will fail (pending, then stopped)."""
        if kind == "stop":
            self.overlay[instance] = {"kind": kind, "until": now + self.stopping_seconds}
        else:
            until = now + self.pending_seconds
            checks_until = until + self.initializing_seconds if kind == "start" else until
            self.overlay[instance] = {"kind": kind, "until": until, "checks_until": checks_until}

    def settle(self, instances, now):
        """Ends every transition of these instances and volume attachments (None: all) now;
        returns those it ended."""
        settled = []
        for volume in list(self.attaching if instances is None else instances):
            if self.attaching.pop(volume, None) is not None:
                settled.append(volume)
        for instance in list(self.overlay if instances is None else instances):
            entry = self.overlay.get(instance)
            if entry is None:
                continue
            if entry["kind"] == "kms":
                entry["until"] = entry["checks_until"] = min(entry["until"], now)
            else:
                del self.overlay[instance]
            settled.append(instance)
        return settled

    def instances(self, now):
        """The overlay and the start failures, for GET /_proxy/instances."""
        shown = {}
        for instance in sorted(set(self.overlay) | set(self.failures)):
            view = self.view(instance, now)
            state, checks, reason, until, checks_until = view or (None, None, None, None, None)
            shown[instance] = {"state": state, "until": until, "checks": checks, "checks_until": checks_until,
                               "reason": list(reason) if reason else None, "failure": self.failures.get(instance)}
        return shown


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the body would wait for the
    # client's delayed ACK (40 ms on Linux), a delay that real EC2 does not add.
    disable_nagle_algorithm = True
    state: State = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path in ("/_proxy/log", "/_proxy/lifecycle"):
            with self.state.lock:
                data = self.state.log if self.path == "/_proxy/log" else self.state.completions
                body = json.dumps(data).encode()
            return self.reply(200, body, "application/json")
        if self.path == "/_proxy/instances":
            with self.state.lock:
                body = json.dumps(self.state.instances(time.monotonic())).encode()
            return self.reply(200, body, "application/json")
        self.forward()

    def do_POST(self):
        if self.path == "/_proxy/hold":
            try:
                hold = json.loads(self.read_body() or b"{}")
                if hold.get("transition") not in WAIT_STATES or not all(hold.get(k) for k in ("group", "hook", "instance")):
                    raise ValueError("a hold needs group, hook, instance and transition (launching | terminating)")
            except (ValueError, TypeError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                self.state.holds.append(hold)
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/snapshot":
            try:
                change = json.loads(self.read_body() or b"{}")
                snapshot, state = change["snapshot"], change.get("state")
                if not str(snapshot).startswith("snap-") or state not in (None, "pending", "completed", "error"):
                    raise ValueError("a snapshot state needs snapshot (snap-...) and state (pending, completed, error or null)")
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if state is None:
                    self.state.snapshot_states.pop(snapshot, None)
                else:
                    self.state.snapshot_states[snapshot] = state
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/scheduled-event":
            try:
                event = json.loads(self.read_body() or b"{}")
                instance, code = event["instance"], event.get("code")
                if not str(instance).startswith("i-") or code not in (None, *SCHEDULED_CODES):
                    raise ValueError(f"a scheduled event needs instance (i-...) and code ({', '.join(SCHEDULED_CODES)} or null)")
                not_before = float(event.get("not_before", time.time()))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if code is None:
                    self.state.scheduled.pop(instance, None)
                else:
                    self.state.scheduled.setdefault(instance, []).append(
                        {"code": code, "not_before": not_before, "description": event.get("description", "")})
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/network":
            try:
                change = json.loads(self.read_body() or b"{}")
                instance, address = change["instance"], change.get("private_ip")
                if not str(instance).startswith("i-") or not (address is None or ipaddress.ip_address(address)):
                    raise ValueError("a network change needs instance (i-...) and private_ip (an address or null)")
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if address is None:
                    self.state.network.pop(instance, None)
                else:
                    self.state.network[instance] = address
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/spot":
            try:
                change = json.loads(self.read_body() or b"{}")
                instance, kind = change["instance"], change.get("type")
                if not str(instance).startswith("i-") or kind not in (None, "one-time", "persistent"):
                    raise ValueError("a Spot change needs instance (i-...) and type (one-time, persistent or null)")
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if kind is None:
                    self.state.spot.pop(instance, None)
                else:
                    self.state.spot[instance] = {"request": f"sir-{instance[2:10]}", "type": kind}
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/capacity":
            try:
                change = json.loads(self.read_body() or b"{}")
                instance, failure = change["instance"], change.get("failure")
                if not str(instance).startswith("i-") or failure not in (None, *START_FAILURES):
                    raise ValueError("a start failure needs instance (i-...) and failure (insufficient, kms or null)")
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                if failure is None:
                    self.state.failures.pop(instance, None)
                else:
                    self.state.failures[instance] = failure
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/settle":
            try:
                instances = json.loads(self.read_body() or b"{}").get("instances")
                if instances is not None and (not isinstance(instances, list)
                                              or not all(isinstance(i, str) for i in instances)):
                    raise ValueError('settle takes {"instances": ["i-...", ...]}, or {} for all')
            except (ValueError, TypeError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                settled = self.state.settle(instances, time.monotonic())
            return self.reply(200, json.dumps({"settled": settled}).encode(), "application/json")
        if self.path == "/_proxy/deployment":
            return register_deployment(self)
        if self.path == "/_proxy/outage":
            try:
                outage = json.loads(self.read_body() or b"{}")
                if outage.get("clear"):
                    with self.state.lock:
                        self.state.outages = []
                    return self.reply(200, b"{}", "application/json")
                if outage.get("fault") not in ("throttle", "unavailable", "drop-before"):
                    raise ValueError("an outage's fault is throttle, unavailable or drop-before")
                unknown = set(outage) - {"service", "region", "action", "fault"}
                if unknown:
                    raise ValueError(f"an outage names service, region, action and fault, not {sorted(unknown)}")
            except (ValueError, TypeError, AttributeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            with self.state.lock:
                self.state.outages.append(outage)
            return self.reply(200, b"{}", "application/json")
        if self.path == "/_proxy/config":
            try:
                self.state.configure(json.loads(self.read_body() or b"{}"))
            except (ValueError, TypeError) as e:
                return self.reply(400, str(e).encode(), "text/plain")
            return self.reply(200, b"{}", "application/json")
        operation = rpcv2_operation(self.path)
        if operation:
            return self.bridge(operation)
        self.forward()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status, body, content_type, extra=()):
        """Sends an answer; content_type None: no Content-Type header (an empty RPC v2 answer)."""
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        """Closes the connection without a response, as a network failure would."""
        self.close_connection = True

    def forward(self):
        start = time.monotonic()
        body = self.read_body()
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or ["?"])[0]
        fault = self.state.fault_for(action, self.headers)
        params = {k: v[0] for k, v in form.items() if k not in ("Action", "Version")}
        recorded = record_before(self, "ec2", action, params)
        entry = {"action": action, "params": params, "start": start, "fault": fault}
        time.sleep(self.state.latency)
        # The answer is prepared first and the request logged before it is sent, so that whoever
        # reads the log after the client got its answer finds the request there.
        answer = None  # (status, payload, content type, extra headers), or None to drop
        try:
            if fault in ("throttle", "unavailable"):
                request_id = f"proxy-{random.getrandbits(32):08x}"
                if "/autoscaling/" in self.headers.get("Authorization", ""):
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
                answer = (503, xml.encode(), "text/xml;charset=UTF-8", [])
            elif fault == "drop-before":
                pass
            elif action in LIFECYCLE:
                status, xml = self.lifecycle(action, params)
                entry["emulated"] = True
                if fault != "drop-after":
                    answer = (status, xml.encode(), "text/xml", [])
            else:
                status, headers, payload, emulated = self.ec2(action, body)
                if emulated:
                    entry["emulated"] = True
                if action == "DescribeAutoScalingGroups" and status == 200:
                    payload = self.show_holds(payload)
                if action == "DescribeSnapshots" and status == 200:
                    payload = self.show_snapshot_states(payload)
                if fault != "drop-after":
                    content_type = "text/xml"
                    extra = []
                    for name, value in headers:
                        if name.lower() == "content-type":
                            content_type = value
                        elif name.lower() not in HOP_BY_HOP:
                            extra.append((name, value))
                    answer = (status, payload, content_type, extra)
        finally:
            entry["status"] = answer[0] if answer else None
            entry["end"] = time.monotonic()
            self.state.record(entry)
            record_after(self, recorded, entry)
        if answer is None:
            self.drop()
        else:
            self.reply(*answer)

    # The CloudWatch bridge: Smithy RPC v2 CBOR in, awsJson1_0 to moto, CBOR out.

    def bridge(self, operation):
        """Answers a CloudWatch request in Smithy RPC v2 CBOR by asking moto the same operation in
        awsJson1_0; logged, delayed and faulted like any other request."""
        start = time.monotonic()
        body = self.read_body()
        request, document, params, problem = {}, {}, {}, None
        try:
            request = cbor_decode(body) if body else {}
            if not isinstance(request, dict):
                raise CBORError("the input is not a CBOR map")
            params = query_params(request)
            document = cbor_to_json(request)
        except ValueError as e:  # CBORError too
            problem = f"the body is not a CloudWatch input in CBOR: {e}"
        if self.headers.get("Smithy-Protocol", "").strip().lower() != "rpc-v2-cbor":
            problem = "an RPC v2 CBOR request needs the header Smithy-Protocol: rpc-v2-cbor"
        elif self.headers.get("X-Amz-Target") or self.headers.get("X-Amzn-Target"):
            problem = "an RPC v2 CBOR request must not have an X-Amz-Target header"
        fault = self.state.fault_for(operation, self.headers)
        entry = {"action": operation, "params": params, "start": start, "fault": fault, "bridged": True}
        recorded = record_before(self, "monitoring", operation, params)
        time.sleep(self.state.latency)
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
                status, headers, payload = self.upstream_json(operation, json.dumps(document).encode())
                if fault != "drop-after":
                    answer = from_json(operation, request, status, headers, payload)
        finally:
            entry["status"] = answer[0] if answer else None
            entry["end"] = time.monotonic()
            self.state.record(entry)
            record_after(self, recorded, entry, document)
        if answer is None:
            self.drop()
        else:
            self.reply(*answer)

    def upstream_json(self, operation, body):
        """moto's answer to operation in awsJson1_0, asked with the incoming headers (moto checks no
        signature, but routes by the service and region of the Authorization credential scope; an
        unsigned request gets one for monitoring in us-east-1)."""
        dropped = HOP_BY_HOP | {"content-type", "accept", "smithy-protocol", "x-amz-target", "x-amzn-target"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["X-Amz-Target"] = f"{CLOUDWATCH_TARGET}.{operation}"
        if not any(k.lower() == "authorization" for k in headers):
            day = time.strftime("%Y%m%d", time.gmtime())
            headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential=testing/{day}/us-east-1/monitoring/aws4_request, "
                                        "SignedHeaders=host, Signature=0")
        return self.upstream(body, path="/", headers=headers)

    def lifecycle(self, action, params):
        """Auto Scaling's answer to a lifecycle call moto does not implement."""
        key = (params.get("AutoScalingGroupName"), params.get("LifecycleHookName"), params.get("InstanceId"))
        request_id = f"proxy-{random.getrandbits(32):08x}"
        with self.state.lock:
            done = any((c["group"], c["hook"], c["instance"]) == key for c in self.state.completions)
            if not done and action == "CompleteLifecycleAction":
                self.state.completions.append({"group": key[0], "hook": key[1], "instance": key[2],
                                               "result": params.get("LifecycleActionResult")})
        if done:
            message = f"No active Lifecycle Action found with instance ID {key[2]}"
            return 400, AUTOSCALING_ERROR.format(code="ValidationError", message=message, request_id=request_id)
        return 200, AUTOSCALING_OK.format(action=action, request_id=request_id)

    def show_holds(self, payload):
        """Puts each instance a hook still holds in its wait state, as Auto Scaling would show it."""
        with self.state.lock:
            done = {(c["group"], c["hook"], c["instance"]) for c in self.state.completions}
            waiting = {h["instance"]: WAIT_STATES[h["transition"]] for h in self.state.holds
                       if (h["group"], h["hook"], h["instance"]) not in done}
        if not waiting:
            return payload

        def member(m):
            inner = m.group(1)
            found = re.search(r"<InstanceId>([^<]+)</InstanceId>", inner)
            if found and found.group(1) in waiting and "<LifecycleState>" in inner:
                state = waiting[found.group(1)]
                inner = re.sub(r"<LifecycleState>[^<]*</LifecycleState>", f"<LifecycleState>{state}</LifecycleState>", inner)
            return f"<member>{inner}</member>"

        text = INNER_MEMBER.sub(member, payload.decode())
        # moto terminates an instance at once and drops it from its group; AWS keeps it there, in
        # Terminating:Wait (or Pending:Wait), until the hook is completed. Held instances moto no
        # longer lists are put back into their group's Instances.
        with self.state.lock:
            held = [(h["group"], h["instance"], WAIT_STATES[h["transition"]]) for h in self.state.holds
                    if (h["group"], h["hook"], h["instance"]) not in done]
        for group, instance, state in held:
            start = text.find(f"<AutoScalingGroupName>{group}</AutoScalingGroupName>")
            if start < 0:
                continue
            end = text.find("<AutoScalingGroupName>", start + 1)
            section = text[start:] if end < 0 else text[start:end]
            if f"<InstanceId>{instance}</InstanceId>" in section:
                continue
            entry = (f"<member><InstanceId>{instance}</InstanceId><LifecycleState>{state}</LifecycleState>"
                     "<HealthStatus>Healthy</HealthStatus><ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>")
            if "<Instances/>" in section:
                section = section.replace("<Instances/>", f"<Instances>{entry}</Instances>", 1)
            elif "<Instances>" in section:
                section = section.replace("<Instances>", f"<Instances>{entry}", 1)
            else:
                continue
            text = text[:start] + section + ("" if end < 0 else text[end:])
        return text.encode()

    def show_snapshot_states(self, payload):
        """Reports the snapshot states the tests set in place of moto's instant `completed`."""
        with self.state.lock:
            states = dict(self.state.snapshot_states)
        text = payload.decode()
        for snapshot, state in states.items():
            # The snapshot's own status is the first one after its id, before any other snapshot's id.
            pattern = rf"(<snapshotId>{re.escape(snapshot)}</snapshotId>(?:(?!<snapshotId>).)*?<status>)[^<]*(</status>)"
            text = re.sub(pattern, rf"\g<1>{state}\g<2>", text, flags=re.S)
        return text.encode()

    # Strict mode: EC2's states, refusals and start failures over moto's instant ones.

    def ec2(self, action, body):
        """The answer to a request other than a lifecycle call: moto's, made strict where the
        action needs it. (status, headers, payload, emulated: answered without moto)."""
        handler = {
            "StartInstances": self.start_instances,
            "StopInstances": self.stop_instances,
            "TerminateInstances": self.terminate_instances,
            "AssociateAddress": self.associate_address,
            "AssignPrivateIpAddresses": self.assign_private_ip_addresses,
            "DescribeNetworkInterfaces": self.describe_network_interfaces,
            "CreateVolume": self.create_volume,
            "AttachVolume": self.attach_volume,
            "DescribeVolumes": self.describe_volumes,
            "DescribeInstances": self.describe_instances,
            "DescribeInstanceStatus": self.describe_instance_status,
            "DescribeSpotInstanceRequests": self.describe_spot_instance_requests,
            "DescribeAddresses": self.describe_addresses,
            "ModifyInstanceMetadataOptions": self.modify_instance_metadata_options,
            "CreateTags": self.tag_write,
            "DeleteTags": self.tag_write,
        }.get(action)
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        if handler is None or dict(pairs).get("DryRun", "").lower() == "true":
            return (*self.upstream(body), False)
        return handler(pairs, body)

    def ask(self, pairs, action, params):
        """Asks moto something the proxy needs to know, with the incoming request's headers (moto
        checks no signature). Not logged; nothing it says is kept."""
        version = dict(pairs).get("Version", "2016-11-15")
        return self.upstream(urllib.parse.urlencode([("Action", action), ("Version", version), *params]).encode())

    def refuse(self, status, code, message):
        request_id = f"proxy-{random.getrandbits(32):08x}"
        xml = ERROR_XML.format(code=code, message=escape(message), request_id=request_id)
        return status, [("Content-Type", "text/xml;charset=UTF-8")], xml.encode(), True

    def tag_write(self, pairs, body):
        """CreateTags, DeleteTags: EC2 refuses a tag change on a resource whose tags another request
        is changing ("ConcurrentTagAccess", EC2 API Reference, "Error codes for the Amazon EC2
        API"); moto applies both. A write holds its resources for tag_write_seconds."""
        resources = members(pairs, "ResourceId")
        with self.state.lock:
            strict, hold = self.state.strict, self.state.tag_write_seconds
            busy = [r for r in resources if r in self.state.tagging]
            if strict and not busy:
                self.state.tagging.update(resources)
        if not strict:
            return (*self.upstream(body), False)
        if busy:
            return self.refuse(400, "ConcurrentTagAccess",
                               f"You can't run simultaneous commands to modify a tag for {busy[0]}. Allow sufficient "
                               "wait time for the previous request to complete, then retry your request.")
        try:
            time.sleep(hold)
            return (*self.upstream(body), False)
        finally:
            with self.state.lock:
                self.state.tagging.difference_update(resources)

    def start_instances(self, pairs, body):
        ids = members(pairs, "InstanceId")
        with self.state.lock:
            now = time.monotonic()
            strict = self.state.strict
            shown = {i: self.state.shown(i, now) for i in ids}
            failures = {i: self.state.failures[i] for i in ids if i in self.state.failures}
        if strict:
            for i in ids:
                if shown[i] == "stopping":
                    return self.refuse(400, "IncorrectInstanceState",
                                       f"The instance '{i}' is not in a state from which it can be started.")
        kms = []
        if failures:
            # A start fails only from stopped; moto knows each instance's state, type and zone.
            status, headers, payload = self.ask(pairs, "DescribeInstances",
                                                [(f"InstanceId.{n}", i) for n, i in enumerate(failures, 1)])
            if status != 200:
                return status, headers, payload, False
            facts = {}
            rewrite_set(payload.decode(), "instancesSet", lambda item: facts.update({own(item, "instanceId"): item}))
            for i, failure in failures.items():
                item = facts.get(i)
                if item is None or shown_state(item)[0] != "stopped":
                    continue
                if failure == "insufficient":
                    return self.refuse(500, "InsufficientInstanceCapacity",
                                       capacity_message(own(item, "instanceType"), own(item, "availabilityZone")))
                kms.append(i)
        rest = [i for i in ids if i not in kms]
        previous = {}
        if rest:
            if kms:
                body = urllib.parse.urlencode(
                    [(k, v) for k, v in pairs if not re.fullmatch(r"InstanceId\.\d+", k)]
                    + [(f"InstanceId.{n}", i) for n, i in enumerate(rest, 1)]).encode()
            status, headers, payload = self.upstream(body)
            if status != 200:
                return status, headers, payload, False
            previous = state_changes(payload)
        else:
            status, headers = 200, [("Content-Type", "text/xml;charset=UTF-8")]
            payload = (f'<?xml version="1.0" encoding="UTF-8"?>\n<StartInstancesResponse xmlns="{EC2_XMLNS}">'
                       f"<requestId>proxy-{random.getrandbits(32):08x}</requestId><instancesSet></instancesSet>"
                       "</StartInstancesResponse>").encode()
        changes = {}  # instance -> (previous, current) as the answer says them
        with self.state.lock:
            now = time.monotonic()  # transitions count from the answer
            for i, before in previous.items():
                entry, state = self.state.overlay.get(i), self.state.shown(i, now)
                if not strict:
                    self.state.overlay.pop(i, None)
                elif state == "pending" and entry["kind"] == "start":
                    changes[i] = ("pending", "pending")
                elif before == "running" and state in (None, "running"):
                    changes[i] = ("running", "running")  # initializing checks go on
                else:
                    self.state.begin(i, "start", now)
                    changes[i] = (state or before, "pending")
            for i in kms:
                state = self.state.shown(i, now)
                if not (state == "pending" and self.state.overlay[i]["kind"] == "kms"):
                    self.state.begin(i, "kms", now)
                changes[i] = (state or "stopped", "pending")
        text = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes))
        added = "".join(state_change_item(f"<item><instanceId>{i}</instanceId></item>", changes) for i in kms)
        text = text.replace("<instancesSet/>", "<instancesSet></instancesSet>", 1)
        text = text.replace("</instancesSet>", added + "</instancesSet>", 1)
        return status, headers, text.encode(), not rest

    def stop_instances(self, pairs, body):
        ids = members(pairs, "InstanceId")
        force = dict(pairs).get("Force", "").lower() == "true"
        with self.state.lock:
            now = time.monotonic()
            strict = self.state.strict
            shown = {i: self.state.shown(i, now) for i in ids}
        with self.state.lock:
            one_time = [i for i in ids if self.state.spot.get(i, {}).get("type") == "one-time"]
        if one_time:
            # EC2 User Guide, "Stop a Spot Instance": only one of a persistent request can be stopped.
            return self.refuse(400, "UnsupportedOperation",
                               f"You can't stop the Spot Instance '{one_time[0]}' because it is associated with a "
                               "one-time Spot Instance request. You can only stop Spot Instances associated with "
                               "persistent Spot Instance requests.")
        if strict:
            for i in ids:
                if shown[i] == "pending":
                    return self.refuse(400, "IncorrectInstanceState",
                                       f"Instance '{i}' cannot be stopped as it has never reached the 'running' state.")
        status, headers, payload = self.upstream(body)
        if status != 200:
            return status, headers, payload, False
        changes = {}
        with self.state.lock:
            now = time.monotonic()
            for i, before in state_changes(payload).items():
                state = self.state.shown(i, now)
                if not strict:
                    self.state.overlay.pop(i, None)
                elif state == "stopping" and force:
                    # A forced stop ends a stop that hangs: stopped now (EC2 API reference, StopInstances).
                    self.state.overlay.pop(i, None)
                    changes[i] = ("stopping", "stopped")
                elif state == "stopping":
                    changes[i] = ("stopping", "stopping")
                elif before == "running":
                    self.state.begin(i, "stop", now)
                    changes[i] = (state or before, "stopping")
                else:  # already stopped (a KMS failure's reason stays): nothing changes
                    changes[i] = (state or before, state or before)
        if changes:
            payload = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes)).encode()
        return status, headers, payload, False

    def terminate_instances(self, pairs, body):
        status, headers, payload = self.upstream(body)
        if status == 200:
            changes = {}
            with self.state.lock:
                now = time.monotonic()
                for i in state_changes(payload):
                    state = self.state.shown(i, now)
                    if state and self.state.strict:
                        changes[i] = (state, None)
                    self.state.overlay.pop(i, None)
            if changes:
                payload = rewrite_set(payload.decode(), "instancesSet", lambda item: state_change_item(item, changes)).encode()
        return status, headers, payload, False

    def associate_address(self, pairs, body):
        params = dict(pairs)
        with self.state.lock:
            now = time.monotonic()
            pending = {i for i in list(self.state.overlay) if self.state.shown(i, now) == "pending"}
            strict = self.state.strict
        if strict and pending:
            instance, interface = params.get("InstanceId"), params.get("NetworkInterfaceId")
            if instance:
                if instance in pending:
                    return self.refuse(400, "InvalidInstanceID",
                                       f"The pending instance '{instance}' is not in a valid state for this operation.")
            elif interface:
                status, _, payload = self.ask(pairs, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", interface)])
                found = re.search(r"<attachment>(?:(?!</attachment>).)*?<instanceId>([^<]+)</instanceId>",
                                  payload.decode(), re.S) if status == 200 else None
                if found and found.group(1) in pending:
                    return self.refuse(400, "IncorrectInstanceState",
                                       f"The pending instance to which '{interface}' is attached is not in a valid "
                                       "state for this operation")
        with self.state.lock:
            stale_for = self.state.stale_read_seconds
        allocation = params.get("AllocationId")
        before = None
        if stale_for and allocation:
            status, _, payload = self.ask(pairs, "DescribeAddresses", [("AllocationId.1", allocation)])
            before = payload.decode() if status == 200 else None
        status, headers, payload = self.upstream(body)
        if status == 200 and before:
            item = re.search(r"<addressesSet>\s*(<item>.*?</item>)\s*</addressesSet>", before, re.S)
            if item and (own(item.group(1), "instanceId") or own(item.group(1), "networkInterfaceId")):
                with self.state.lock:
                    self.state.stale[allocation] = (item.group(1), time.monotonic() + stale_for)
        return status, headers, payload, False

    def describe_addresses(self, pairs, body):
        """EC2's reads are eventually consistent: for stale_read_seconds after an AssociateAddress,
        DescribeAddresses still shows the address associated where it was (as the first reads after
        a move may on AWS; its tags as they are now); moto shows every write at once."""
        status, headers, payload = self.upstream(body)
        with self.state.lock:
            now = time.monotonic()
            stale = {a: item for a, (item, until) in self.state.stale.items() if until > now}
        if status != 200 or not stale:
            return status, headers, payload, False
        def as_before(item):
            # The association as it was; the tags as they are (the record written with the move).
            before = stale.get(own(item, "allocationId"))
            if before is None:
                return item
            for field in ("instanceId", "networkInterfaceId", "privateIpAddress", "associationId"):
                if re.search(rf"<{field}>", item):
                    item = set_own(item, field, own(before, field))
            return item
        return status, headers, rewrite_set(payload.decode(), "addressesSet", as_before).encode(), False

    def assign_private_ip_addresses(self, pairs, body):
        """AllowReassignment, which moto ignores (the address stays on its old interface too): with
        it, an address another interface holds moves to this one; without it, EC2 refuses an
        address in use (InvalidIPAddress.InUse, as EC2 names it for an address in use)."""
        params = dict(pairs)
        interface = params.get("NetworkInterfaceId")
        allowed = params.get("AllowReassignment", "").lower() == "true"
        # A secondary address lies in its interface's subnet (EC2 User Guide, "Secondary IP
        # addresses"); moto assigns any.
        cidr = self.subnet_cidr_of(pairs, interface)
        for address in members(pairs, "PrivateIpAddress"):
            if cidr and ipaddress.ip_address(address) not in ipaddress.ip_network(cidr):
                return self.refuse(400, "InvalidParameterValue",
                                   f"Address {address} does not fall within the subnet's address range")
        for address in members(pairs, "PrivateIpAddress"):
            others = sorted(h for h in self.interfaces_holding(pairs, [address]) if h != interface)
            if others and not allowed:
                return self.refuse(400, "InvalidIPAddress.InUse", f"Address {address} is in use.")
            for other in others:
                self.ask(pairs, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", other), ("PrivateIpAddress.1", address)])
        return (*self.upstream(body), False)

    def subnet_cidr_of(self, pairs, interface):
        """The IPv4 CIDR of the subnet an interface is in, as moto knows it (None if unknown)."""
        status, _, payload = self.ask(pairs, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", interface or "")])
        subnet = re.search(r"<subnetId>([^<]+)</subnetId>", payload.decode()) if status == 200 else None
        if not subnet:
            return None
        status, _, payload = self.ask(pairs, "DescribeSubnets", [("SubnetId.1", subnet.group(1))])
        cidr = re.search(r"<cidrBlock>([^<]+)</cidrBlock>", payload.decode()) if status == 200 else None
        return cidr.group(1) if cidr else None

    def interfaces_holding(self, pairs, addresses):
        """The interfaces that hold any of these private IPv4 addresses, primary or secondary."""
        status, _, payload = self.ask(pairs, "DescribeNetworkInterfaces", [])
        found = []

        def keep(item):
            held = re.findall(r"<privateIpAddress>([^<]+)</privateIpAddress>", item)
            if any(a in held for a in addresses):
                found.append(own(item, "networkInterfaceId"))
            return item

        if status == 200:
            rewrite_set(payload.decode(), "networkInterfaceSet", keep)
        return found

    def describe_network_interfaces(self, pairs, body):
        """The addresses.private-ip-address filter as EC2 applies it, to every private IPv4 address of
        an interface (EC2 API reference, DescribeNetworkInterfaces); moto matches the primary one only."""
        filters, others = {}, []
        for key, value in pairs:
            if m := re.fullmatch(r"Filter\.(\d+)\.(Name|Value\.\d+)", key):
                filters.setdefault(m.group(1), {}).setdefault("values" if m.group(2) != "Name" else "name", [])
                filters[m.group(1)]["values" if m.group(2) != "Name" else "name"].append(value)
            else:
                others.append((key, value))
        wanted = [v for f in filters.values() if f.get("name") == ["addresses.private-ip-address"] for v in f.get("values", [])]
        if not wanted:
            return (*self.upstream(body), False)
        kept, n = list(others), 0
        for f in filters.values():
            if f.get("name") != ["addresses.private-ip-address"]:
                n += 1
                kept.append((f"Filter.{n}.Name", f["name"][0]))
                kept += [(f"Filter.{n}.Value.{i + 1}", v) for i, v in enumerate(f.get("values", []))]
        status, headers, payload = self.upstream(urllib.parse.urlencode(kept).encode())
        if status != 200:
            return status, headers, payload, False

        def holds(item):
            held = re.findall(r"<privateIpAddress>([^<]+)</privateIpAddress>", item)
            return item if any(a in held for a in wanted) else None

        return status, headers, rewrite_set(payload.decode(), "networkInterfaceSet", holds).encode(), False

    def create_volume(self, pairs, body):
        """CreateVolume's parameter rules, which moto does not check (EC2 API reference,
        CreateVolume: Iops "is supported for io1, io2, and gp3 volumes only" and required for io1 and
        io2; Throughput "is valid only for gp3 volumes"). The messages are AWS's, as users report them."""
        params = dict(pairs)
        with self.state.lock:
            strict = self.state.strict
        kind = params.get("VolumeType", "gp2")
        if strict:
            if "Iops" in params and kind in ("gp2", "st1", "sc1", "standard"):
                return self.refuse(400, "InvalidParameterCombination", f"The parameter iops is not supported for {kind} volumes.")
            if "Iops" not in params and kind in ("io1", "io2"):
                return self.refuse(400, "InvalidParameterCombination", f"The parameter iops must be specified for {kind} volumes.")
            if "Throughput" in params and kind != "gp3":
                return self.refuse(400, "InvalidParameterCombination", "throughput can only be specified for volumeType gp3.")
        return (*self.upstream(body), False)

    def attach_volume(self, pairs, body):
        """AttachVolume's refusals, which moto does not make, with the words users report from AWS:
        an instance that is not running (IncorrectState "Instance 'i-...' is not 'running'."), a
        volume in another zone (InvalidVolume.ZoneMismatch "The volume 'vol-...' is not in the same
        availability zone as instance 'i-...'"), a volume attached already (VolumeInUse "vol-... is
        already attached to an instance"). An attachment then shows `attaching` for
        attaching_seconds, as on AWS, where it takes a few seconds to become `attached`."""
        params = dict(pairs)
        volume, instance = params.get("VolumeId", ""), params.get("InstanceId", "")
        with self.state.lock:
            strict = self.state.strict
            shown = self.state.shown(instance, time.monotonic())
        if not strict:
            return (*self.upstream(body), False)
        status, headers, payload = self.ask(pairs, "DescribeInstances", [("InstanceId.1", instance)])
        if status != 200:
            return status, headers, payload, False
        found = {}
        rewrite_set(payload.decode(), "instancesSet", lambda item: found.update({own(item, "instanceId"): item}))
        item = found.get(instance)
        if item is not None and (shown or shown_state(item)[0]) != "running":
            return self.refuse(400, "IncorrectState", f"Instance '{instance}' is not 'running'.")
        status, headers, payload = self.ask(pairs, "DescribeVolumes", [("VolumeId.1", volume)])
        if status != 200:
            return status, headers, payload, False
        volumes = {}
        rewrite_set(payload.decode(), "volumeSet", lambda v: volumes.update({own(v, "volumeId"): v}))
        facts = volumes.get(volume)
        if item is not None and facts is not None:
            if own(facts, "availabilityZone") != own(item, "availabilityZone"):
                return self.refuse(400, "InvalidVolume.ZoneMismatch",
                                   f"The volume '{volume}' is not in the same availability zone as instance '{instance}'")
            if "<instanceId>" in facts:
                return self.refuse(400, "VolumeInUse", f"{volume} is already attached to an instance")
        status, headers, payload = self.upstream(body)
        if status == 200:
            with self.state.lock:
                self.state.attaching[volume] = time.monotonic() + self.state.attaching_seconds
            payload = re.sub(rb"<status>[^<]*</status>", b"<status>attaching</status>", payload, count=1)
        return status, headers, payload, False

    def describe_volumes(self, pairs, body):
        """Shows an attachment that is still being made as `attaching` (moto: `attached` at once)."""
        status, headers, payload = self.upstream(body)
        with self.state.lock:
            now = time.monotonic()
            for volume, until in list(self.state.attaching.items()):
                if until <= now:
                    del self.state.attaching[volume]
            attaching = set(self.state.attaching)
        if status != 200 or not attaching:
            return status, headers, payload, False

        def show(item):
            if own(item, "volumeId") not in attaching:
                return item
            return item.replace("<status>attached</status>", "<status>attaching</status>")

        return status, headers, rewrite_set(payload.decode(), "volumeSet", show).encode(), False

    def describe_instances(self, pairs, body):
        status, headers, payload, emulated = self.describe(pairs, body, "instancesSet", instance_item)
        with self.state.lock:
            network, spot = dict(self.state.network), dict(self.state.spot)
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

    def modify_instance_metadata_options(self, pairs, body):
        """EC2 changes only the options a request names (EC2 API Reference,
        ModifyInstanceMetadataOptions); moto resets the others (HttpTokens required would become
        optional). The instance's current options fill in what the request leaves out."""
        given = dict(pairs)
        status, headers, payload = self.ask(pairs, "DescribeInstances", [("InstanceId.1", given.get("InstanceId", ""))])
        if status != 200:
            return status, headers, payload, False
        text = payload.decode()
        current = {}
        for element, param in (("httpTokens", "HttpTokens"), ("httpPutResponseHopLimit", "HttpPutResponseHopLimit"),
                               ("httpEndpoint", "HttpEndpoint"), ("httpProtocolIpv6", "HttpProtocolIpv6"),
                               ("instanceMetadataTags", "InstanceMetadataTags")):
            found = re.search(rf"<metadataOptions>.*?<{element}>([^<]*)</{element}>.*?</metadataOptions>", text, re.S)
            if found and param not in given:
                current[param] = found.group(1)
        merged = urllib.parse.urlencode([*pairs, *current.items()]).encode()
        return (*self.upstream(merged), False)

    def describe_spot_instance_requests(self, pairs, body):
        """The Spot requests of POST /_proxy/spot (moto knows none of them), by id or instance-id
        filter; every one without either."""
        with self.state.lock:
            spot = dict(self.state.spot)
        ids, filters = members(pairs, "SpotInstanceRequestId"), {}
        for k, v in pairs:
            if (m := re.fullmatch(r"Filter\.(\d+)\.Name", k)):
                filters[v] = [value for key, value in pairs if re.fullmatch(rf"Filter\.{m.group(1)}\.Value\.\d+", key)]
        unknown = [i for i in ids if i not in {s["request"] for s in spot.values()}]
        if unknown:
            return self.refuse(400, "InvalidSpotInstanceRequestID.NotFound",
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

    def describe_instance_status(self, pairs, body):
        include_all = dict(pairs).get("IncludeAllInstances", "").lower() == "true"
        status, headers, payload, emulated = self.describe(pairs, body, "instanceStatusSet",
                                                           lambda item, view: status_item(item, view, include_all))
        with self.state.lock:
            scheduled = {i: list(events) for i, events in self.state.scheduled.items()}
        if status == 200 and scheduled:
            payload = rewrite_set(payload.decode(), "instanceStatusSet",
                                  lambda item: with_events(item, scheduled.get(own(item, "instanceId"), []))).encode()
        return status, headers, payload, emulated

    def describe(self, pairs, body, set_tag, show):
        """moto's answer with each instance as the overlay shows it (show(item, view) gives the
        item, or None to leave it out); state filters are applied here, to the states shown."""
        with self.state.lock:
            if not self.state.overlay:
                return (*self.upstream(body), False)
        filters, others = state_filters(pairs)
        if filters:
            body = urllib.parse.urlencode(others).encode()
        status, headers, payload = self.upstream(body)
        if status != 200:
            return status, headers, payload, False

        def change(item):
            with self.state.lock:
                view = self.state.view(own(item, "instanceId"), time.monotonic())
            item = show(item, view) if view else item
            if item is None or not all(matches(item, name, values) for name, values in filters):
                return None
            return item

        text = rewrite_set(payload.decode(), set_tag, change)
        if set_tag == "instancesSet":  # a reservation whose instances are all left out goes too
            text = rewrite_set(text, "reservationSet",
                               lambda r: None if re.search(r"<instancesSet>\s*</instancesSet>", r) else r)
        return status, headers, text.encode(), False

    def upstream(self, body, path=None, headers=None):
        up = self.state.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=30)
        try:
            if headers is None:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, path or self.path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()


EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"


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


def credential_scope(headers):
    """(region, service) of a SigV4 request's credential scope (Credential=KEY/DATE/REGION/SERVICE/
    aws4_request), or (None, None)."""
    found = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", (headers or {}).get("Authorization", "") or "")
    return (found.group(1), found.group(2)) if found else (None, None)


def members(pairs, name):
    """The values of name.1, name.2, ... in a query, in order."""
    found = sorted((int(m.group(1)), v) for k, v in pairs if (m := re.fullmatch(rf"{name}\.(\d+)", k)))
    return [v for _, v in found]


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


def top_items(text, start=0, end=None):
    """The spans of the outermost <item> elements in text[start:end]."""
    spans, depth, opened = [], 0, 0
    for m in ITEM_TAG.finditer(text, start, len(text) if end is None else end):
        if m.group() == "<item/>":
            if depth == 0:
                spans.append((m.start(), m.end()))
        elif m.group() == "<item>":
            if depth == 0:
                opened = m.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((opened, m.end()))
    return spans


def rewrite_set(text, tag, change):
    """Passes each outermost item of every <tag> set (such sets never nest) through change, which
    gives the new item, or None to leave it out (or out when it returns nothing)."""
    out, pos, opening, closing = [], 0, f"<{tag}>", f"</{tag}>"
    while (start := text.find(opening, pos)) >= 0:
        start += len(opening)
        end = text.find(closing, start)
        if end < 0:
            break
        out.append(text[pos:start])
        cursor = start
        for a, b in top_items(text, start, end):
            out.append(text[cursor:a])
            new = change(text[a:b])
            if new is not None:
                out.append(new)
            cursor = b
        out.append(text[cursor:end])
        pos = end
    out.append(text[pos:])
    return "".join(out)


def own(item, name):
    """The text of an item's own <name> element, not one inside a nested item ("" if none)."""
    inner = item[len("<item>"):-len("</item>")] if item.startswith("<item>") else item
    flat, cursor = [], 0
    for a, b in top_items(inner):
        flat.append(inner[cursor:a])
        cursor = b
    flat.append(inner[cursor:])
    found = re.search(rf"<{name}>([^<]*)</{name}>", "".join(flat))
    return found.group(1) if found else ""


def set_own(item, name, value):
    """The item with its own <name> element (not one inside a nested item) set to value."""
    body = item[len("<item>"):-len("</item>")] if item.startswith("<item>") else item
    cursor = 0
    for a, b in [*top_items(body), (len(body), len(body))]:
        found = re.search(rf"<{name}>[^<]*</{name}>", body[cursor:a])
        if found:
            at = cursor + found.start()
            body = f"{body[:at]}<{name}>{escape(value)}</{name}>{body[cursor + found.end():]}"
            break
        cursor = b
    return f"<item>{body}</item>" if item.startswith("<item>") else body


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
    for tag in ("instanceStatus", "systemStatus"):
        if checks == "not-applicable":
            new = f"<{tag}><status>not-applicable</status></{tag}>"
        else:
            detail = {"initializing": "initializing", "ok": "passed"}[checks]
            new = (f"<{tag}><details><item><name>reachability</name><status>{detail}</status></item></details>"
                   f"<status>{checks}</status></{tag}>")
        item, n = re.subn(rf"<{tag}>(?:(?!</{tag}>).)*</{tag}>|<{tag}/>", lambda _: new, item, count=1, flags=re.S)
        if not n:
            item = item[:-len("</item>")] + new + "</item>"
    return item


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


def capacity_message(instance_type, zone):
    instance_type, zone = instance_type or "t3.micro", zone or "us-east-1b"
    other = next(zone[:-1] + c for c in "abcdef" if zone[:-1] + c != zone)
    return (f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested "
            f"({zone}). Our system will be working on provisioning additional capacity. You can currently get "
            f"{instance_type} capacity by not specifying an Availability Zone in your request or choosing {other}.")


# Recording for the IAM checker (scripts/iamcheck): one JSON line per request served, with who signed
# it and the state of what it names, read from moto before the request is forwarded. Off unless
# --record DIR or EC2_PROXY_RECORD_DIR is given; then State.recorder is a Recorder.

CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
READ_ONLY = re.compile(r"(Describe|Get|List)[A-Z]")
TEMPLATES = ("template.yaml", "template-group.yaml")
# The ids a request may name, by the parameter that names them; CreateTags names them by prefix.
NAMED = {"InstanceId": "instance", "VolumeId": "volume", "SnapshotId": "snapshot", "AllocationId": "address",
         "PublicIp": "public_ip", "NetworkInterfaceId": "network_interface", "RouteTableId": "route_table"}
ID_PREFIXES = {"i-": "instance", "vol-": "volume", "snap-": "snapshot", "eipalloc-": "address",
               "eni-": "network_interface", "rtb-": "route_table"}


class Recorder:
    """Appends the record lines of one proxy to DIR/<pid>-<port>.jsonl, one writer at a time. Also
    remembers the KMS key of each snapshot and volume it has seen, since moto forgets it where AWS
    keeps it (a snapshot of an encrypted volume, a volume restored from an encrypted snapshot)."""

    def __init__(self, directory, port):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{os.getpid()}-{port}.jsonl")
        self.lock = threading.Lock()
        self.seq = 0
        self.keys = {}  # volume or snapshot id -> KMS key ARN
        self.aliases = {}  # KMS key ARN -> its alias names

    def write(self, line):
        with self.lock:
            self.seq += 1
            text = json.dumps({"seq": self.seq, "time": time.time(), **line}, sort_keys=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text + "\n")


def credential(authorization):
    """(access key id, region, service) from a SigV4 Authorization header; Nones when unsigned."""
    found = CREDENTIAL.search(authorization or "")
    return found.groups() if found else (None, None, None)


def named_ids(params):
    """{kind: [ids]} that a Query request names (instance, volume, snapshot, address, public_ip,
    network_interface), in parameter order."""
    ids = {}
    for key, value in params.items():
        base = re.sub(r"\.\d+$", "", key)
        kind = NAMED.get(base)
        if kind is None and base == "ResourceId":
            kind = next((k for p, k in ID_PREFIXES.items() if value.startswith(p)), None)
        if kind and value and value not in ids.setdefault(kind, []):
            ids[kind].append(value)
    return {k: v for k, v in ids.items() if v}


def xml_root(payload):
    """moto's XML answer as an ElementTree element, namespaces left out of the tags."""
    root = ElementTree.fromstring(payload)
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return root


def text_of(element, path):
    found = element.find(path)
    return found.text if found is not None and found.text is not None else None


def ec2_tags(element):
    return {text_of(t, "key"): text_of(t, "value") or "" for t in element.findall("tagSet/item")}


def record_before(proxy, service, action, params):
    """What a request is to be recorded with, read before it is forwarded; None when not recording."""
    recorder = proxy.state.recorder
    if recorder is None:
        return None
    access_key, region, scope = credential(proxy.headers.get("Authorization"))
    state = {}
    if not READ_ONLY.match(action):
        try:
            state = acted_on(proxy, recorder, scope or service, action, params)
        except Exception as e:  # noqa: BLE001 - recording must never change what the proxy answers
            state = {"error": f"{type(e).__name__}: {e}"}
    return {"kind": "request", "service": scope or service, "action": action, "params": params,
            "access_key": access_key, "region": region, "state": state}


def record_after(proxy, recorded, entry, document=None):
    """Writes the record line of a request the proxy has answered (or dropped)."""
    if recorded is None:
        return
    line = dict(recorded, status=entry.get("status"), fault=entry.get("fault"), emulated=bool(entry.get("emulated")))
    if document is not None:
        line["document"] = document
    proxy.state.recorder.write(line)


def acted_on(proxy, recorder, service, action, params):
    """The state of each resource a request names, as moto has it now: {kind: {id: facts}}."""
    if service == "autoscaling":
        group = params.get("AutoScalingGroupName")
        return {"autoscaling_group": {group: autoscaling_group(proxy, group)}} if group else {}
    if service != "ec2":
        return {}
    state = {}
    ids = named_ids(params)
    pairs = list(params.items())
    for address in ids.get("address", []) + ids.get("public_ip", []):
        by = "AllocationId" if address.startswith("eipalloc-") else "PublicIp"
        state.setdefault("address", {})[address] = one(proxy, pairs, "DescribeAddresses", f"{by}.1", address,
                                                       "addressesSet/item", address_facts)
    for interface in ids.get("network_interface", []):
        state.setdefault("network_interface", {})[interface] = one(
            proxy, pairs, "DescribeNetworkInterfaces", "NetworkInterfaceId.1", interface, "networkInterfaceSet/item",
            interface_facts)
    for table in ids.get("route_table", []):
        state.setdefault("route_table", {})[table] = one(
            proxy, pairs, "DescribeRouteTables", "RouteTableId.1", table, "routeTableSet/item",
            lambda item: {"vpc_id": text_of(item, "vpcId"), "tags": ec2_tags(item)})
    for instance in ids.get("instance", []):
        facts = one(proxy, pairs, "DescribeInstances", "InstanceId.1", instance, "reservationSet/item/instancesSet/item",
                    instance_facts)
        if action == "StartInstances" and facts.get("volume_ids"):
            # A start decrypts every encrypted volume of the instance (KMS on the caller's behalf).
            facts["volumes"] = {v: volume(proxy, recorder, pairs, v) for v in facts["volume_ids"]}
        state.setdefault("instance", {})[instance] = facts
    for volume_id in ids.get("volume", []):
        state.setdefault("volume", {})[volume_id] = volume(proxy, recorder, pairs, volume_id)
    for snapshot_id in ids.get("snapshot", []):
        state.setdefault("snapshot", {})[snapshot_id] = snapshot(proxy, recorder, pairs, snapshot_id)
    return state


def one(proxy, pairs, action, name, value, path, facts):
    """The facts of one resource from an EC2 Describe call; {"missing": true} when moto does not know it."""
    status, _, payload = proxy.ask(pairs, action, [(name, value)])
    items = xml_root(payload).findall(path) if status == 200 else []
    return facts(items[0]) if items else {"missing": True}


def address_facts(item):
    return {"allocation_id": text_of(item, "allocationId"), "public_ip": text_of(item, "publicIp"),
            "domain": text_of(item, "domain"), "instance_id": text_of(item, "instanceId"),
            "network_interface_id": text_of(item, "networkInterfaceId"), "tags": ec2_tags(item)}


def interface_facts(item):
    return {"vpc_id": text_of(item, "vpcId"), "subnet_id": text_of(item, "subnetId"),
            "availability_zone": text_of(item, "availabilityZone"),
            "instance_id": text_of(item, "attachment/instanceId"), "tags": ec2_tags(item)}


def instance_facts(item):
    return {"vpc_id": text_of(item, "vpcId"), "subnet_id": text_of(item, "subnetId"),
            "availability_zone": text_of(item, "placement/availabilityZone"),
            "instance_type": text_of(item, "instanceType"),
            "network_interface_ids": [text_of(n, "networkInterfaceId") for n in item.findall("networkInterfaceSet/item")],
            "volume_ids": [text_of(b, "ebs/volumeId") for b in item.findall("blockDeviceMapping/item")
                           if text_of(b, "ebs/volumeId")],
            "tags": ec2_tags(item)}


def volume(proxy, recorder, pairs, volume_id):
    facts = one(proxy, pairs, "DescribeVolumes", "VolumeId.1", volume_id, "volumeSet/item", lambda item: {
        "availability_zone": text_of(item, "availabilityZone"), "encrypted": text_of(item, "encrypted") == "true",
        "kms_key_id": text_of(item, "kmsKeyId"), "snapshot_id": text_of(item, "snapshotId") or None,
        "size": text_of(item, "size"), "volume_type": text_of(item, "volumeType"), "iops": text_of(item, "iops"),
        "throughput": text_of(item, "throughput"),
        "attached_to": [text_of(a, "instanceId") for a in item.findall("attachmentSet/item")], "tags": ec2_tags(item)})
    return with_key(proxy, recorder, pairs, volume_id, facts, "snapshot_id")


def snapshot(proxy, recorder, pairs, snapshot_id):
    facts = one(proxy, pairs, "DescribeSnapshots", "SnapshotId.1", snapshot_id, "snapshotSet/item", lambda item: {
        "volume_id": text_of(item, "volumeId"), "encrypted": text_of(item, "encrypted") == "true",
        "kms_key_id": text_of(item, "kmsKeyId"), "volume_size": text_of(item, "volumeSize"),
        "owner_id": text_of(item, "ownerId"), "tags": ec2_tags(item)})
    return with_key(proxy, recorder, pairs, snapshot_id, facts, "volume_id")


def with_key(proxy, recorder, pairs, resource_id, facts, source):
    """facts with the KMS key AWS would show (moto drops it on a snapshot and on a volume restored
    from one: on AWS both keep their source's key) and that key's aliases."""
    if facts.get("missing") or not facts.get("encrypted"):
        return facts
    key = facts.get("kms_key_id") or recorder.keys.get(resource_id)
    origin = facts.get(source)
    if not key and origin and origin != resource_id:
        origin_facts = (volume if source == "volume_id" else snapshot)(proxy, recorder, pairs, origin)
        key = origin_facts.get("kms_key_id")
    if key:
        recorder.keys[resource_id] = key
        facts["kms_key_id"] = key
        facts["kms_key_aliases"] = key_aliases(proxy, recorder, key)
    return facts


def key_aliases(proxy, recorder, key):
    """The alias names of a KMS key in moto (alias/aws/ebs: the AWS managed key); [] if unknown."""
    if key not in recorder.aliases:
        day = time.strftime("%Y%m%d", time.gmtime())
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListAliases",
                   "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/{day}/us-east-1/kms/aws4_request, "
                                    "SignedHeaders=host, Signature=0"}
        status, _, payload = proxy.upstream(json.dumps({"KeyId": key}).encode(), path="/", headers=headers)
        names = [a.get("AliasName") for a in json.loads(payload).get("Aliases", [])] if status == 200 else []
        recorder.aliases[key] = sorted(n for n in names if n)
    return recorder.aliases[key]


def autoscaling_group(proxy, name):
    body = urllib.parse.urlencode([("Action", "DescribeAutoScalingGroups"), ("Version", "2011-01-01"),
                                   ("AutoScalingGroupNames.member.1", name)]).encode()
    status, _, payload = proxy.upstream(body)
    groups = xml_root(payload).findall(".//AutoScalingGroups/member") if status == 200 else []
    if not groups:
        return {"missing": True}
    return {"arn": text_of(groups[0], "AutoScalingGroupARN"),
            "tags": {text_of(t, "Key"): text_of(t, "Value") or "" for t in groups[0].findall("Tags/member")}}


def register_deployment(proxy):
    """POST /_proxy/deployment: which deployed function an access key is, as one record line."""
    try:
        deployment = json.loads(proxy.read_body() or b"{}")
        if not isinstance(deployment, dict) or not deployment.get("access_key"):
            raise ValueError("a deployment needs access_key")
        if deployment.get("template") not in TEMPLATES:
            raise ValueError(f"a deployment's template is one of {list(TEMPLATES)}")
        if not isinstance(deployment.get("parameters", {}), dict):
            raise ValueError("a deployment's parameters are an object of template parameter values")
        if not isinstance(deployment.get("deployed_policies", []), list):
            raise ValueError("a deployment's deployed_policies are a list of {PolicyName, PolicyDocument}")
    except (ValueError, TypeError) as e:
        return proxy.reply(400, str(e).encode(), "text/plain")
    recorder = proxy.state.recorder
    if recorder is not None:
        recorder.write({"kind": "deployment", "access_key": deployment["access_key"],
                        "template": deployment["template"], "parameters": deployment.get("parameters", {}),
                        "stack_name": deployment.get("stack_name"), "source": deployment.get("source"),
                        **({"deployed_policies": deployment["deployed_policies"]}
                           if "deployed_policies" in deployment else {})})
    return proxy.reply(200, json.dumps({"recorded": recorder is not None}).encode(), "application/json")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the EC2 API to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", default="0")
    parser.add_argument("--record", metavar="DIR", default=os.environ.get("EC2_PROXY_RECORD_DIR") or None,
                        help="record each request for the IAM checker in DIR (also EC2_PROXY_RECORD_DIR)")
    args = parser.parse_args()
    Proxy.state = State(args.upstream, args.latency_ms, args.fault_rate, args.seed)
    if args.record:
        Proxy.state.recorder = Recorder(args.record, args.port)
    class Server(ThreadingHTTPServer):
        # socketserver's listen backlog is 5: a function that sends a hundred requests at once (a
        # hundred route entries) would see SYN retries of a second that AWS's endpoints do not cause.
        request_queue_size = 256
        daemon_threads = True

    server = Server((args.host, args.port), Proxy)
    print(f"ec2_proxy listening on {args.host}:{args.port} -> {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
