#!/usr/bin/env python3
"""Builds and shows a standby pair in the local EC2 API (moto) for `make demo` and `make invoke`.

Usage:
  local_aws.py create  ENV_FILE      create a pair (primary running with the Elastic IP, standby
                                     stopped) and write its ids to ENV_FILE as KEY=VALUE lines
  local_aws.py show    ENV_FILE      print the pair and who holds the Elastic IP
  local_aws.py stop    INSTANCE_ID   stop an instance (the demo's failure)
  local_aws.py event   ENV_FILE SRC DST
                                     copy events/SRC to DST with the example ids replaced by the pair's

Group mode (make demo MODE=group):
  local_aws.py create-group ENV_FILE  a single-instance Auto Scaling group over two AZs, tagged
                                     ec2-failover:group=demo, and an Elastic IP with the same tag
                                     on its instance; writes GROUP_NAME, ALLOCATION_ID, INSTANCE_ID
  local_aws.py show-group   ENV_FILE  the group's instances and who holds the Elastic IP
  local_aws.py replace      ENV_FILE  the group replaces its instance in the other AZ; appends
                                     NEW_INSTANCE_ID to ENV_FILE
  local_aws.py launch-event ENV_FILE SRC DST
                                     events/SRC for the group's new instance

The endpoint comes from AWS_ENDPOINT_URL, as it does for the function.
"""
import json
import os
import sys

import boto3

EVENT_PRIMARY = "i-0123456789abcdef0"
EVENT_STANDBY = "i-0fedcba9876543210"


def ec2():
    return boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


def read_env(path):
    with open(path) as f:
        return dict(line.strip().split("=", 1) for line in f if "=" in line)


def create(path):
    c = ec2()
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ids = []
    for cidr, az in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b")):
        subnet = c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        run = c.run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1, SubnetId=subnet)
        ids.append(run["Instances"][0]["InstanceId"])
    primary, standby = ids
    c.stop_instances(InstanceIds=[standby])
    alloc = c.allocate_address(Domain="vpc")["AllocationId"]
    c.associate_address(AllocationId=alloc, InstanceId=primary)
    with open(path, "w") as f:
        f.write(f"PRIMARY_INSTANCE_ID={primary}\nSTANDBY_INSTANCE_ID={standby}\nEIP_ALLOCATION_ID={alloc}\n")


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
    tags = {t["Key"]: t["Value"] for t in address.get("Tags", []) if t["Key"].startswith("ec2-failover:")}
    if tags:
        print("  failover record on the Elastic IP: " + ", ".join(f"{k.split(':')[1]}={v}" for k, v in sorted(tags.items())))


def event(path, src, dst):
    env = read_env(path)
    with open(src) as f:
        text = f.read()
    text = text.replace(EVENT_PRIMARY, env["PRIMARY_INSTANCE_ID"]).replace(EVENT_STANDBY, env["STANDBY_INSTANCE_ID"])
    json.loads(text)
    with open(dst, "w") as f:
        f.write(text)


GROUP_TAG = "ec2-failover:group"


def autoscaling():
    return boto3.client("autoscaling", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])


def create_group(path):
    c, a = ec2(), autoscaling()
    vpc = c.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [c.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
               for cidr, az in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))]
    template = c.create_launch_template(LaunchTemplateName="demo", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    a.create_auto_scaling_group(AutoScalingGroupName="demo-group", MinSize=1, MaxSize=1, DesiredCapacity=1,
                                VPCZoneIdentifier=subnets[0], LaunchTemplate={"LaunchTemplateId": template},
                                Tags=[{"Key": GROUP_TAG, "Value": "demo", "PropagateAtLaunch": False}])
    instance = group_instances()[0]["InstanceId"]
    alloc = c.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": [{"Key": GROUP_TAG, "Value": "demo"}]}])["AllocationId"]
    c.associate_address(AllocationId=alloc, InstanceId=instance)
    with open(path, "w") as f:
        f.write(f"GROUP_NAME=demo-group\nALLOCATION_ID={alloc}\nINSTANCE_ID={instance}\nSUBNET_B={subnets[1]}\n")


def group_instances():
    groups = autoscaling().describe_auto_scaling_groups(AutoScalingGroupNames=["demo-group"])["AutoScalingGroups"]
    return groups[0]["Instances"]


def show_group(path):
    env = read_env(path)
    c = ec2()
    address = c.describe_addresses(AllocationIds=[env["ALLOCATION_ID"]])["Addresses"][0]
    eni = address.get("NetworkInterfaceId")
    instances = [i for r in c.describe_instances()["Reservations"] for i in r["Instances"]]
    holder = next((i["InstanceId"] for i in instances
                   if any(n["NetworkInterfaceId"] == eni for n in i.get("NetworkInterfaces", []))), None)
    for i in sorted(instances, key=lambda i: i["LaunchTime"]):
        ip = f"  <- Elastic IP {address['PublicIp']}" if i["InstanceId"] == holder else ""
        print(f"  {i['InstanceId']}  {i['Placement']['AvailabilityZone']}  {i['State']['Name']:10}{ip}")
    if holder is None:
        print(f"  Elastic IP {address['PublicIp']} is associated with nothing")


def replace(path):
    env = read_env(path)
    a = autoscaling()
    a.update_auto_scaling_group(AutoScalingGroupName="demo-group", VPCZoneIdentifier=env["SUBNET_B"])
    a.terminate_instance_in_auto_scaling_group(InstanceId=env["INSTANCE_ID"], ShouldDecrementDesiredCapacity=False)
    new = [i["InstanceId"] for i in group_instances() if i["InstanceId"] != env["INSTANCE_ID"]][0]
    with open(path, "a") as f:
        f.write(f"NEW_INSTANCE_ID={new}\n")


def launch_event(path, src, dst):
    env = read_env(path)
    with open(src) as f:
        event = json.load(f)
    event["detail"]["AutoScalingGroupName"] = env["GROUP_NAME"]
    event["detail"]["EC2InstanceId"] = env["NEW_INSTANCE_ID"]
    with open(dst, "w") as f:
        json.dump(event, f)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    command, args = argv[1], argv[2:]
    if command == "create":
        create(*args)
    elif command == "show":
        show(*args)
    elif command == "stop":
        ec2().stop_instances(InstanceIds=args)
    elif command == "event":
        event(*args)
    elif command == "create-group":
        create_group(*args)
    elif command == "show-group":
        show_group(*args)
    elif command == "replace":
        replace(*args)
    elif command == "launch-event":
        launch_event(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
