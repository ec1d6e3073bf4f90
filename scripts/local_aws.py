#!/usr/bin/env python3
"""Builds and shows a standby pair in the local EC2 API (moto) for `make demo` and `make invoke`.

Usage:
  local_aws.py create  ENV_FILE      create a pair (primary running with the Elastic IP, standby
                                     stopped) and write its ids to ENV_FILE as KEY=VALUE lines
  local_aws.py show    ENV_FILE      print the pair and who holds the Elastic IP
  local_aws.py stop    INSTANCE_ID   stop an instance (the demo's failure)
  local_aws.py event   ENV_FILE SRC DST
                                     copy events/SRC to DST with the example ids replaced by the pair's

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
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
