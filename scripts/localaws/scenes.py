"""The scenes the function runs against, built in the local AWS (moto, or the proxy in front of it)
through boto3 clients the caller gives: the demos (scripts/local_aws.py), the bench and the Python
tests build them here, so that a pair is the same pair everywhere. The Rust tests build theirs in
tests/support.

Each builder returns a Scene: the function's environment for it ({NAME: id}, as the demos write it
to an env file and the bench spawns the function with it), with what else was made as attributes.

- `pair`: a primary running with the Elastic IP in us-east-1a, a standby in us-east-1b (stopped,
  or running: a hot standby).
- `private_pair`: a hot pair in one subnet reached by routes to the primary's interface and a
  secondary private IP on it, with or without an Elastic IP; source/destination checks off.
- `group`: a single-instance Auto Scaling group over two zones (launching in us-east-1a), tagged
  ec2-failover:group=KEY, and an Elastic IP with the same tag on its instance.
- `stateful_group`: a group with its two lifecycle hooks and its data volume (tagged
  ec2-failover:group and :device) attached to the instance.
- `replace`: the group replaces its instance in the other zone.
- `fleet`: pairs declared by tags for fleet mode (MODE=fleet), each with its tagged Elastic IP on
  its primary; `fleet_holders` who holds each pair's address.
"""

IMAGE, INSTANCE_TYPE = "ami-12c6146b", "t3.micro"  # moto launches any image id
ZONES = (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
PRIVATE_DESTINATION, PRIVATE_IP = "10.1.0.10/32", "10.0.1.200"
GROUP_TAG = "ec2-failover:group"
PAIR_TAG, ROLE_TAG = "ec2-failover:pair", "ec2-failover:role"  # fleet mode
DEVICE = "/dev/xvdf"
HOOKS = (("ec2-failover-launch", "LAUNCHING"), ("ec2-failover-terminate", "TERMINATING"))
# template.yaml's parameter for each variable of a pair's environment.
PARAMETERS = {"PRIMARY_INSTANCE_ID": "PrimaryInstanceId", "STANDBY_INSTANCE_ID": "StandbyInstanceId",
              "EIP_ALLOCATION_ID": "ElasticIpAllocationId", "ROUTE_TABLE_IDS": "RouteTableIds",
              "ROUTE_DESTINATIONS": "RouteDestinations", "PRIVATE_IPS": "PrivateIps"}


class Scene(dict):
    """The function's environment for a scene; `vpc`, `subnets` and `parameters` (the template's
    parameter values that deploy the function for it) say the rest."""

    vpc, subnets, parameters = None, (), None


def network(ec2, zones=2):
    """(VPC id, [subnet ids]): 10.0.0.0/16 with a /24 in each of the first `zones` of ZONES."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return vpc, [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
                 for cidr, az in ZONES[:zones]]


def launch(ec2, subnet):
    """A new instance in the subnet (moto runs it at once): its description."""
    return ec2.run_instances(ImageId=IMAGE, InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1,
                             SubnetId=subnet)["Instances"][0]


def pair_scene(env, vpc, subnets):
    scene = Scene(env)
    scene.vpc, scene.subnets = vpc, subnets
    scene.parameters = {**{PARAMETERS[k]: v for k, v in env.items()}, "VpcId": vpc}
    return scene


def pair(ec2, standby_running=False, net=None):
    """A pair across two zones, the Elastic IP on the primary; net: the (vpc, subnets) to use."""
    vpc, subnets = net or network(ec2)
    primary, standby = (launch(ec2, subnet)["InstanceId"] for subnet in subnets[:2])
    if not standby_running:
        ec2.stop_instances(InstanceIds=[standby])
    alloc = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=alloc, InstanceId=primary)
    env = {"PRIMARY_INSTANCE_ID": primary, "STANDBY_INSTANCE_ID": standby, "EIP_ALLOCATION_ID": alloc}
    return pair_scene(env, vpc, subnets)


def private_pair(ec2, eip=False, destinations=(PRIVATE_DESTINATION,), private_ips=(PRIVATE_IP,), net=None):
    """A hot pair in the first subnet with the endpoints asked for: the Elastic IP, one route table
    with a route to the primary's interface for each destination, the private IPs on it."""
    vpc, subnets = net or network(ec2, zones=1)
    ids = [launch(ec2, subnets[0])["InstanceId"] for _ in range(2)]
    for instance in ids:
        # A route to an instance carries traffic only with its source/destination check off.
        ec2.modify_instance_attribute(InstanceId=instance, SourceDestCheck={"Value": False})
    primary, standby = ids
    eni = ec2.describe_instances(InstanceIds=[primary])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    env = {"PRIMARY_INSTANCE_ID": primary, "STANDBY_INSTANCE_ID": standby}
    if eip:
        env["EIP_ALLOCATION_ID"] = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.associate_address(AllocationId=env["EIP_ALLOCATION_ID"], InstanceId=primary)
    if destinations:
        table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
        for cidr in destinations:
            ec2.create_route(RouteTableId=table, DestinationCidrBlock=cidr, NetworkInterfaceId=eni)
        env.update(ROUTE_TABLE_IDS=table, ROUTE_DESTINATIONS=",".join(destinations))
    if private_ips:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=list(private_ips))
        env["PRIVATE_IPS"] = ",".join(private_ips)
    return pair_scene(env, vpc, subnets)


def group_instances(autoscaling, name):
    return autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]


def group(ec2, autoscaling, key, name, hooks=False, stack=None):
    """A group over both zones and its Elastic IP on its first instance. stack(parameters), when
    given, deploys template-group.yaml with the parameters (the launch template, subnets, VPC, key),
    which makes the group (named `name`), its Elastic IP and its hooks as a real deployment does;
    without, they are made here as the template would make them."""
    vpc, subnets = network(ec2)
    template = ec2.create_launch_template(LaunchTemplateName=key, LaunchTemplateData={
        "ImageId": IMAGE, "InstanceType": INSTANCE_TYPE})["LaunchTemplate"]["LaunchTemplateId"]
    parameters = {"LaunchTemplateId": template, "SubnetIds": ",".join(subnets), "VpcId": vpc, "GroupKey": key}
    ours = [{"Key": GROUP_TAG, "Value": key}]
    if stack:
        stack(parameters)
        alloc = ec2.describe_addresses(Filters=[{"Name": f"tag:{GROUP_TAG}", "Values": [key]}])["Addresses"][0][
            "AllocationId"]
    else:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnets[0],
            LaunchTemplate={"LaunchTemplateId": template}, Tags=[dict(t, PropagateAtLaunch=False) for t in ours])
        alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=[
            {"ResourceType": "elastic-ip", "Tags": ours}])["AllocationId"]
        for hook, transition in HOOKS if hooks else ():
            autoscaling.put_lifecycle_hook(AutoScalingGroupName=name, LifecycleHookName=hook, HeartbeatTimeout=300,
                                           LifecycleTransition=f"autoscaling:EC2_INSTANCE_{transition}")
    instance = group_instances(autoscaling, name)[0]["InstanceId"]
    placed = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    other = next(s for s in subnets if s != placed["SubnetId"])
    # The group's first launch has been served: its address is on its instance.
    ec2.associate_address(AllocationId=alloc, InstanceId=instance)
    scene = Scene(GROUP_NAME=name, ALLOCATION_ID=alloc, INSTANCE_ID=instance, SUBNET_B=other)
    scene.vpc, scene.subnets, scene.parameters = vpc, subnets, parameters
    scene.zone = placed["Placement"]["AvailabilityZone"]
    return scene


def stateful_group(ec2, autoscaling, key, name, stack=None, encrypted=True):
    """A group with both hooks and its data volume (gp3, 20 GiB; encrypted with the account's default
    EBS key unless not `encrypted`) attached to its instance, in its zone: DATA_VOLUME."""
    scene = group(ec2, autoscaling, key, name, hooks=True, stack=stack)
    tags = [{"Key": GROUP_TAG, "Value": key}, {"Key": "ec2-failover:device", "Value": DEVICE}]
    scene["DATA_VOLUME"] = ec2.create_volume(
        AvailabilityZone=scene.zone, Size=20, VolumeType="gp3", Iops=3000, Throughput=125,
        **({"Encrypted": True} if encrypted else {}),
        TagSpecifications=[{"ResourceType": "volume", "Tags": tags}])["VolumeId"]
    attach_data(ec2, scene)
    return scene


def attach_data(ec2, scene):
    """(Re)attaches the data volume to the group's first instance."""
    ec2.attach_volume(VolumeId=scene["DATA_VOLUME"], InstanceId=scene["INSTANCE_ID"], Device=DEVICE)


def fleet(ec2, names, standby_running=True, batch=False):
    """Pairs declared by tags (fleet mode, template-fleet.yaml), one per name, in one VPC: each
    primary running in us-east-1a with its Elastic IP, each standby in us-east-1b (running: hot,
    or stopped), both tagged ec2-failover:pair=NAME and ec2-failover:role, the Elastic IP
    allocated with ec2-failover:pair=NAME. Each instance is launched by a RunInstances of its own,
    tagged at launch, as a fleet's owners launch theirs; with `batch`, each zone's instances in
    RunInstances of up to 250 (a reservation each), tagged with their pair's name afterwards (one
    CreateTags per pair): quicker in moto for a thousand pairs, and fewer reservations to page
    through. Returns a FleetScene: {name: {"primary", "standby", "allocation_id"}}."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    # /18s: room for thousands of instances in each zone.
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
               for cidr, az in (("10.0.0.0/18", "us-east-1a"), ("10.0.64.0/18", "us-east-1b"))]

    def tags(resource, **pairs):
        return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in pairs.items()]}]

    members = {}
    for role, subnet in zip(("primary", "standby"), subnets):
        if batch:
            ids = []
            while len(ids) < len(names):
                n = min(250, len(names) - len(ids))
                run = ec2.run_instances(ImageId=IMAGE, InstanceType=INSTANCE_TYPE, MinCount=n, MaxCount=n,
                                        SubnetId=subnet, TagSpecifications=tags("instance", **{ROLE_TAG: role}))
                ids += [i["InstanceId"] for i in run["Instances"]]
        else:
            ids = [ec2.run_instances(ImageId=IMAGE, InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1,
                                     SubnetId=subnet, TagSpecifications=tags(
                                         "instance", **{PAIR_TAG: name, ROLE_TAG: role}))["Instances"][0]["InstanceId"]
                   for name in names]
        members[role] = ids
    if not standby_running:
        for i in range(0, len(names), 250):
            ec2.stop_instances(InstanceIds=members["standby"][i:i + 250])
    scene = FleetScene()
    scene.vpc, scene.subnets = vpc, subnets
    for name, primary, standby in zip(names, members["primary"], members["standby"]):
        if batch:
            ec2.create_tags(Resources=[primary, standby], Tags=[{"Key": PAIR_TAG, "Value": name}])
        alloc = ec2.allocate_address(Domain="vpc", TagSpecifications=tags("elastic-ip", **{PAIR_TAG: name}))
        ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=primary)
        scene[name] = {"primary": primary, "standby": standby, "allocation_id": alloc["AllocationId"]}
    return scene


class FleetScene(dict):
    """A fleet's pairs by name; `vpc` and `subnets` (us-east-1a, us-east-1b) as a Scene's."""

    vpc, subnets = None, ()


def fleet_holders(ec2, scene):
    """{pair name: the instance its Elastic IP is on, or None}, read in a few requests whatever the
    fleet's size (moto names no instance for an association made through an interface: by its
    interface)."""
    ours = [{"Name": "tag-key", "Values": [PAIR_TAG]}]
    addresses = {a["AllocationId"]: a for a in ec2.describe_addresses(Filters=ours)["Addresses"]}
    by_eni = {}
    for page in ec2.get_paginator("describe_instances").paginate(Filters=ours):
        for r in page["Reservations"]:
            for i in r["Instances"]:
                for n in i.get("NetworkInterfaces", []):
                    by_eni[n["NetworkInterfaceId"]] = i["InstanceId"]
    holders = {}
    for name, pair in scene.items():
        address = addresses.get(pair["allocation_id"], {})
        holders[name] = address.get("InstanceId") or by_eni.get(address.get("NetworkInterfaceId"))
    return holders


def replace(autoscaling, scene):
    """The group replaces its instance in the other zone (moto terminates the old one at once):
    NEW_INSTANCE_ID, which it returns."""
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=scene["GROUP_NAME"], VPCZoneIdentifier=scene["SUBNET_B"])
    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=scene["INSTANCE_ID"],
                                                         ShouldDecrementDesiredCapacity=False)
    scene["NEW_INSTANCE_ID"] = next(i["InstanceId"] for i in group_instances(autoscaling, scene["GROUP_NAME"])
                                    if i["InstanceId"] != scene["INSTANCE_ID"])
    return scene["NEW_INSTANCE_ID"]
