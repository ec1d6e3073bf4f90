//! Group mode's AWS layer: the reads of one lifecycle action's world, the sweep's read of the
//! held instances, and the execution of a plan. It decides nothing.

use aws_sdk_ec2::types::{Filter, ResourceType, TagSpecification};

use super::plan::{GroupAction, LifecycleResult};
use super::world::{
    Attachment, AttachmentState, DataSnapshot, DataVolume, Group, GroupAddress, GroupRoute, GroupWorld, HeldGroup,
    Instance, LifecycleState, Origin, SnapshotState, VolumeSpec, VolumeState,
};
use crate::aws::{associate, aws_error, ec2_tag, tag};
use crate::decision::{Report, Status};
use crate::error::Error;
use crate::tags;
use crate::trigger::{LifecycleAction, Transition};

/// What became of one planned group action.
pub type ActionReport = Report<GroupAction>;

/// The EC2 and Auto Scaling clients group mode needs.
#[derive(Clone, Debug)]
pub struct Clients {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
}

impl Clients {
    /// The same clients, each counting its requests on `counter`.
    pub fn counted(self, counter: &crate::record::RequestCounter) -> Self {
        let ec2 = aws_sdk_ec2::Client::from_conf(self.ec2.config().to_builder().interceptor(counter.clone()).build());
        let autoscaling = aws_sdk_autoscaling::Client::from_conf(
            self.autoscaling.config().to_builder().interceptor(counter.clone()).build(),
        );
        Self { ec2, autoscaling }
    }
}

fn transition_of(name: &str) -> Option<Transition> {
    match name {
        "autoscaling:EC2_INSTANCE_LAUNCHING" => Some(Transition::Launching),
        "autoscaling:EC2_INSTANCE_TERMINATING" => Some(Transition::Terminating),
        _ => None,
    }
}

/// Reads every group tagged `ec2-failover:group`, with the hooks of those that hold an instance in
/// `Pending:Wait` or `Terminating:Wait` (one DescribeAutoScalingGroups, then one
/// DescribeLifecycleHooks per such group).
///
/// With `key`, only the group whose tag has that value: another deployment's groups are its own.
pub async fn held(clients: &Clients, key: Option<&str>) -> Result<Vec<HeldGroup>, Error> {
    let filter = aws_sdk_autoscaling::types::Filter::builder().name("tag-key").values(tags::GROUP).build();
    let groups = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(filter)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
    let mut out = Vec::new();
    for group in groups {
        let Some(name) = group.auto_scaling_group_name() else { continue };
        let its_key = group.tags().iter().find(|t| t.key() == Some(tags::GROUP)).and_then(|t| t.value());
        if key.is_some_and(|mine| its_key != Some(mine)) {
            continue;
        }
        let instances: Vec<(String, LifecycleState)> = group
            .instances()
            .iter()
            .filter_map(|i| {
                let state = LifecycleState::from_name(i.lifecycle_state().map_or("unknown", |s| s.as_str()));
                Some((i.instance_id()?.to_owned(), state))
            })
            .collect();
        let held: Vec<(String, Transition)> =
            instances.iter().filter_map(|(i, s)| Some((i.clone(), s.held_for()?))).collect();
        let (key, name) = (its_key.map(str::to_owned), name.to_owned());
        let stack = tag_of(group.tags(), tags::STACK);
        if held.is_empty() {
            out.push(HeldGroup { name, key, instances, held, hooks: Vec::new(), stack });
            continue;
        }
        let hooks = clients
            .autoscaling
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLifecycleHooks", e))?;
        let hooks = hooks
            .lifecycle_hooks()
            .iter()
            .filter_map(|h| Some((h.lifecycle_hook_name()?.to_owned(), transition_of(h.lifecycle_transition()?)?)))
            .collect();
        out.push(HeldGroup { name, key, instances, held, hooks, stack });
    }
    Ok(out)
}

/// What a sweep needs to heal the groups' addresses (and a status shows): every group-tagged
/// Elastic IP and route-table entry, and the given serving instances, at once (no instance is read
/// for none).
pub async fn observe_serving(
    clients: &Clients,
    instance_ids: &[String],
) -> Result<(Vec<GroupAddress>, Vec<Instance>, Vec<GroupRoute>), Error> {
    let addresses =
        clients.ec2.describe_addresses().filters(Filter::builder().name("tag-key").values(tags::GROUP).build()).send();
    let instances = async {
        if instance_ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = Filter::builder().name("instance-id").set_values(Some(instance_ids.to_vec())).build();
        let out = clients.ec2.describe_instances().filters(filter).send().await;
        let out = out.map_err(|e| aws_error("DescribeInstances", e))?;
        Ok::<_, Error>(out.reservations().iter().flat_map(|r| r.instances()).filter_map(Instance::read).collect())
    };
    let (addresses, instances, routes) = tokio::join!(addresses, instances, group_routes(&clients.ec2));
    let addresses = addresses.map_err(|e| aws_error("DescribeAddresses", e))?;
    Ok((group_addresses(addresses.addresses()), instances?, routes?))
}

/// The route-table entries that follow the groups' instances: every table tagged with a group key
/// and `ec2-failover:route-destinations`, each destination it names (comma-separated), where it
/// points now (no entry: it points at nothing, and is created).
async fn group_routes(client: &aws_sdk_ec2::Client) -> Result<Vec<GroupRoute>, Error> {
    let tables = client
        .describe_route_tables()
        .filters(Filter::builder().name("tag-key").values(tags::ROUTE_DESTINATIONS).build())
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| aws_error("DescribeRouteTables", e))?;
    let mut routes = Vec::new();
    for table in &tables {
        let (Some(id), Some(key), Some(destinations)) =
            (table.route_table_id(), tag(table.tags(), tags::GROUP), tag(table.tags(), tags::ROUTE_DESTINATIONS))
        else {
            continue;
        };
        for destination in destinations.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let entry = crate::route::entry(table, destination);
            routes.push(GroupRoute {
                table: id.to_owned(),
                destination: destination.to_owned(),
                key: key.to_owned(),
                instance_id: entry.and_then(|r| r.instance_id()).map(str::to_owned),
                network_interface_id: entry.and_then(|r| r.network_interface_id()).map(str::to_owned),
            });
        }
    }
    Ok(routes)
}

/// The addresses that carry the group tag, as the decision reads them.
fn group_addresses(addresses: &[aws_sdk_ec2::types::Address]) -> Vec<GroupAddress> {
    addresses
        .iter()
        .filter_map(|a| {
            Some(GroupAddress {
                allocation_id: a.allocation_id()?.to_owned(),
                public_ip: a.public_ip().map(str::to_owned),
                key: a.tags().iter().find(|t| t.key() == Some(tags::GROUP)).and_then(|t| t.value())?.to_owned(),
                instance_id: a.instance_id().filter(|i| !i.is_empty()).map(str::to_owned),
                network_interface_id: a.network_interface_id().filter(|e| !e.is_empty()).map(str::to_owned),
            })
        })
        .collect()
}

/// Reads the group, the instance, and the group-tagged addresses, volumes and snapshots (with
/// `keep_data`), all at once.
pub async fn observe(
    clients: &Clients,
    action: &LifecycleAction,
    now: i64,
    keep_data: bool,
) -> Result<GroupWorld, Error> {
    let group = clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&action.group).send();
    let instance = clients
        .ec2
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(&action.instance_id).build())
        .send();
    let addresses =
        clients.ec2.describe_addresses().filters(Filter::builder().name("tag-key").values(tags::GROUP).build()).send();
    let data = async {
        match keep_data {
            true => observe_data(&clients.ec2).await,
            false => Ok((Vec::new(), Vec::new())),
        }
    };
    let routes = group_routes(&clients.ec2);
    let (group, instance, addresses, data, routes) = tokio::join!(group, instance, addresses, data, routes);
    let (volumes, snapshots) = data?;
    let routes = routes?;
    let group = group.map_err(|e| aws_error("DescribeAutoScalingGroups", e))?;
    let instance = instance.map_err(|e| aws_error("DescribeInstances", e))?;
    let addresses = addresses.map_err(|e| aws_error("DescribeAddresses", e))?;
    let group =
        group.auto_scaling_groups().iter().find(|g| g.auto_scaling_group_name() == Some(action.group.as_str())).map(
            |g| Group {
                name: action.group.clone(),
                key: g.tags().iter().find(|t| t.key() == Some(tags::GROUP)).and_then(|t| t.value()).map(str::to_owned),
                stack: tag_of(g.tags(), tags::STACK),
                instances: g
                    .instances()
                    .iter()
                    .map(|i| {
                        let state = i.lifecycle_state().map_or("unknown", |s| s.as_str());
                        (i.instance_id().unwrap_or_default().to_owned(), LifecycleState::from_name(state))
                    })
                    .collect(),
            },
        );
    let instance = instance
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(Instance::read)
        .find(|i| i.instance_id == action.instance_id);
    let addresses = group_addresses(addresses.addresses());
    Ok(GroupWorld { group, instance, addresses, volumes, snapshots, routes, now })
}

/// Reads every volume and snapshot (owned by this account) that carries the group tag, at once.
/// Which group each belongs to is left to the caller (by `key`).
pub async fn observe_data(ec2: &aws_sdk_ec2::Client) -> Result<(Vec<DataVolume>, Vec<DataSnapshot>), Error> {
    let by_tag = || Filter::builder().name("tag-key").values(tags::GROUP).build();
    let volumes = ec2.describe_volumes().filters(by_tag()).send();
    let snapshots = ec2.describe_snapshots().owner_ids("self").filters(by_tag()).send();
    let (volumes, snapshots) = tokio::join!(volumes, snapshots);
    let volumes = volumes.map_err(|e| aws_error("DescribeVolumes", e))?;
    let snapshots = snapshots.map_err(|e| aws_error("DescribeSnapshots", e))?;
    let volumes = volumes
        .volumes()
        .iter()
        .filter_map(|v| {
            Some(DataVolume {
                volume_id: v.volume_id()?.to_owned(),
                key: tag(v.tags(), tags::GROUP)?.to_owned(),
                state: VolumeState::from_name(v.state().map_or("unknown", |s| s.as_str())),
                availability_zone: v.availability_zone().unwrap_or_default().to_owned(),
                attachments: v
                    .attachments()
                    .iter()
                    .filter_map(|a| {
                        Some(Attachment {
                            instance_id: a.instance_id()?.to_owned(),
                            device: a.device().unwrap_or_default().to_owned(),
                            state: AttachmentState::from_name(a.state().map_or("unknown", |s| s.as_str())),
                        })
                    })
                    .collect(),
                for_instance: tag(v.tags(), tags::FOR).map(str::to_owned),
                device: tag(v.tags(), tags::DEVICE).map(str::to_owned),
                restored_from: tag(v.tags(), tags::SNAPSHOT).map(str::to_owned),
                attached: tag(v.tags(), tags::ATTACHED).map(str::to_owned),
                origin: tag(v.tags(), tags::FROM_VOLUME).zip(tag(v.tags(), tags::FROM_TIME)).and_then(
                    |(volume, time)| {
                        let time = aws_sdk_ec2::primitives::DateTime::from_str(
                            time,
                            aws_sdk_ec2::primitives::DateTimeFormat::DateTime,
                        )
                        .ok()?;
                        Some(Origin { volume: volume.to_owned(), time: time.secs() })
                    },
                ),
                spec: VolumeSpec {
                    volume_type: v.volume_type().map(|t| t.as_str().to_owned()),
                    iops: v.iops(),
                    throughput: v.throughput(),
                },
            })
        })
        .collect();
    let snapshots = snapshots
        .snapshots()
        .iter()
        // Only snapshots the function took: DLM and AWS Backup copy a volume's tags (the group's
        // too) onto their snapshots, which are not the function's to restore from or delete.
        // `ec2-failover:time` is a tag only the function writes, and only on its snapshots.
        .filter(|s| tag(s.tags(), tags::TIME).is_some())
        .filter_map(|s| {
            Some(DataSnapshot {
                snapshot_id: s.snapshot_id()?.to_owned(),
                key: tag(s.tags(), tags::GROUP)?.to_owned(),
                state: SnapshotState::from_name(s.state().map_or("unknown", |s| s.as_str())),
                start_time: s.start_time().map_or(0, |t| t.secs()),
                instance: tag(s.tags(), tags::INSTANCE).map(str::to_owned),
                periodic: tag(s.tags(), tags::PERIODIC).map(str::to_owned),
                volume: tag(s.tags(), tags::VOLUME).map(str::to_owned),
                device: tag(s.tags(), tags::DEVICE).map(str::to_owned),
                spec: VolumeSpec {
                    volume_type: tag(s.tags(), tags::VOLUME_TYPE).map(str::to_owned),
                    iops: tag(s.tags(), tags::IOPS).and_then(|v| v.parse().ok()),
                    throughput: tag(s.tags(), tags::THROUGHPUT).and_then(|v| v.parse().ok()),
                },
            })
        })
        .collect();
    Ok((volumes, snapshots))
}

/// Carries out a plan in order, stopping at the first failure: the hook is never completed with
/// CONTINUE unless the address reached the instance.
pub async fn execute(clients: &Clients, actions: &[GroupAction]) -> (Vec<ActionReport>, Option<Error>) {
    let mut reports = Vec::with_capacity(actions.len());
    let mut error = None;
    for action in actions {
        if error.is_some() {
            reports.push(Report::skipped(action));
        } else {
            reports.push(Report::of(action, run(clients, action).await, &mut error));
        }
    }
    (reports, error)
}

async fn run(clients: &Clients, action: &GroupAction) -> Result<Status, Error> {
    match action {
        GroupAction::MoveAddress { allocation_id, instance_id, network_interface_id } => {
            associate(&clients.ec2, allocation_id, instance_id, network_interface_id.as_deref())
                .await
                .map(|()| Status::Done)
        }
        GroupAction::PointRoute { table, destination, instance_id, network_interface_id } => {
            crate::route::point(&clients.ec2, table, destination, instance_id, network_interface_id.as_deref())
                .await
                .map(|()| Status::Done)
        }
        GroupAction::Heartbeat { group, hook, instance_id } => {
            let sent = clients
                .autoscaling
                .record_lifecycle_action_heartbeat()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Status::Done),
                Err(e) if is_no_active_action(&e) => Ok(Status::AlreadyDone),
                Err(e) => Err(aws_error("RecordLifecycleActionHeartbeat", e)),
            }
        }
        GroupAction::CreateSnapshot { volume_id, key, device, instance_id, periodic, spec: volume, at } => {
            let time = aws_sdk_ec2::primitives::DateTime::from_secs(*at)
                .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                .unwrap_or_else(|_| at.to_string());
            let mut spec = TagSpecification::builder()
                .resource_type(ResourceType::Snapshot)
                .tags(ec2_tag(tags::GROUP, key))
                .tags(ec2_tag(tags::VOLUME, volume_id))
                .tags(ec2_tag(tags::DEVICE, device))
                .tags(ec2_tag(tags::TIME, &time));
            if let Some(instance_id) = instance_id {
                spec = spec.tags(ec2_tag(tags::INSTANCE, instance_id));
            }
            if let Some(serving) = periodic {
                spec = spec.tags(ec2_tag(tags::PERIODIC, serving));
            }
            for (k, v) in [
                (tags::VOLUME_TYPE, volume.volume_type.clone()),
                (tags::IOPS, volume.iops.map(|n| n.to_string())),
                (tags::THROUGHPUT, volume.throughput.map(|n| n.to_string())),
            ] {
                if let Some(v) = v {
                    spec = spec.tags(ec2_tag(k, &v));
                }
            }
            clients
                .ec2
                .create_snapshot()
                .volume_id(volume_id)
                .description(format!("ec2-failover: data of group {key}"))
                .tag_specifications(spec.build())
                .send()
                .await
                .map(|_| Status::Done)
                .map_err(|e| aws_error("CreateSnapshot", e))
        }
        GroupAction::CreateVolume {
            snapshot_id,
            availability_zone,
            key,
            for_instance,
            device,
            spec: volume,
            initialization_rate,
            origin,
            data_age_seconds: _,
        } => {
            let mut spec = TagSpecification::builder()
                .resource_type(ResourceType::Volume)
                .tags(ec2_tag(tags::GROUP, key))
                .tags(ec2_tag(tags::FOR, for_instance))
                .tags(ec2_tag(tags::DEVICE, device))
                .tags(ec2_tag(tags::SNAPSHOT, snapshot_id));
            if let Some(origin) = origin {
                let time = aws_sdk_ec2::primitives::DateTime::from_secs(origin.time)
                    .fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime)
                    .unwrap_or_else(|_| origin.time.to_string());
                spec = spec.tags(ec2_tag(tags::FROM_VOLUME, &origin.volume)).tags(ec2_tag(tags::FROM_TIME, &time));
            }
            let spec = spec.build();
            // The same restore for the same launch carries the same token, so that AWS makes one
            // volume even when a retry comes before the first volume shows in DescribeVolumes.
            clients
                .ec2
                .create_volume()
                .client_token(format!("ec2-failover-{for_instance}-{snapshot_id}"))
                .snapshot_id(snapshot_id)
                .availability_zone(availability_zone)
                .set_volume_type(volume.volume_type.as_deref().map(aws_sdk_ec2::types::VolumeType::from))
                .set_iops(volume.creatable().iops)
                .set_throughput(volume.creatable().throughput)
                // EBS's Provisioned Rate for Volume Initialization: the snapshot's blocks arrive at
                // this rate, so the volume is fully readable in size / rate (EBS User Guide,
                // "Initialize Amazon EBS volumes").
                .set_volume_initialization_rate(*initialization_rate)
                .tag_specifications(spec)
                .send()
                .await
                .map(|_| Status::Done)
                .map_err(|e| with_kms_hint(aws_error("CreateVolume", e), snapshot_id))
        }
        GroupAction::EnableInstanceTags { instance_id } => clients
            .ec2
            .modify_instance_metadata_options()
            .instance_id(instance_id)
            .instance_metadata_tags(aws_sdk_ec2::types::InstanceMetadataTagsState::Enabled)
            .send()
            .await
            .map(|_| Status::Done)
            .map_err(|e| aws_error("ModifyInstanceMetadataOptions", e)),
        GroupAction::AttachVolume { volume_id, instance_id, device } => {
            // Marked first: a volume that may ever have been attached is never deleted as unused,
            // and is known to hold data newer than the snapshot it came from. The instance is told
            // which volume is its data and where it goes (its boot reads its own tags from the
            // instance metadata and waits for that very volume: `instance/wait-for-data-volume`).
            let volume =
                clients.ec2.create_tags().resources(volume_id).tags(ec2_tag(tags::ATTACHED, instance_id)).send();
            let instance = clients
                .ec2
                .create_tags()
                .resources(instance_id)
                .tags(ec2_tag(tags::DATA_VOLUME, volume_id))
                .tags(ec2_tag(tags::DATA_DEVICE, device))
                .send();
            let (volume, instance) = tokio::join!(volume, instance);
            volume.map_err(|e| aws_error("CreateTags", e))?;
            instance.map_err(|e| aws_error("CreateTags", e))?;
            clients
                .ec2
                .attach_volume()
                .volume_id(volume_id)
                .instance_id(instance_id)
                .device(device)
                .send()
                .await
                .map(|_| Status::Done)
                .map_err(|e| with_kms_hint(aws_error("AttachVolume", e), volume_id))
        }
        GroupAction::DeleteVolume { volume_id } => clients
            .ec2
            .delete_volume()
            .volume_id(volume_id)
            .send()
            .await
            .map(|_| Status::Done)
            .map_err(|e| aws_error("DeleteVolume", e)),
        GroupAction::DeleteSnapshot { snapshot_id } => clients
            .ec2
            .delete_snapshot()
            .snapshot_id(snapshot_id)
            .send()
            .await
            .map(|_| Status::Done)
            .map_err(|e| aws_error("DeleteSnapshot", e)),
        GroupAction::CompleteLifecycle { group, hook, instance_id, result } => {
            let result = match result {
                LifecycleResult::Continue => "CONTINUE",
                LifecycleResult::Abandon => "ABANDON",
            };
            let sent = clients
                .autoscaling
                .complete_lifecycle_action()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance_id)
                .lifecycle_action_result(result)
                .send()
                .await;
            match sent {
                Ok(_) => Ok(Status::Done),
                // A repeated event, or a retry after a lost response: the action is already
                // completed (or timed out), and Auto Scaling says so with a ValidationError.
                Err(e) if is_no_active_action(&e) => Ok(Status::AlreadyDone),
                Err(e) => Err(aws_error("CompleteLifecycleAction", e)),
            }
        }
    }
}

fn is_no_active_action<E, R>(error: &aws_sdk_autoscaling::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_autoscaling::error::ProvideErrorMetadata,
{
    use aws_sdk_autoscaling::error::ProvideErrorMetadata as _;
    error.code() == Some("ValidationError") && error.message().is_some_and(|m| m.contains("No active Lifecycle Action"))
}

/// The value of an Auto Scaling group's tag `key`.
fn tag_of(tags: &[aws_sdk_autoscaling::types::TagDescription], key: &str) -> Option<String> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
}

/// An EBS call that failed for the data's KMS key says what to do: the function may use only the
/// keys the template names (DataKmsKeyId, a fleet's EbsKmsKeyArns), and an account whose EBS default key is a
/// customer-managed key encrypts new volumes and snapshots under it.
fn with_kms_hint(error: Error, what: &str) -> Error {
    match error {
        Error::Aws { operation, code, message }
            if code.to_ascii_lowercase().contains("kms") || message.to_ascii_lowercase().contains("kms") =>
        {
            let message = format!(
                "{message} ({what} is encrypted under a KMS key this function may not use: name that key in \
                 DataKmsKeyId (a group stack) or EbsKmsKeyArns (a fleet); an account whose EBS default key is \
                 customer-managed must name that one)"
            );
            tracing::error!(operation, code = %code, resource = what, "{message}");
            Error::Aws { operation, code, message }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ebs_failure_for_the_kms_key_says_to_set_data_kms_key_id() {
        let kms = Error::Aws {
            operation: "CreateVolume",
            code: "InvalidVolume.NotFound".into(),
            message: "The volume was not created: KMS key arn:aws:kms:us-east-1:1:key/x is not accessible".into(),
        };
        let hinted = with_kms_hint(kms, "snap-1").to_string();
        assert!(
            hinted.contains("snap-1 is encrypted under a KMS key") && hinted.contains("name that key in DataKmsKeyId"),
            "{hinted}"
        );
        let other = Error::Aws { operation: "AttachVolume", code: "VolumeInUse".into(), message: "in use".into() };
        assert!(!with_kms_hint(other, "vol-1").to_string().contains("DataKmsKeyId"));
    }
}
