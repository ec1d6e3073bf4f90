#!/usr/bin/env python3
"""Builds and shows a standby pair or an Auto Scaling group in the local EC2 API (moto) for
`make demo` and `make invoke`: the scenes of scripts/localaws/scenes.py, the events of
scripts/localaws/events.py.

Usage:
  local_aws.py create  ENV_FILE      create a pair (primary running with the Elastic IP, standby
                                     stopped) and write its ids to ENV_FILE as KEY=VALUE lines
  local_aws.py show    ENV_FILE      print the pair and who holds the Elastic IP
  local_aws.py stop    INSTANCE_ID   stop an instance (the demo's failure)
  local_aws.py event   ENV_FILE SRC DST
                                     copy events/SRC to DST with the example ids replaced by the pair's

Private endpoints (make demo MODE=private):
  local_aws.py create-private ENV_FILE
                                     a hot pair in one subnet, no Elastic IP: a route table whose
                                     route to 10.1.0.10/32 points at the primary's interface, and
                                     the secondary private IP 10.0.1.200 on it; writes the ids and
                                     ROUTE_TABLE_IDS, ROUTE_DESTINATIONS, PRIVATE_IPS
  local_aws.py show-private ENV_FILE  the pair, where the route points and who holds the private IP

The service check (make demo MODE=health):
  local_aws.py service-check ENV_FILE PORT
                                     a hot pair (the standby started too) whose members' services
                                     answer on 127.0.0.2:PORT (primary) and 127.0.0.3:PORT
                                     (standby): the proxy shows those as their private addresses;
                                     re-registers the deployment with ServiceCheck=probe
  local_aws.py a-minute-passes ENV_FILE
                                     the service check's last counted probes are dated a minute
                                     earlier (probes 50 s apart or less count once)

Group mode (make demo MODE=group):
  local_aws.py create-group ENV_FILE  a single-instance Auto Scaling group over two AZs, tagged
                                     ec2-failover:group=demo, and an Elastic IP with the same tag
                                     on its instance; writes GROUP_NAME, ALLOCATION_ID, INSTANCE_ID
  local_aws.py show-group   ENV_FILE  the group's instances and who holds the Elastic IP
  local_aws.py replace      ENV_FILE  the group replaces its instance in the other AZ; appends
                                     NEW_INSTANCE_ID to ENV_FILE
  local_aws.py launch-event ENV_FILE SRC DST
                                     events/SRC for the group's new instance

Stateful group (make demo MODE=asg-ebs):
  local_aws.py create-group ENV_FILE data
                                     as above, plus the group's two hooks and its data volume
                                     (tagged ec2-failover:group and :device) attached to the
                                     instance in us-east-1a; appends DATA_VOLUME
  local_aws.py attach-data  ENV_FILE  (re)attach the data volume to the first instance
  local_aws.py release-data ENV_FILE  detach it, as AWS does when that instance terminates
  local_aws.py hook-event   ENV_FILE SRC DST HOOK old|new
                                     events/SRC for the old or the new instance, from HOOK
  local_aws.py release-gone ENV_FILE PROXY_URL
                                     what AWS does once a terminate lifecycle action is completed
                                     (the proxy lists them): the instance goes and its volumes
                                     are detached

Fleet mode (make demo MODE=fleet):
  local_aws.py create-fleet ENV_FILE [NAME...]
                                     pairs declared by tags, one per NAME (default: web api db):
                                     each primary running in us-east-1a with its Elastic IP, each
                                     standby running in us-east-1b (hot), both tagged
                                     ec2-failover:pair=NAME and ec2-failover:role, the Elastic IP
                                     ec2-failover:pair=NAME; writes FLEET_PAIRS and NAME_PRIMARY,
                                     NAME_STANDBY, NAME_EIP; deploys template-fleet.yaml (its defaults)
  local_aws.py show-fleet   ENV_FILE  every pair, its members and who holds its Elastic IP
  local_aws.py fleet-event  ENV_FILE NAME SRC DST
                                     events/SRC with the example ids replaced by pair NAME's

Every file in events/ (make events-check, make invoke):
  local_aws.py route        SRC...    print "MODE SRC" for each mode SRC goes through (MODES)
  local_aws.py group-event  ENV_FILE SRC DST
                                     events/SRC for the stateful group: a lifecycle action for
                                     its instance (launch: the new one, terminate: the old one)
                                     from the group's hook; an EBS notification naming its data
                                     volume, restored volume and snapshot (those that exist)

  local_aws.py result               print the function's result (JSON on stdin) in a few lines

The endpoint comes from AWS_ENDPOINT_URL, as it does for the function. With PROXY_URL (the strict
local AWS, scripts/ec2_proxy.py) and FUNCTION_ACCESS_KEY_ID (the key the function signs with), create
and create-group also register the function's deployment with the proxy (its template and the
parameter values this scene would deploy it with), for the IAM checker (scripts/iamcheck).
"""
import json
import os
import sys
import urllib.request

import boto3

from localaws import events, scenes
from localaws.scenes import GROUP_TAG


def route(*srcs):
    for src in srcs:
        for mode in events.modes(src):
            print(mode, src)


def ec2():
    return boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


def autoscaling():
    return boto3.client("autoscaling", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


def read_env(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def write_env(path, scene):
    with open(path, "w") as f:
        f.write("".join(f"{k}={v}\n" for k, v in scene.items()))


def deploy(template, parameters, stack_name=None):
    """With STACK_FILE (the pair-mode demos), deploys the template into the local AWS as
    CloudFormation would (scripts/local_stack.py) and describes the stack in STACK_FILE: the demo
    runs the function with the stack's environment and delivers only what its rules and alarms
    would. Then tells the proxy which deployed function FUNCTION_ACCESS_KEY_ID signs for (POST
    /_proxy/deployment), for the IAM checker."""
    stack_file = os.environ.get("STACK_FILE")
    if stack_file and template in ("template.yaml", "template-group.yaml", "template-fleet.yaml"):
        import local_stack

        try:
            description = local_stack.deploy(template, {k: str(v) for k, v in parameters.items()},
                                              stack_name or "ec2-failover", os.environ["AWS_REGION"])
        except local_stack.Refused as e:
            sys.exit(str(e))
        with open(stack_file, "w") as f:
            json.dump(description, f, indent=2)
        deployed = description["function"]["policies"]
    else:
        deployed = None
    proxy, key = os.environ.get("PROXY_URL"), os.environ.get("FUNCTION_ACCESS_KEY_ID")
    if not proxy or not key:
        return
    registration = {"access_key": key, "template": template, "parameters": parameters, "stack_name": stack_name,
                    "source": os.environ.get("DEPLOYMENT_SOURCE", "scripts")}
    if deployed is not None:
        registration["deployed_policies"] = deployed  # the stack's role, as IAM holds it
    body = json.dumps(registration).encode()
    request = urllib.request.Request(f"{proxy}/_proxy/deployment", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as r:
        r.read()


def create(path, build=scenes.pair):
    """A pair (scenes.pair, or scenes.private_pair for create-private) and its deployment."""
    scene = build(ec2())
    write_env(path, scene)
    deploy("template.yaml", {**scene.parameters, "FenceMode": "stop"})


def create_with(path, *settings):
    """A pair deployed with template parameters of one's own (KEY=VALUE ...) over the defaults."""
    scene = scenes.pair(ec2())
    write_env(path, scene)
    deploy("template.yaml", {**scene.parameters, "FenceMode": "stop", **dict(s.split("=", 1) for s in settings)})


def zone_id(name):
    """The zone ID (use1-az1) of a zone name in this (local) account, as Route 53 ARC names zones."""
    zones = ec2().describe_availability_zones(ZoneNames=[name])["AvailabilityZones"]
    print(zones[0]["ZoneId"])


def show(path):
    env = read_env(path)
    c = ec2()
    roles = {env["PRIMARY_INSTANCE_ID"]: "primary", env["STANDBY_INSTANCE_ID"]: "standby"}
    reservations = c.describe_instances(InstanceIds=list(roles))["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    address = c.describe_addresses(AllocationIds=[env["EIP_ALLOCATION_ID"]])["Addresses"][0]
    eni = address.get("NetworkInterfaceId")
    holder = next((i["InstanceId"] for i in instances
                   if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", []))), None)
    for i in sorted(instances, key=lambda i: roles[i["InstanceId"]]):
        iid = i["InstanceId"]
        ip = f"  <- Elastic IP {address['PublicIp']}" if iid == holder else ""
        print(f"  {roles[iid]:8} {iid}  {i['Placement']['AvailabilityZone']}  {i['State']['Name']:10}{ip}")
    if holder is None:
        print(f"  Elastic IP {address['PublicIp']} is associated with nothing")
    if "DATA_VOLUME" in env:
        show_data()
    tags = {t["Key"]: t["Value"] for t in address.get("Tags", []) if t["Key"].startswith("ec2-failover:")}
    if tags:
        print("  failover record on the Elastic IP: " + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(tags.items())))


def create_private(path):
    create(path, scenes.private_pair)


def show_private(path):
    env = read_env(path)
    c = ec2()
    roles = {env["PRIMARY_INSTANCE_ID"]: "primary", env["STANDBY_INSTANCE_ID"]: "standby"}
    instances = [i for r in c.describe_instances(InstanceIds=list(roles))["Reservations"] for i in r["Instances"]]
    eni = {i["NetworkInterfaces"][0]["NetworkInterfaceId"]: i["InstanceId"] for i in instances}
    table = c.describe_route_tables(RouteTableIds=[env["ROUTE_TABLE_IDS"]])["RouteTables"][0]
    route = next((r for r in table["Routes"] if r.get("DestinationCidrBlock") == env["ROUTE_DESTINATIONS"]), {})
    holders = c.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [env["PRIVATE_IPS"]]}])["NetworkInterfaces"]
    held = {eni.get(n["NetworkInterfaceId"]) for n in holders}
    for i in sorted(instances, key=lambda i: roles[i["InstanceId"]]):
        iid = i["InstanceId"]
        marks = []
        if eni.get(route.get("NetworkInterfaceId")) == iid:
            marks.append(f"route {env['ROUTE_DESTINATIONS']} in {env['ROUTE_TABLE_IDS']}")
        if iid in held:
            marks.append(f"private IP {env['PRIVATE_IPS']}")
        where = f"  <- {', '.join(marks)}" if marks else ""
        print(f"  {roles[iid]:8} {iid}  {i['State']['Name']:10}{where}")
    tags = {t["Key"]: t["Value"] for t in table.get("Tags", []) if t["Key"].startswith("ec2-failover:")}
    if tags:
        print("  failover record on the route table: " + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(tags.items())))


PRIMARY_SERVICE, STANDBY_SERVICE = "127.0.0.2", "127.0.0.3"


def service_check(path, port):
    env = read_env(path)
    c = ec2()
    c.start_instances(InstanceIds=[env["STANDBY_INSTANCE_ID"]])
    proxy = os.environ["PROXY_URL"]
    for instance, address in ((env["PRIMARY_INSTANCE_ID"], PRIMARY_SERVICE), (env["STANDBY_INSTANCE_ID"], STANDBY_SERVICE)):
        body = json.dumps({"instance": instance, "private_ip": address}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{proxy}/_proxy/network", data=body, method="POST")) as r:
            r.read()
    instances = c.describe_instances(InstanceIds=[env["PRIMARY_INSTANCE_ID"]])["Reservations"][0]["Instances"]
    vpc, subnet = instances[0]["VpcId"], instances[0]["SubnetId"]
    standby = c.describe_instances(InstanceIds=[env["STANDBY_INSTANCE_ID"]])["Reservations"][0]["Instances"][0]
    deploy("template.yaml", {"PrimaryInstanceId": env["PRIMARY_INSTANCE_ID"], "StandbyInstanceId": env["STANDBY_INSTANCE_ID"],
                             "ElasticIpAllocationId": env["EIP_ALLOCATION_ID"], "VpcId": vpc, "FenceMode": "stop",
                             "ServiceCheck": "probe", "ServiceCheckProtocol": "http", "ServiceCheckPort": int(port),
                             "ServiceCheckThreshold": 2, "ServiceCheckSubnetIds": f"{subnet},{standby['SubnetId']}"})


def a_minute_passes(path):
    env = read_env(path)
    c = ec2()
    address = c.describe_addresses(AllocationIds=[env["EIP_ALLOCATION_ID"]])["Addresses"][0]
    tag = next((t["Value"] for t in address.get("Tags", []) if t["Key"] == "ec2-failover:health"), None)
    if tag is None:
        return
    at, _, rest = tag.partition(" ")
    value = f"{int(at) - 60} {rest}".strip()
    c.create_tags(Resources=[env["EIP_ALLOCATION_ID"]], Tags=[{"Key": "ec2-failover:health", "Value": value}])


def event(path, src, dst):
    text = events.pair_event(src, read_env(path))
    with open(dst, "w") as f:
        f.write(text)


def create_group(path, data=None):
    """The group's world (scenes.group, or scenes.stateful_group with `data`); with STACK_FILE,
    template-group.yaml deployed into the local AWS makes the group (named after the stack, over
    both subnets), its Elastic IP and its lifecycle hooks, as a real deployment does; without,
    they are made as the template would make them. The data volume is encrypted with the account's
    default EBS key (aws/ebs): no DataKmsKeyId."""
    keep = {"KeepData": str(data == "data").lower()}

    def stack(parameters):
        deploy("template-group.yaml", {**parameters, **keep}, stack_name="demo-group")

    deployed = bool(os.environ.get("STACK_FILE"))
    build = scenes.stateful_group if data == "data" else scenes.group
    scene = build(ec2(), autoscaling(), "demo", "demo-group", stack=stack if deployed else None)
    if not deployed:
        stack(scene.parameters)
    write_env(path, scene)


def attach_data(path):
    scenes.attach_data(ec2(), read_env(path))


def release_data(path):
    env = read_env(path)
    ec2().detach_volume(VolumeId=env["DATA_VOLUME"], InstanceId=env["INSTANCE_ID"], Device=scenes.DEVICE)


def hook_event(path, src, dst, hook, which):
    env = read_env(path)
    event = events.hook_event(src, env["GROUP_NAME"], hook, env["NEW_INSTANCE_ID" if which == "new" else "INSTANCE_ID"])
    with open(dst, "w") as f:
        json.dump(event, f)


def show_data():
    """The group's data volumes and snapshots, with the lineage their tags record."""
    c = ec2()
    ours = [{"Name": "tag-key", "Values": [GROUP_TAG]}]
    tags = lambda r: {t["Key"].removeprefix("ec2-failover:"): t["Value"] for t in r.get("Tags", [])}
    for v in c.describe_volumes(Filters=ours)["Volumes"]:
        t = tags(v)
        on = ", ".join(f"{a['InstanceId']} at {a['Device']}" for a in v.get("Attachments", [])) or "nothing"
        origin = f"restored from {t['snapshot']} for {t.get('for')}" if "snapshot" in t else "the original"
        print(f"  volume   {v['VolumeId']}  {v['AvailabilityZone']}  {v['State']:9} on {on}; {origin}")
    for s in c.describe_snapshots(OwnerIds=["self"], Filters=ours)["Snapshots"]:
        t = tags(s)
        print(f"  snapshot {s['SnapshotId']}  {s['State']:9} of {t.get('volume')} ({t.get('device')}), "
              f"taken for {t.get('instance', 'a first launch')}")


def show_group(path):
    env = read_env(path)
    c = ec2()
    address = c.describe_addresses(AllocationIds=[env["ALLOCATION_ID"]])["Addresses"][0]
    eni = address.get("NetworkInterfaceId")
    # The group's instances, those that have left it included (Auto Scaling tags each it launches).
    group = [{"Name": "tag:aws:autoscaling:groupName", "Values": [env["GROUP_NAME"]]}]
    instances = [i for r in c.describe_instances(Filters=group)["Reservations"] for i in r["Instances"]]
    holder = next((i["InstanceId"] for i in instances
                   if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", []))), None)
    for i in sorted(instances, key=lambda i: i["LaunchTime"]):
        ip = f"  <- Elastic IP {address['PublicIp']}" if i["InstanceId"] == holder else ""
        print(f"  {i['InstanceId']}  {i['Placement']['AvailabilityZone']}  {i['State']['Name']:10}{ip}")
    if holder is None:
        print(f"  Elastic IP {address['PublicIp']} is associated with nothing")
    if "DATA_VOLUME" in env:
        show_data()


def replace(path):
    new = scenes.replace(autoscaling(), read_env(path))
    with open(path, "a") as f:
        f.write(f"NEW_INSTANCE_ID={new}\n")


def launch_event(path, src, dst):
    hook_event(path, src, dst, None, "new")


def group_event(path, src, dst):
    text = events.group_event(src, read_env(path), ec2(), autoscaling())
    with open(dst, "w") as f:
        f.write(text)


def release_gone(path, proxy):
    """Once a terminate lifecycle action is completed, Auto Scaling lets the instance terminate and
    EC2 detaches its volumes (moto terminated it at once; the group's data was attached back to it)."""
    env = read_env(path)
    with urllib.request.urlopen(f"{proxy}/_proxy/lifecycle") as r:
        completions = json.load(r)
    hooks = autoscaling().describe_lifecycle_hooks(AutoScalingGroupName=env["GROUP_NAME"])["LifecycleHooks"]
    terminating = {h["LifecycleHookName"] for h in hooks
                   if h["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"}
    gone = {c["instance"] for c in completions if c["group"] == env["GROUP_NAME"] and c["hook"] in terminating}
    c = ec2()
    for volume in c.describe_volumes()["Volumes"]:
        for a in volume.get("Attachments", []):
            if a["InstanceId"] in gone and a["State"] in ("attaching", "attached"):
                c.detach_volume(VolumeId=volume["VolumeId"], InstanceId=a["InstanceId"], Device=a["Device"])


FLEET_NAMES = ("web", "api", "db")


def create_fleet(path, *names):
    """The fleet's pairs (scenes.fleet, hot standbys) and its deployment: template-fleet.yaml with its
    defaults, as the stack ec2-failover-fleet."""
    names = list(names or FLEET_NAMES)
    scene = scenes.fleet(ec2(), names)
    with open(path, "w") as f:
        f.write(f"FLEET_PAIRS='{' '.join(names)}'\n")
        for name, pair in scene.items():
            f.write(f"{name}_PRIMARY={pair['primary']}\n{name}_STANDBY={pair['standby']}\n"
                    f"{name}_EIP={pair['allocation_id']}\n")
    deploy("template-fleet.yaml", {}, stack_name="ec2-failover-fleet")


def fleet_group(path):
    """A group in the fleet's region, as its owner makes it (no stack of its own: the fleet's
    function serves it): nat-group, tagged ec2-failover:group=nat with its Elastic IP, over both
    zones with its first instance in us-east-1a, and the launch hook ec2-failover-launch."""
    write_env(path, scenes.group(ec2(), autoscaling(), "nat", "nat-group", hooks=True))


def read_fleet(path):
    """{name: {"primary", "standby", "allocation_id"}} from create-fleet's ENV_FILE."""
    env = read_env(path)
    return {name: {"primary": env[f"{name}_PRIMARY"], "standby": env[f"{name}_STANDBY"],
                   "allocation_id": env[f"{name}_EIP"]} for name in env["FLEET_PAIRS"].strip("'").split()}


def show_fleet(path):
    pairs = read_fleet(path)
    c = ec2()
    ids = [i for p in pairs.values() for i in (p["primary"], p["standby"])]
    instances = {i["InstanceId"]: i for r in c.describe_instances(InstanceIds=ids)["Reservations"] for i in r["Instances"]}
    addresses = {a["AllocationId"]: a for a in c.describe_addresses(
        AllocationIds=[p["allocation_id"] for p in pairs.values()])["Addresses"]}
    for name, pair in pairs.items():
        address = addresses[pair["allocation_id"]]
        eni = address.get("NetworkInterfaceId")
        for role in ("primary", "standby"):
            i = instances[pair[role]]
            held = eni and any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", []))
            ip = f"  <- Elastic IP {address['PublicIp']}" if held else ""
            label = name if role == "primary" else ""
            print(f"  {label:6} {role:8} {i['InstanceId']}  {i['Placement']['AvailabilityZone']}  {i['State']['Name']:10}{ip}")
        if not eni:
            print(f"  {'':6} Elastic IP {address['PublicIp']} is associated with nothing")
        tags = {t["Key"]: t["Value"] for t in address.get("Tags", [])
                if t["Key"].startswith("ec2-failover:") and t["Key"] != scenes.PAIR_TAG}
        if tags:
            print(f"  {'':6} failover record on the Elastic IP: "
                  + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(tags.items())))


def fleet_event(path, name, src, dst):
    pair = read_fleet(path)[name]
    text = events.pair_event(src, {"PRIMARY_INSTANCE_ID": pair["primary"], "STANDBY_INSTANCE_ID": pair["standby"]})
    with open(dst, "w") as f:
        f.write(text)


def result():
    text = sys.stdin.read()
    try:
        r = json.loads(text)
    except ValueError:  # an error as cargo-lambda prints it, its advertisement left out
        lines = [l for l in text.strip().splitlines() if l.strip() and "unexpected?" not in l and "Start a thread" not in l]
        print("  " + "\n  ".join(lines))
        return
    if "verdict" not in r:
        print("  error:  ", r.get("errorType"), r.get("errorMessage"))
        return
    print("  verdict:", r["verdict"])
    print("  reason: ", r["reason"])
    for a in r.get("actions", []):
        what = " ".join(a[k] for k in ("snapshot_id", "volume_id", "instance_id") if a.get(k))
        extra = a.get("result") or (f"in {a['availability_zone']}" if "availability_zone" in a else "")
        print(f"  action:  {a['action']} {what} {extra} -> {a['status']}")


def stop(*instances):
    ec2().stop_instances(InstanceIds=list(instances))


COMMANDS = {"create": create, "create-with": create_with, "zone-id": zone_id, "show": show, "stop": stop, "event": event, "create-private": create_private,
            "show-private": show_private, "service-check": service_check, "a-minute-passes": a_minute_passes,
            "create-group": create_group, "show-group": show_group, "replace": replace, "launch-event": launch_event,
            "attach-data": attach_data, "release-data": release_data, "hook-event": hook_event,
            "group-event": group_event, "release-gone": release_gone, "create-fleet": create_fleet,
            "show-fleet": show_fleet, "fleet-event": fleet_event, "fleet-group": fleet_group}


def main(argv):
    if argv[1:] == ["result"]:
        return result()
    if argv[1:2] == ["route"]:
        return route(*argv[2:])
    if len(argv) < 3 or argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
