//! Every tag the function reads or writes, in one place. The templates' IAM conditions name some
//! of them again (`ec2:ResourceTag/...`, `aws:RequestTag/...`, `aws:TagKeys`);
//! `tests/test_tags.py` reads this file and fails when the two disagree.

/// What every tag of the function starts with.
pub const PREFIX: &str = "ec2-failover:";

/// Pair mode: the last failover's record, on the Elastic IP. The instance it moved away from.
pub const FROM: &str = "ec2-failover:from";
/// Pair mode: the instance the last failover moved to.
pub const TO: &str = "ec2-failover:to";
/// Pair mode: when the phase was reached, RFC 3339.
pub const AT: &str = "ec2-failover:at";
/// Pair mode: `started` (standby booting, IP not moved yet) or `done` (IP moved).
pub const PHASE: &str = "ec2-failover:phase";
/// The failover record: what caused it (`alarm:NAME`, `probe`, `switchover`...).
pub const CAUSE: &str = "ec2-failover:cause";
/// Pair mode: an operator paused the pair, and why (on the Elastic IP, beside the record).
pub const PAUSED: &str = "ec2-failover:paused";
/// Pair mode: when the pair was paused, RFC 3339.
pub const PAUSED_AT: &str = "ec2-failover:paused-at";
/// Pair mode: the service check's recent results, each member's (`pair::health::History`).
pub const HEALTH: &str = "ec2-failover:health";

/// A group's route table (and a fleet pair's instances): the destinations that follow the active
/// instance, comma-separated (a NAT instance's default route: `0.0.0.0/0`).
pub const ROUTE_DESTINATIONS: &str = "ec2-failover:route-destinations";
/// Fleet mode: the name of the pair an instance, Elastic IP or route table belongs to.
pub const PAIR: &str = "ec2-failover:pair";
/// Fleet mode: an instance's role in its pair, `primary` or `standby`.
pub const ROLE: &str = "ec2-failover:role";

/// Group mode: the group key, the same value on the Auto Scaling group, its Elastic IP, its data
/// volume, that volume's snapshots and the volumes restored from them.
pub const GROUP: &str = "ec2-failover:group";
/// On a group made by template-group.yaml: the stack whose function serves it. A fleet that
/// serves groups leaves such a group to it (one writer per group).
pub const STACK: &str = "ec2-failover:stack";
/// On a snapshot: its source volume.
pub const VOLUME: &str = "ec2-failover:volume";
/// The device name the data belongs at.
pub const DEVICE: &str = "ec2-failover:device";
/// On a snapshot: the terminating instance it was taken for.
pub const INSTANCE: &str = "ec2-failover:instance";
/// On a periodic snapshot (taken by the sweep while the volume served): the instance it was
/// attached to. That instance went on writing after it, so the volume is newer than the snapshot.
pub const PERIODIC: &str = "ec2-failover:periodic";
/// On a snapshot: when the function decided to take it (RFC 3339, UTC).
pub const TIME: &str = "ec2-failover:time";
/// On a restored volume: the instance it was created for.
pub const FOR: &str = "ec2-failover:for";
/// On a restored volume: the volume its snapshot was taken of (where its data came from), kept
/// when that snapshot is pruned.
pub const FROM_VOLUME: &str = "ec2-failover:from-volume";
/// On a restored volume: when its snapshot was taken (RFC 3339, UTC), kept the same way.
pub const FROM_TIME: &str = "ec2-failover:from-time";
/// On a restored volume: the snapshot it was created from.
pub const SNAPSHOT: &str = "ec2-failover:snapshot";
/// On a data volume: the last instance the function attached it to (written before the attach).
pub const ATTACHED: &str = "ec2-failover:attached";
/// On a launching instance: its data volume's id, for its boot to wait for (instance metadata).
pub const DATA_VOLUME: &str = "ec2-failover:data-volume";
/// On a launching instance: the device name its data volume is attached at.
pub const DATA_DEVICE: &str = "ec2-failover:data-device";
/// On a snapshot: the source volume's type.
pub const VOLUME_TYPE: &str = "ec2-failover:volume-type";
/// On a snapshot: the source volume's provisioned IOPS.
pub const IOPS: &str = "ec2-failover:iops";
/// On a snapshot: the source volume's provisioned throughput (MiB/s).
pub const THROUGHPUT: &str = "ec2-failover:throughput";
