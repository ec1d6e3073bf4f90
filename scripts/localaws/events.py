"""The events/ examples as AWS would send them about a scene (scenes.py): its ids in place of the
examples', and the mode of the function each file goes through (MODES)."""

import datetime
import json

from .scenes import GROUP_TAG

EVENT_PRIMARY = "i-0123456789abcdef0"
EVENT_STANDBY = "i-0fedcba9876543210"
# The example ids of events/ that a stateful group's events replace.
EVENT_GROUP = "my-asg"
EVENT_DATA_VOLUME = "vol-0123456789abcdef0"  # the data volume (a snapshot's source, a detach)
EVENT_RESTORED_VOLUME = "vol-0fedcba9876543210"  # a volume restored from a snapshot
EVENT_SNAPSHOT = "snap-0123456789abcdef0"
TRANSITIONS = {
    "EC2 Instance-launch Lifecycle Action": ("autoscaling:EC2_INSTANCE_LAUNCHING", "new"),
    "EC2 Instance-terminate Lifecycle Action": ("autoscaling:EC2_INSTANCE_TERMINATING", "old"),
}

# Which local function each events/ file goes through, by its (source, detail-type) as the function
# reads them: group mode acts on Auto Scaling lifecycle actions and EBS notifications, and both
# modes act on the schedule. Every other file (alarm actions, SNS, EC2 state changes, anything new)
# goes through pair mode.
MODES = {
    ("aws.autoscaling", "EC2 Instance-launch Lifecycle Action"): ("group",),
    ("aws.autoscaling", "EC2 Instance-terminate Lifecycle Action"): ("group",),
    ("aws.ec2", "EBS Snapshot Notification"): ("group",),
    ("aws.ec2", "EBS Volume Notification"): ("group",),
    ("aws.events", "Scheduled Event"): ("pair", "group"),
    # A zonal shift's event: pair mode reads the shifts again; group mode leaves them to Auto Scaling.
    ("aws.arc-zonal-shift", "Autoshift In Progress"): ("pair",),
}
DEFAULT_MODES = ("pair",)


def modes(src):
    with open(src) as f:
        event = json.load(f)
    if not isinstance(event, dict):
        return DEFAULT_MODES
    return MODES.get((event.get("source"), event.get("detail-type")), DEFAULT_MODES)


def pair_event(src, pair):
    """The text of events/SRC with the example instance ids replaced by the pair's."""
    with open(src) as f:
        text = f.read()
    text = text.replace(EVENT_PRIMARY, pair["PRIMARY_INSTANCE_ID"]).replace(EVENT_STANDBY, pair["STANDBY_INSTANCE_ID"])
    json.loads(text)
    return text


def hook_event(src, group, hook, instance):
    """events/SRC, a lifecycle action, for the group's instance from its hook (None: the file's)."""
    with open(src) as f:
        event = json.load(f)
    event["detail"]["AutoScalingGroupName"] = group
    if hook:
        event["detail"]["LifecycleHookName"] = hook
    event["detail"]["EC2InstanceId"] = instance
    return event


def sent_now(event):
    """The event dated now, as AWS sends it: an EBS notification older than the function's last
    sweep is one that sweep has seen already, and reads nothing."""
    event["time"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def group_event(src, env, ec2, autoscaling):
    """The text of events/SRC for a stateful group (env: its scene): a lifecycle action for its
    instance (launch: the new one, terminate: the old one) from the group's hook; an EBS
    notification naming its data volume, restored volume and snapshot (those that exist)."""
    with open(src) as f:
        event = json.load(f)
    transition = TRANSITIONS.get(event.get("detail-type"))
    if event.get("source") == "aws.autoscaling" and transition:
        hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=env["GROUP_NAME"])["LifecycleHooks"]
        ours = [h["LifecycleHookName"] for h in hooks if h["LifecycleTransition"] == transition[0]]
        which = env["NEW_INSTANCE_ID" if transition[1] == "new" else "INSTANCE_ID"]
        text = json.dumps(hook_event(src, env["GROUP_NAME"], ours[0] if ours else None, which))
        text = text.replace(f"autoScalingGroupName/{EVENT_GROUP}", f"autoScalingGroupName/{env['GROUP_NAME']}")
    else:
        with open(src) as f:
            text = f.read()
        for example, real in group_data(env, ec2).items():
            text = text.replace(example, real)
    event = json.loads(text)
    if "time" in event:
        text = json.dumps(sent_now(event), indent=2) + "\n"
    return text


def group_data(env, ec2):
    """The example EBS ids of events/ and the group's real ones: its data volume, the newest volume
    restored from a snapshot (else the data volume) and its newest snapshot (if any)."""
    ours = [{"Name": "tag-key", "Values": [GROUP_TAG]}]
    ids = {EVENT_DATA_VOLUME: env["DATA_VOLUME"], EVENT_RESTORED_VOLUME: env["DATA_VOLUME"]}
    restored = [v for v in ec2.describe_volumes(Filters=ours)["Volumes"]
                if any(t["Key"] == "ec2-failover:snapshot" for t in v.get("Tags", []))]
    if restored:
        ids[EVENT_RESTORED_VOLUME] = max(restored, key=lambda v: v["CreateTime"])["VolumeId"]
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=ours)["Snapshots"]
    if snapshots:
        ids[EVENT_SNAPSHOT] = max(snapshots, key=lambda s: s["StartTime"])["SnapshotId"]
    return ids
