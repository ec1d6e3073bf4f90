"""Recording for the IAM checker (scripts/iamcheck, `make iam-check`). Off by default, and then it costs
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
                       "stack_name": "...", "source": "tests/pair_e2e.rs some_test",
                       "deployed_policies": [{PolicyName, PolicyDocument}] (optional: the
                       role's policies as a deployed stack holds them)}   says which deployed
                       function signs with that key: one {"kind": "deployment", ...} line, which
                       holds for that key's later requests in the same file. Answers {"recorded":
                       true | false}. Requests signed by other keys (the set-up's `testing`) are
                       recorded and not checked.

"""

import json
import os
import re
import threading
import time
import urllib.parse

from .xmltext import ec2_tags, text_of, xml_root

# When recording, State.recorder is a Recorder.
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
READ_ONLY = re.compile(r"(Describe|Get|List)[A-Z]")
TEMPLATES = ("template.yaml", "template-group.yaml", "template-fleet.yaml")
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
