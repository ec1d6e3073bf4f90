"""Strict EC2: the refusals and delays of what is not an instance's state (that is
ec2_instances.py), over moto, which accepts them all at once. Refused with AWS's HTTP 400 and words,
without forwarding (logged like any request, with "emulated": true):
  AssociateAddress InstanceId pending   InvalidInstanceID "The pending instance 'i-...' is not in
                                        a valid state for this operation."
  AssociateAddress NetworkInterfaceId   IncorrectInstanceState "The pending instance to which
    attached to a pending instance      'eni-...' is attached is not in a valid state for this
                                        operation" (the attachment is asked of moto each time)
  CreateVolume with Iops for gp2, st1,  InvalidParameterCombination "The parameter iops is not
  sc1 or standard; without Iops for io1   supported for gp2 volumes." / "The parameter iops must be
  or io2; with Throughput but not gp3     specified for io1 volumes." / "throughput can only be
                                          specified for volumeType gp3."
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
AssignPrivateIpAddresses honours AllowReassignment, which moto ignores: with it an address held by
another interface is unassigned there first; without it the request is refused
(InvalidIPAddress.InUse). An address outside the interface's subnet is refused
(InvalidParameterValue "Address ... does not fall within the subnet's address range"), as EC2 does. DescribeNetworkInterfaces' addresses.private-ip-address filter matches
secondary addresses too, as EC2's does (moto's, the primary one only).
moto completes a snapshot at once; AWS takes minutes. To show a snapshot still being copied:
  POST /_proxy/snapshot  {"snapshot": "snap-...", "state": "pending"}   ("state": null ends it)
and DescribeSnapshots reports that state for it.

`ec2` answers every EC2 request that is not a lifecycle call: moto's answer, made strict where
the action has a rule here, in ec2_instances.py or in faults.py (HANDLERS); a DryRun is moto's.
"""

import ipaddress
import re
import time
import urllib.parse

from . import ebs_snapshots, ec2_instances, faults
from .ec2_instances import shown_state
from .xmltext import members, own, rewrite_set, set_own


def ec2(proxy, action, body):
    """The answer to a request other than a lifecycle call: moto's, made strict where the
    action needs it. (status, headers, payload, emulated: answered without moto)."""
    handler = HANDLERS.get(action)
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    if handler is None or dict(pairs).get("DryRun", "").lower() == "true":
        return (*proxy.upstream(body), False)
    return handler(proxy, pairs, body)


def tag_write(proxy, pairs, body):
    """CreateTags, DeleteTags: EC2 refuses a tag change on a resource whose tags another request
    is changing ("ConcurrentTagAccess", EC2 API Reference, "Error codes for the Amazon EC2
    API"); moto applies both. A write holds its resources for tag_write_seconds."""
    resources = members(pairs, "ResourceId")
    with proxy.state.lock:
        strict, hold = proxy.state.strict, proxy.state.tag_write_seconds
        busy = [r for r in resources if r in proxy.state.tagging]
        if strict and not busy:
            proxy.state.tagging.update(resources)
    if not strict:
        return (*proxy.upstream(body), False)
    if busy:
        return proxy.refuse(400, "ConcurrentTagAccess",
                            f"You can't run simultaneous commands to modify a tag for {busy[0]}. Allow sufficient "
                            "wait time for the previous request to complete, then retry your request.")
    try:
        time.sleep(hold)
        return (*proxy.upstream(body), False)
    finally:
        with proxy.state.lock:
            proxy.state.tagging.difference_update(resources)


def associate_address(proxy, pairs, body):
    params = dict(pairs)
    with proxy.state.lock:
        now = time.monotonic()
        pending = {i for i in list(proxy.state.overlay) if proxy.state.shown(i, now) == "pending"}
        strict = proxy.state.strict
    if strict and pending:
        instance, interface = params.get("InstanceId"), params.get("NetworkInterfaceId")
        if instance:
            if instance in pending:
                return proxy.refuse(400, "InvalidInstanceID",
                                    f"The pending instance '{instance}' is not in a valid state for this operation.")
        elif interface:
            status, _, payload = proxy.ask(pairs, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", interface)])
            found = re.search(r"<attachment>(?:(?!</attachment>).)*?<instanceId>([^<]+)</instanceId>",
                              payload.decode(), re.S) if status == 200 else None
            if found and found.group(1) in pending:
                return proxy.refuse(400, "IncorrectInstanceState",
                                    f"The pending instance to which '{interface}' is attached is not in a valid "
                                    "state for this operation")
    with proxy.state.lock:
        stale_for = proxy.state.stale_read_seconds
    allocation = params.get("AllocationId")
    before = None
    if stale_for and allocation:
        status, _, payload = proxy.ask(pairs, "DescribeAddresses", [("AllocationId.1", allocation)])
        before = payload.decode() if status == 200 else None
    status, headers, payload = proxy.upstream(body)
    if status == 200 and before:
        item = re.search(r"<addressesSet>\s*(<item>.*?</item>)\s*</addressesSet>", before, re.S)
        if item and (own(item.group(1), "instanceId") or own(item.group(1), "networkInterfaceId")):
            with proxy.state.lock:
                proxy.state.stale[allocation] = (item.group(1), time.monotonic() + stale_for)
    return status, headers, payload, False


def describe_addresses(proxy, pairs, body):
    """EC2's reads are eventually consistent: for stale_read_seconds after an AssociateAddress,
    DescribeAddresses still shows the address associated where it was (as the first reads after
    a move may on AWS; its tags as they are now); moto shows every write at once."""
    status, headers, payload = proxy.upstream(body)
    with proxy.state.lock:
        now = time.monotonic()
        stale = {a: item for a, (item, until) in proxy.state.stale.items() if until > now}
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


def assign_private_ip_addresses(proxy, pairs, body):
    """AllowReassignment, which moto ignores (the address stays on its old interface too): with
    it, an address another interface holds moves to this one; without it, EC2 refuses an
    address in use (InvalidIPAddress.InUse, as EC2 names it for an address in use)."""
    params = dict(pairs)
    interface = params.get("NetworkInterfaceId")
    allowed = params.get("AllowReassignment", "").lower() == "true"
    # A secondary address lies in its interface's subnet (EC2 User Guide, "Secondary IP
    # addresses"); moto assigns any.
    cidr = subnet_cidr_of(proxy, pairs, interface)
    for address in members(pairs, "PrivateIpAddress"):
        if cidr and ipaddress.ip_address(address) not in ipaddress.ip_network(cidr):
            return proxy.refuse(400, "InvalidParameterValue",
                                f"Address {address} does not fall within the subnet's address range")
    for address in members(pairs, "PrivateIpAddress"):
        others = sorted(h for h in interfaces_holding(proxy, pairs, [address]) if h != interface)
        if others and not allowed:
            return proxy.refuse(400, "InvalidIPAddress.InUse", f"Address {address} is in use.")
        for other in others:
            proxy.ask(pairs, "UnassignPrivateIpAddresses", [("NetworkInterfaceId", other), ("PrivateIpAddress.1", address)])
    return (*proxy.upstream(body), False)

def subnet_cidr_of(proxy, pairs, interface):
    """The IPv4 CIDR of the subnet an interface is in, as moto knows it (None if unknown)."""
    status, _, payload = proxy.ask(pairs, "DescribeNetworkInterfaces", [("NetworkInterfaceId.1", interface or "")])
    subnet = re.search(r"<subnetId>([^<]+)</subnetId>", payload.decode()) if status == 200 else None
    if not subnet:
        return None
    status, _, payload = proxy.ask(pairs, "DescribeSubnets", [("SubnetId.1", subnet.group(1))])
    cidr = re.search(r"<cidrBlock>([^<]+)</cidrBlock>", payload.decode()) if status == 200 else None
    return cidr.group(1) if cidr else None

def interfaces_holding(proxy, pairs, addresses):
    """The interfaces that hold any of these private IPv4 addresses, primary or secondary."""
    status, _, payload = proxy.ask(pairs, "DescribeNetworkInterfaces", [])
    found = []

    def keep(item):
        held = re.findall(r"<privateIpAddress>([^<]+)</privateIpAddress>", item)
        if any(a in held for a in addresses):
            found.append(own(item, "networkInterfaceId"))
        return item

    if status == 200:
        rewrite_set(payload.decode(), "networkInterfaceSet", keep)
    return found


def describe_network_interfaces(proxy, pairs, body):
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
        return (*proxy.upstream(body), False)
    kept, n = list(others), 0
    for f in filters.values():
        if f.get("name") != ["addresses.private-ip-address"]:
            n += 1
            kept.append((f"Filter.{n}.Name", f["name"][0]))
            kept += [(f"Filter.{n}.Value.{i + 1}", v) for i, v in enumerate(f.get("values", []))]
    status, headers, payload = proxy.upstream(urllib.parse.urlencode(kept).encode())
    if status != 200:
        return status, headers, payload, False

    def holds(item):
        held = re.findall(r"<privateIpAddress>([^<]+)</privateIpAddress>", item)
        return item if any(a in held for a in wanted) else None

    return status, headers, rewrite_set(payload.decode(), "networkInterfaceSet", holds).encode(), False


def create_volume(proxy, pairs, body):
    """CreateVolume's parameter rules, which moto does not check (EC2 API reference,
    CreateVolume: Iops "is supported for io1, io2, and gp3 volumes only" and required for io1 and
    io2; Throughput "is valid only for gp3 volumes"). The messages are AWS's, as users report them."""
    params = dict(pairs)
    with proxy.state.lock:
        strict = proxy.state.strict
    kind = params.get("VolumeType", "gp2")
    if strict:
        if "Iops" in params and kind in ("gp2", "st1", "sc1", "standard"):
            return proxy.refuse(400, "InvalidParameterCombination", f"The parameter iops is not supported for {kind} volumes.")
        if "Iops" not in params and kind in ("io1", "io2"):
            return proxy.refuse(400, "InvalidParameterCombination", f"The parameter iops must be specified for {kind} volumes.")
        if "Throughput" in params and kind != "gp3":
            return proxy.refuse(400, "InvalidParameterCombination", "throughput can only be specified for volumeType gp3.")
        # VolumeInitializationRate: "supported only for volumes created from snapshots", "Valid
        # range: 100 - 300 MiB/s" (the reference gives no error code: these are EC2's usual ones).
        rate = params.get("VolumeInitializationRate")
        if rate is not None and "SnapshotId" not in params:
            return proxy.refuse(400, "InvalidParameterCombination",
                                "The parameter volumeInitializationRate is only supported for volumes created from snapshots.")
        if rate is not None and not (rate.isdigit() and 100 <= int(rate) <= 300):
            return proxy.refuse(400, "InvalidParameterValue",
                                f"Value ({rate}) for parameter volumeInitializationRate is invalid: 100 to 300 MiB/s.")
    return (*proxy.upstream(body), False)


def attach_volume(proxy, pairs, body):
    """AttachVolume's refusals, which moto does not make, with the words users report from AWS:
    an instance that is not running (IncorrectState "Instance 'i-...' is not 'running'."), a
    volume in another zone (InvalidVolume.ZoneMismatch "The volume 'vol-...' is not in the same
    availability zone as instance 'i-...'"), a volume attached already (VolumeInUse "vol-... is
    already attached to an instance"). An attachment then shows `attaching` for
    attaching_seconds, as on AWS, where it takes a few seconds to become `attached`."""
    params = dict(pairs)
    volume, instance = params.get("VolumeId", ""), params.get("InstanceId", "")
    with proxy.state.lock:
        strict = proxy.state.strict
        shown = proxy.state.shown(instance, time.monotonic())
    if not strict:
        return (*proxy.upstream(body), False)
    item, failed = instance_item(proxy, pairs, instance)
    if failed:
        return failed
    if item is not None and (shown or shown_state(item)[0]) != "running":
        return proxy.refuse(400, "IncorrectState", f"Instance '{instance}' is not 'running'.")
    facts, failed = ebs_snapshots.volume_item(proxy, pairs, volume)
    if failed:
        return failed
    if item is not None and facts is not None:
        if own(facts, "availabilityZone") != own(item, "availabilityZone"):
            return proxy.refuse(400, "InvalidVolume.ZoneMismatch",
                                f"The volume '{volume}' is not in the same availability zone as instance '{instance}'")
        if "<instanceId>" in facts:
            return proxy.refuse(400, "VolumeInUse", f"{volume} is already attached to an instance")
    status, headers, payload = proxy.upstream(body)
    if status == 200:
        with proxy.state.lock:
            proxy.state.attaching[volume] = time.monotonic() + proxy.state.attaching_seconds
        payload = re.sub(rb"<status>[^<]*</status>", b"<status>attaching</status>", payload, count=1)
    return status, headers, payload, False

def describe_volumes(proxy, pairs, body):
    """Shows an attachment that is still being made as `attaching` (moto: `attached` at once)."""
    status, headers, payload = proxy.upstream(body)
    with proxy.state.lock:
        now = time.monotonic()
        for volume, until in list(proxy.state.attaching.items()):
            if until <= now:
                del proxy.state.attaching[volume]
        attaching = set(proxy.state.attaching)
    if status != 200 or not attaching:
        return status, headers, payload, False

    def show(item):
        if own(item, "volumeId") not in attaching:
            return item
        return item.replace("<status>attached</status>", "<status>attaching</status>")

    return status, headers, rewrite_set(payload.decode(), "volumeSet", show).encode(), False


def modify_instance_metadata_options(proxy, pairs, body):
    """EC2 changes only the options a request names (EC2 API Reference,
    ModifyInstanceMetadataOptions); moto resets the others (HttpTokens required would become
    optional). The instance's current options fill in what the request leaves out."""
    given = dict(pairs)
    status, headers, payload = proxy.ask(pairs, "DescribeInstances", [("InstanceId.1", given.get("InstanceId", ""))])
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
    return (*proxy.upstream(merged), False)


def show_snapshot_states(proxy, payload):
    """Reports the snapshot states the tests set in place of moto's instant `completed`, and a dark
    zone's snapshots as pending (ebs_snapshots.py)."""
    states = ebs_snapshots.shown_states(proxy)
    text = payload.decode()
    for snapshot, state in states.items():
        # The snapshot's own status is the first one after its id, before any other snapshot's id.
        pattern = rf"(<snapshotId>{re.escape(snapshot)}</snapshotId>(?:(?!<snapshotId>).)*?<status>)[^<]*(</status>)"
        text = re.sub(pattern, rf"\g<1>{state}\g<2>", text, flags=re.S)
    return text.encode()


def modify_instance_attribute(proxy, pairs, body):
    """An instance's type changes only while it is stopped (EC2 User Guide, "Change the instance
    type": "You must stop your instance before you can change its instance type"); moto changes it
    whatever the state. AWS's words as users report them: IncorrectInstanceState "The instance
    'i-...' is not in the 'stopped' state." """
    params = dict(pairs)
    instance = params.get("InstanceId", "")
    with proxy.state.lock:
        strict = proxy.state.strict
        shown = proxy.state.shown(instance, time.monotonic())
    if strict and "InstanceType.Value" in params:
        item, failed = instance_item(proxy, pairs, instance)
        if failed:
            return failed
        if item is not None and (shown or shown_state(item)[0]) != "stopped":
            return proxy.refuse(400, "IncorrectInstanceState", f"The instance '{instance}' is not in the 'stopped' state.")
    return (*proxy.upstream(body), False)


def instance_item(proxy, pairs, instance):
    """(moto's DescribeInstances item for `instance`, None when moto does not know it; the answer
    to send instead when moto could not be asked, else None)."""
    status, headers, payload = proxy.ask(pairs, "DescribeInstances", [("InstanceId.1", instance)])
    if status != 200:
        return None, (status, headers, payload, False)
    found = {}
    rewrite_set(payload.decode(), "instancesSet", lambda item: found.update({own(item, "instanceId"): item}))
    return found.get(instance), None


HANDLERS = {
    **ec2_instances.HANDLERS,
    **faults.HANDLERS,
    **ebs_snapshots.HANDLERS,
    "AssociateAddress": associate_address,
    "AssignPrivateIpAddresses": assign_private_ip_addresses,
    "DescribeNetworkInterfaces": describe_network_interfaces,
    "CreateVolume": create_volume,
    "AttachVolume": attach_volume,
    "DescribeVolumes": describe_volumes,
    "DescribeAddresses": describe_addresses,
    "ModifyInstanceMetadataOptions": modify_instance_metadata_options,
    "ModifyInstanceAttribute": modify_instance_attribute,
    "CreateTags": tag_write,
    "DeleteTags": tag_write,
}
