"""The documented parameter sets of each template: one per way the README, samconfig.toml and the
demos deploy it, and one per feature the parameters turn on, so that every Condition takes both
values in some set. Each is (name, template, region, parameters); the README's and
samconfig.toml's `--parameter-overrides` are read from those files, on top of the template's base
set (the values `sam deploy --guided` would ask for)."""

import pathlib
import re
import shlex

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAIR, GROUP, FLEET, SERVICE_ALARM = "template.yaml", "template-group.yaml", "template-fleet.yaml", "template-service-alarm.yaml"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
MRK = "arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"

BASE = {
    PAIR: {"PrimaryInstanceId": "i-0123456789abcdef0", "StandbyInstanceId": "i-0fedcba9876543210",
           "ElasticIpAllocationId": "eipalloc-0123456789abcdef0", "VpcId": "vpc-0123456789abcdef0"},
    GROUP: {"LaunchTemplateId": "lt-0123456789abcdef0", "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210"},
    FLEET: {},
    SERVICE_ALARM: {"PairStackName": "ec2-failover", "HealthCheckId": "abcdef12-3456-7890-abcd-ef1234567890"},
}
PROBE = {"ServiceCheck": "probe", "ServiceCheckSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210"}

# (name, template, region, parameters over the base)
FEATURES = [
    ("defaults", PAIR, "us-east-1", {}),
    ("the Elastic IP, routes (IPv4, IPv6, a prefix list) and private IPs", PAIR, "us-east-1",
     {"RouteTableIds": "rtb-0123456789abcdef0,rtb-0fedcba9876543210",
      "RouteDestinations": "10.1.0.10/32,2001:db8::/64,pl-0123456789abcdef0", "PrivateIps": "10.0.1.200"}),
    ("make demo MODE=private: routes and a private IP, no Elastic IP", PAIR, "us-east-1",
     {"ElasticIpAllocationId": "", "RouteTableIds": "rtb-0123456789abcdef0", "RouteDestinations": "10.1.0.10/32",
      "PrivateIps": "10.0.1.200"}),
    ("make demo MODE=health: ServiceCheck=probe over http", PAIR, "us-east-1",
     dict(PROBE, ServiceCheckProtocol="http", ServiceCheckPort="8080", ServiceCheckThreshold="2")),
    ("ServiceCheck=probe over tcp, a window", PAIR, "us-east-1",
     dict(PROBE, ServiceCheckProtocol="tcp", ServiceCheckPort="5432", ServiceCheckThreshold="2",
          ServiceCheckWindow="5")),
    ("ServiceCheck=probe over https, a virtual host", PAIR, "us-east-1",
     dict(PROBE, ServiceCheckProtocol="https", ServiceCheckPort="443", ServiceCheckPath="/health",
          ServiceCheckHostName="www.example.com", ServiceCheckExpect="200")),
    ("ServiceCheck=route53 in us-east-1, https with a host name", PAIR, "us-east-1",
     {"ServiceCheck": "route53", "ServiceCheckIpAddress": "203.0.113.10", "ServiceCheckProtocol": "https",
      "ServiceCheckPort": "443", "ServiceCheckHostName": "www.example.com", "ServiceCheckIntervalSeconds": "10"}),
    ("ServiceCheck=route53 over tcp outside us-east-1, hearing template-service-alarm.yaml's topic", PAIR, "eu-west-1",
     {"ServiceCheck": "route53", "ServiceCheckIpAddress": "203.0.113.10", "ServiceCheckProtocol": "tcp",
      "ServiceAlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ec2-failover-service-alarm"}),
    ("customer-managed KMS keys, a multi-Region one too", PAIR, "us-east-1", {"EbsKmsKeyArns": f"{KEY},{MRK}"}),
    ("zonal shifts off; silence off; no decision events", PAIR, "us-east-1",
     {"ZonalShift": "off", "SilentSeconds": "0", "PublishDecisions": "false"}),
    ("zonal shifts followed, practice runs too, other instance types for a cold standby", PAIR, "us-east-1",
     {"ZonalShift": "follow", "FollowPracticeRuns": "true", "StandbyInstanceTypes": "m7i.large,m6i.large"}),
    ("detailed monitoring, an alert topic, alarms of one's own, force fencing, a dry run on x86_64", PAIR, "us-east-1",
     {"InstanceMonitoring": "detailed", "AlertTopicArn": TOPIC, "ExtraAlarmNames": "db-latency,disk-full",
      "FenceMode": "force", "DryRun": "true", "Architecture": "x86_64", "Rebalance": "failover",
      "StandbyReady": "running", "ReconcileSchedule": "rate(2 minutes)", "LogRetentionInDays": "30"}),
    ("defaults", GROUP, "us-east-1", {}),
    ("make demo MODE=group: a group key", GROUP, "us-east-1", {"GroupKey": "demo", "KeepData": "false"}),
    ("the group's VPC named, no decision events", GROUP, "us-east-1",
     {"VpcId": "vpc-0123456789abcdef0", "PublishDecisions": "false"}),
    ("KeepData with a volume of one's own (the seed), under a customer-managed key", GROUP, "us-east-1",
     {"KeepData": "true", "DataKmsKeyId": KEY, "KeepSnapshots": "7", "DataInitRateMiBps": "300"}),
    ("KeepData under a multi-Region key", GROUP, "us-east-1", {"KeepData": "true", "DataKmsKeyId": MRK}),
    ("KeepData with a volume the stack creates, long hooks, an alert topic, a dry run", GROUP, "eu-west-1",
     {"KeepData": "true", "DataVolumeSizeGiB": "100", "DataVolumeAvailabilityZone": "eu-west-1a",
      "LaunchHookTimeoutSeconds": "600", "MaxWaitSeconds": "28800", "TerminateHookTimeoutSeconds": "1800",
      "AlertTopicArn": TOPIC, "DryRun": "true", "Architecture": "x86_64"}),
    ("defaults", FLEET, "us-east-1", {}),
    ("a fleet that follows zonal shifts, other instance types, KMS keys, a small cap, a dry run on x86_64", FLEET,
     "eu-west-1",
     {"ZonalShift": "follow", "StandbyInstanceTypes": "m7i.large,m6i.large", "MaxParallelFailovers": "2",
      "EbsKmsKeyArns": f"{KEY},{MRK}",
      "DryRun": "true", "Architecture": "x86_64", "AlertTopicArn": TOPIC, "FenceMode": "none"}),
    ("a fleet that reads no zonal shift, publishes no decision and serves no group", FLEET, "us-east-1",
     {"ZonalShift": "off", "CooldownSeconds": "0", "PublishDecisions": "false", "ServeGroups": "false"}),
    ("a fleet whose groups keep their data, snapshotted every 15 minutes", FLEET, "us-east-1",
     {"KeepData": "true", "SnapshotEverySeconds": "900", "DataWaitSeconds": "600", "MaxWaitSeconds": "1800",
      "KeepSnapshots": "7", "DataInitRateMiBps": "200", "EbsKmsKeyArns": KEY}),
    ("KeepData without ServeGroups: no group is served, nor its data", FLEET, "us-east-1",
     {"KeepData": "true", "ServeGroups": "false"}),
    ("the Route 53 alarm for a pair outside us-east-1", SERVICE_ALARM, "us-east-1", {}),
]


def overrides(text):
    """{template: [parameters]} of each `--parameter-overrides K=V ...` in a shell snippet (with `-t
    TEMPLATE`; template.yaml without), continuation lines joined."""
    found = []
    joined = re.sub(r"\\\n\s*", " ", text)
    for line in joined.splitlines():
        if "--parameter-overrides" not in line:
            continue
        try:
            words = shlex.split(line.strip().strip("`"), comments=True)
        except ValueError:
            continue
        template = PAIR
        for flag in ("-t", "--template", "--template-file"):
            if flag in words and words.index(flag) + 1 < len(words):
                template = words[words.index(flag) + 1]
        start = words.index("--parameter-overrides") + 1
        given = {}
        for word in words[start:]:
            if word.startswith("-") or "=" not in word:
                break
            key, value = word.split("=", 1)
            given[key.removeprefix("ParameterKey=")] = value
        found.append((template, given))
    return found


def documented():
    """[(name, template, region, full parameters)]: the features above, then the overrides of the
    README, docs/ and samconfig.toml."""
    out = [(name, template, region, dict(BASE[template], **given)) for name, template, region, given in FEATURES]
    documents = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")), "samconfig.toml"]
    for source in documents:
        path = ROOT / source
        if not path.exists():
            continue
        text = path.read_text()
        if source.endswith(".md"):
            # The commands in fenced blocks and in inline code spans, not the prose around them.
            blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
            spans = re.findall(r"`([^`\n]*--parameter-overrides[^`\n]*)`", re.sub(r"```.*?```", "", text, flags=re.S))
            text = "\n".join(blocks + spans)
        if source == "samconfig.toml":
            text = "\n".join(f"--parameter-overrides {m}" for m in re.findall(r'parameter_overrides\s*=\s*"([^"]*)"', text))
        for i, (template, given) in enumerate(overrides(text), 1):
            if template in BASE:
                out.append((f"{source}, overrides {i}", template, "us-east-1", dict(BASE[template], **given)))
    return out
