"""Strict EBS snapshots: the refusals of CreateSnapshot that moto does not make, and a dark zone's
snapshots, which never complete while it is dark (moto completes every snapshot at once).

  CreateSnapshot of a volume snapshotted  SnapshotCreationPerVolumeRateExceeded "The maximum per
    less than snapshot_rate_seconds ago     volume CreateSnapshot request rate has been exceeded.
    (config, default 15)                    Use an increasing or variable sleep interval between
                                            requests." (EC2 API error codes: "Wait at least 15
                                            seconds between concurrent volume snapshots.")
  CreateSnapshot of a volume with five    ConcurrentSnapshotLimitExceeded: a gp2, gp3, io1, io2 or
    pending snapshots (st1, sc1: one)       standard volume may have five pending snapshots, an st1
                                            or sc1 one a single one (AWS re:Post, "Why is my EBS
                                            snapshot stuck in pending", knowledge-center/ebs-snapshot-stuck)
  CreateSnapshot of a volume in a dark    accepted, and the snapshot shows `pending` while the zone
    zone (POST /_proxy/dark-zone)           is dark: EBS cannot read the volume. AWS states nothing
                                            for this case; a snapshot that never completes is the
                                            worst a launch waiting for it can meet. Once the zone is
                                            back it shows moto's state (completed).

Pending here means shown as pending: set by POST /_proxy/snapshot, or taken in a dark zone.
"""

import re
import time

from .xmltext import own, rewrite_set

# EBS's concurrent pending snapshots per volume (AWS re:Post, ebs-snapshot-stuck).
PENDING_LIMIT = {"st1": 1, "sc1": 1}
DEFAULT_PENDING_LIMIT = 5


def create_snapshot(proxy, pairs, body):
    """CreateSnapshot, with EBS's per-volume rate and pending limits, and a dark zone's snapshots
    left pending."""
    volume = dict(pairs).get("VolumeId", "")
    with proxy.state.lock:
        strict, rate = proxy.state.strict, proxy.state.snapshot_rate_seconds
        last = proxy.state.snapshotted.get(volume)
        dark = set(proxy.state.dark_zones)
    if not strict:
        return (*proxy.upstream(body), False)
    item, failed = volume_item(proxy, pairs, volume)
    if failed:
        return failed
    if item is None:
        return (*proxy.upstream(body), False)
    now = time.monotonic()
    if last is not None and now - last < rate:
        return proxy.refuse(400, "SnapshotCreationPerVolumeRateExceeded",
                            "The maximum per volume CreateSnapshot request rate has been exceeded. "
                            "Use an increasing or variable sleep interval between requests.")
    limit = PENDING_LIMIT.get(own(item, "volumeType"), DEFAULT_PENDING_LIMIT)
    if len(pending_of(proxy, pairs, volume)) >= limit:
        return proxy.refuse(400, "ConcurrentSnapshotLimitExceeded",
                            "You have reached the limit on the number of concurrent snapshots you can create "
                            f"on the specified volume ({limit}). Wait until the 'pending' requests have completed.")
    status, headers, payload = proxy.upstream(body)
    if status == 200:
        snapshot = re.search(rb"<snapshotId>([^<]+)</snapshotId>", payload)
        zone = own(item, "availabilityZone")
        with proxy.state.lock:
            proxy.state.snapshotted[volume] = now
            if snapshot and zone in dark:
                proxy.state.dark_snapshots[snapshot.group(1).decode()] = zone
    return status, headers, payload, False


def volume_item(proxy, pairs, volume):
    """(moto's DescribeVolumes item for `volume`, None when moto does not know it; the answer to
    send instead when moto could not be asked, else None), as ec2_rules.instance_item for an instance."""
    status, headers, payload = proxy.ask(pairs, "DescribeVolumes", [("VolumeId.1", volume)])
    if status != 200:
        return None, (status, headers, payload, False)
    found = {}
    rewrite_set(payload.decode(), "volumeSet", lambda v: found.update({own(v, "volumeId"): v}))
    return found.get(volume), None


def pending_of(proxy, pairs, volume):
    """The snapshots of `volume` shown as pending now."""
    status, _, payload = proxy.ask(pairs, "DescribeSnapshots",
                                   [("Filter.1.Name", "volume-id"), ("Filter.1.Value.1", volume)])
    if status != 200:
        return []
    ids = re.findall(r"<snapshotId>([^<]+)</snapshotId>", payload.decode())
    shown = shown_states(proxy)
    return [s for s in ids if shown.get(s) == "pending"]


def shown_states(proxy):
    """Every snapshot whose state is shown in place of moto's: the tests' (POST /_proxy/snapshot),
    and `pending` for one taken in a zone that is still dark."""
    with proxy.state.lock:
        states = dict(proxy.state.snapshot_states)
        for snapshot, zone in proxy.state.dark_snapshots.items():
            if zone in proxy.state.dark_zones:
                states.setdefault(snapshot, "pending")
    return states


HANDLERS = {"CreateSnapshot": create_snapshot}
