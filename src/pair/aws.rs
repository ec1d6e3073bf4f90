//! The thin AWS layer: observes the pair in one round trip (three EC2 reads and, when there are
//! alarms to read, CloudWatch's DescribeAlarms, all at once) and carries out a plan.
//!
//! It decides nothing. The rules it does encode are AWS's own: the Elastic IP is associated
//! through the target's primary network interface, and a start or a fence (stop) runs only once
//! the address has reached its new holder.

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;
use futures_util::future::join_all;

use super::alarms::AlarmReads;
use super::decide::Action;
use super::health::History;
use super::world::{
    resolve_holder, Address, AlarmSeen, Endpoint, EndpointSeen, FailoverRecord, Holder, Instance, PauseNote, Phase,
    World,
};
use super::{Clients, Config, RouteDestination};
use crate::aws::{associate, aws_error, ec2_tag, tag, CheckStatus, Checks, ScheduledEvent};
use crate::error::Error;
use crate::invocation::Report;
use crate::tags;
use crate::trigger::AlarmState;

/// Reads the pair's instances, their status checks, the Elastic IP and the alarms `alarms` names,
/// all at once: one round trip.
pub async fn observe(clients: &Clients, config: &Config, alarms: &AlarmReads, now: i64) -> Result<World, Error> {
    observe_with(clients, &[], config, alarms, now).await
}

/// The same, with CloudWatch clients for the regions whose alarms `ALARM_NAMES` names by ARN.
pub async fn observe_with(
    clients: &Clients,
    regional: &[(String, aws_sdk_cloudwatch::Client)],
    config: &Config,
    alarms: &AlarmReads,
    now: i64,
) -> Result<World, Error> {
    let client = &clients.ec2;
    // A filter rather than InstanceIds: a vanished instance is then simply missing from the answer,
    // where InstanceIds would fail the whole call with InvalidInstanceID.NotFound.
    let instances = client
        .describe_instances()
        .filters(Filter::builder().name("instance-id").values(&config.primary).values(&config.standby).build())
        .send();
    // The endpoints, each read only if configured: the Elastic IP, the route tables (their routes
    // and tags), and the interfaces that hold the private IPs, whoever they belong to.
    let addresses = async {
        match &config.allocation_id {
            Some(id) => client.describe_addresses().allocation_ids(id).send().await.map(Some),
            None => Ok(None),
        }
    };
    let tables = async {
        let mut ids: Vec<&str> = Vec::new();
        for table in config.routes.iter().map(|r| r.table.as_str()) {
            if !ids.contains(&table) {
                ids.push(table);
            }
        }
        match ids.is_empty() {
            true => Ok(None),
            false => client
                .describe_route_tables()
                .set_route_table_ids(Some(ids.iter().map(|t| (*t).to_owned()).collect()))
                .send()
                .await
                .map(Some),
        }
    };
    let interfaces = async {
        match config.private_ips.is_empty() {
            true => Ok(None),
            false => {
                let filter =
                    Filter::builder().name("addresses.private-ip-address").set_values(Some(config.private_ips.clone()));
                client.describe_network_interfaces().filters(filter.build()).send().await.map(Some)
            }
        }
    };
    // Without IncludeAllInstances, EC2 lists running instances only. DescribeInstanceStatus has no
    // instance-id filter, so the ids are named, and an instance EC2 no longer knows fails the call
    // (InvalidInstanceID.NotFound): the checks then stay unknown, which only delays a make-before-
    // break move; a dead primary is not waited for.
    let statuses = client
        .describe_instance_status()
        .instance_ids(&config.primary)
        .instance_ids(&config.standby)
        .include_all_instances(true)
        .send();
    let alarms = read_all_alarms(&clients.cloudwatch, regional, alarms);
    let (instances, addresses, tables, interfaces, statuses, (alarms, unread_alarms)) =
        tokio::join!(instances, addresses, tables, interfaces, statuses, alarms);
    let instances = instances.map_err(|e| aws_error("DescribeInstances", e))?;
    let addresses = addresses.map_err(|e| aws_error("DescribeAddresses", e))?;
    let tables = tables.map_err(|e| aws_error("DescribeRouteTables", e))?;
    let interfaces = interfaces.map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
    // The members EC2 lists (a member gone for good is missing).
    let listed: Vec<String> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id())
        .filter(|id| config.is_member(id))
        .map(str::to_owned)
        .collect();
    let statuses = match statuses.map_err(|e| aws_error("DescribeInstanceStatus", e)) {
        Ok(statuses) => Ok(statuses.instance_statuses().to_vec()),
        // A member gone for good (terminated long ago) makes the call fail for both: asked again
        // for the one EC2 still lists (one more round trip, only then), its checks and scheduled
        // events are not lost.
        Err(Error::Aws { code, .. }) if code == "InvalidInstanceID.NotFound" && listed.len() == 1 => client
            .describe_instance_status()
            .set_instance_ids(Some(listed))
            .include_all_instances(true)
            .send()
            .await
            .map(|s| s.instance_statuses().to_vec())
            .map_err(|e| aws_error("DescribeInstanceStatus", e)),
        Err(e) => Err(e),
    };
    let statuses = statuses.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the status checks; they count as not passing");
        Vec::new()
    });

    let members: Vec<Instance> = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(Instance::read)
        .filter(|i| config.is_member(&i.instance_id))
        .map(|mut i| {
            let status = statuses.iter().find(|s| s.instance_id() == Some(i.instance_id.as_str()));
            i.checks = status.map(checks);
            i.scheduled_events =
                status.map_or_else(Vec::new, |s| s.events().iter().filter_map(ScheduledEvent::read).collect());
            i
        })
        .collect();

    let members = spot_kinds(client, members).await;

    let mut endpoints = Vec::new();
    let mut anchor_tags: &[aws_sdk_ec2::types::Tag] = &[];
    let mut public_ip = None;
    if let (Some(id), Some(addresses)) = (&config.allocation_id, &addresses) {
        let address =
            addresses.addresses().iter().find(|a| a.allocation_id() == Some(id.as_str())).ok_or_else(|| {
                Error::Aws {
                    operation: "DescribeAddresses",
                    code: "InvalidAllocationID.NotFound".into(),
                    message: format!("the Elastic IP {id} was not returned"),
                }
            })?;
        anchor_tags = address.tags();
        public_ip = address.public_ip().map(str::to_owned);
        endpoints.push(EndpointSeen {
            endpoint: Endpoint::ElasticIp { allocation_id: id.clone() },
            holder: resolve_holder(address.instance_id(), address.network_interface_id(), &members),
        });
    }
    if let Some(tables) = &tables {
        for route in &config.routes {
            let table =
                tables.route_tables().iter().find(|t| t.route_table_id() == Some(route.table.as_str())).ok_or_else(
                    || Error::Aws {
                        operation: "DescribeRouteTables",
                        code: "InvalidRouteTableID.NotFound".into(),
                        message: format!("the route table {} was not returned", route.table),
                    },
                )?;
            if config.allocation_id.is_none()
                && Some(route.table.as_str()) == config.routes.first().map(|r| r.table.as_str())
            {
                anchor_tags = table.tags();
            }
            let found = table.routes().iter().find(|r| match route.kind() {
                RouteDestination::Ipv4 => r.destination_cidr_block() == Some(route.destination.as_str()),
                RouteDestination::Ipv6 => r.destination_ipv6_cidr_block() == Some(route.destination.as_str()),
                RouteDestination::PrefixList => r.destination_prefix_list_id() == Some(route.destination.as_str()),
            });
            let holder = match found {
                None => Holder::Nobody,
                Some(r) if r.network_interface_id().is_none() && r.instance_id().is_none() => {
                    // Another target (a gateway, a peering...): outside the pair.
                    let other = r
                        .gateway_id()
                        .or(r.nat_gateway_id())
                        .or(r.transit_gateway_id())
                        .or(r.vpc_peering_connection_id());
                    Holder::Outsider { instance_id: None, network_interface_id: other.map(str::to_owned) }
                }
                // A blackhole route whose target is gone (no member's interface) points at nothing.
                Some(r) => match resolve_holder(r.instance_id(), r.network_interface_id(), &members) {
                    Holder::Outsider { .. } if r.state().is_some_and(|s| s.as_str() == "blackhole") => Holder::Nobody,
                    holder => holder,
                },
            };
            endpoints.push(EndpointSeen {
                endpoint: Endpoint::Route { table: route.table.clone(), destination: route.destination.clone() },
                holder,
            });
        }
    }
    if let Some(interfaces) = &interfaces {
        for ip in &config.private_ips {
            // The filter matches every VPC of the region, where addresses may overlap: a member's
            // interface first.
            let holds = |n: &&aws_sdk_ec2::types::NetworkInterface| {
                n.private_ip_addresses().iter().any(|a| a.private_ip_address() == Some(ip.as_str()))
            };
            let of_member = |n: &&aws_sdk_ec2::types::NetworkInterface| {
                members.iter().any(|m| m.network_interface_id.as_deref() == n.network_interface_id())
            };
            let holding = interfaces
                .network_interfaces()
                .iter()
                .filter(holds)
                .find(of_member)
                .or_else(|| interfaces.network_interfaces().iter().find(holds));
            let holder = match holding {
                None => Holder::Nobody,
                Some(n) => {
                    resolve_holder(n.attachment().and_then(|a| a.instance_id()), n.network_interface_id(), &members)
                }
            };
            endpoints.push(EndpointSeen { endpoint: Endpoint::PrivateIp { address: ip.clone() }, holder });
        }
    }
    let tag = |key: &str| tag(anchor_tags, key);
    let address = Address {
        resource: config.anchor().to_owned(),
        public_ip,
        holder: endpoints.first().map_or(Holder::Nobody, |e| e.holder.clone()),
        record: read_record(tag(tags::FROM), tag(tags::TO), tag(tags::AT), tag(tags::PHASE), config)
            .map(|r| FailoverRecord { cause: tag(tags::CAUSE).filter(|c| !c.is_empty()).map(str::to_owned), ..r }),
        pause: tag(tags::PAUSED).map(|reason| PauseNote {
            reason: reason.to_owned(),
            since: tag(tags::PAUSED_AT)
                .and_then(|at| DateTime::from_str(at, DateTimeFormat::DateTime).ok())
                .map(|t| t.secs()),
        }),
        health: tag(tags::HEALTH).and_then(History::parse),
    };
    Ok(World { now, address, members, alarms, unread_alarms, probes: Vec::new(), endpoints })
}

/// Reads the type of the Spot requests behind Spot members (`one-time` ones cannot be stopped):
/// one more round trip, for a pair with a Spot member only. A failed read leaves the type unknown,
/// and the fence is then tried as for any instance.
async fn spot_kinds(client: &Client, mut members: Vec<Instance>) -> Vec<Instance> {
    let ids: Vec<String> = members.iter().filter_map(|m| m.spot.as_ref()?.id.clone()).collect();
    if ids.is_empty() {
        return members;
    }
    match client.describe_spot_instance_requests().set_spot_instance_request_ids(Some(ids)).send().await {
        Ok(out) => {
            for request in out.spot_instance_requests() {
                let spot = members
                    .iter_mut()
                    .filter_map(|m| m.spot.as_mut())
                    .find(|s| s.id.as_deref().is_some_and(|id| Some(id) == request.spot_instance_request_id()));
                if let Some(spot) = spot {
                    spot.kind = request.r#type().map(|t| t.as_str().to_owned());
                }
            }
        }
        Err(e) => {
            let e = aws_error("DescribeSpotInstanceRequests", e);
            tracing::warn!(error = %e, "could not read the Spot requests; a fence of a Spot member is tried anyway");
        }
    }
    members
}

/// Reads the alarms of the function's region and of every other region named, all at once, each
/// region on its own: one whose read fails (DescribeAlarms allows 9 requests a second per account
/// and region, shared with every monitoring tool) is named in the second list with its error, and
/// the others' alarms are kept, so that a throttled us-east-1 does not hide a home alarm in ALARM
/// from the reconcile. An alarm that cannot be read is not believed: a payload's ALARM then changes
/// nothing, and the next reconcile reads again; a dead primary does not need it. None: nothing was
/// read. An alarm of a region without a client (not named by ARN in `ALARM_NAMES`) is not read.
async fn read_all_alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    regional: &[(String, aws_sdk_cloudwatch::Client)],
    reads: &AlarmReads,
) -> (Option<Vec<AlarmSeen>>, Vec<String>) {
    let here = AlarmReads { elsewhere: Vec::new(), ..reads.clone() };
    let there = reads.elsewhere.iter().filter_map(|(region, names)| {
        let client = regional.iter().find(|(r, _)| r == region).map(|(_, c)| c)?;
        let read = read_alarms(client, AlarmReads { names: names.clone(), ..AlarmReads::default() });
        Some(async move { (Some(region.as_str()), read.await) })
    });
    let here = async { (None, read_alarms(cloudwatch, here).await) };
    let (here, there) = tokio::join!(here, join_all(there));
    let (mut seen, mut unread): (Option<Vec<AlarmSeen>>, Vec<String>) = (None, Vec::new());
    for (region, found) in std::iter::once(here).chain(there) {
        match found {
            Ok(Some(found)) => seen.get_or_insert_with(Vec::new).extend(found),
            Ok(None) => {}
            Err(e) => {
                let region = region.map_or_else(|| "the function's region".to_owned(), str::to_owned);
                tracing::warn!(region = %region, error = %e, "could not read the alarms of one region; the others count");
                unread.push(format!("{region}: {e}"));
            }
        }
    }
    (seen, unread)
}

/// Reads the alarms: by name and by action, both at once, every page. None: nothing to read.
async fn read_alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    reads: AlarmReads,
) -> Result<Option<Vec<AlarmSeen>>, Error> {
    let reads = &reads;
    use aws_sdk_cloudwatch::types::AlarmType;
    if reads.is_empty() {
        return Ok(None);
    }
    // Composite alarms are listed only when AlarmTypes asks for them.
    let query =
        || cloudwatch.describe_alarms().alarm_types(AlarmType::MetricAlarm).alarm_types(AlarmType::CompositeAlarm);
    let by_name = async {
        match reads.names.is_empty() {
            true => Ok(Vec::new()),
            false => {
                query()
                    .set_alarm_names(Some(reads.names.clone()))
                    .into_paginator()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
            }
        }
    };
    let by_action = async {
        match &reads.action_prefix {
            None => Ok(Vec::new()),
            Some(prefix) => query().action_prefix(prefix).into_paginator().send().collect::<Result<Vec<_>, _>>().await,
        }
    };
    let (by_name, by_action) = tokio::join!(by_name, by_action);
    let by_name = by_name.map_err(|e| aws_error("DescribeAlarms", e))?;
    let by_action = by_action.map_err(|e| aws_error("DescribeAlarms", e))?;
    // ActionPrefix is a prefix: `function:ec2-failover` also finds `function:ec2-failover-db`'s
    // alarms. Only an action that is this function's ARN, or it with a qualifier, counts.
    let invokes_us = |actions: &[String]| {
        reads.action_prefix.as_deref().is_some_and(|arn| {
            actions.iter().any(|a| a == arn || a.strip_prefix(arn).is_some_and(|rest| rest.starts_with(':')))
        })
    };
    let mut seen: Vec<AlarmSeen> = Vec::new();
    for (page, by_action) in by_name.iter().map(|p| (p, false)).chain(by_action.iter().map(|p| (p, true))) {
        for alarm in page.metric_alarms().iter().filter(|a| !by_action || invokes_us(a.alarm_actions())) {
            let mut instance_ids: Vec<String> = Vec::new();
            let dimensions = alarm.dimensions().iter().chain(
                alarm
                    .metrics()
                    .iter()
                    .filter_map(|m| m.metric_stat())
                    .filter_map(|s| s.metric())
                    .flat_map(|m| m.dimensions()),
            );
            for id in dimensions.filter(|d| d.name() == Some("InstanceId")).filter_map(|d| d.value()) {
                if !instance_ids.iter().any(|known| known == id) {
                    instance_ids.push(id.to_owned());
                }
            }
            let since = alarm.state_transitioned_timestamp().or(alarm.state_updated_timestamp()).map(|t| t.secs());
            let state = alarm.state_value().map(|s| s.as_str());
            push_alarm(&mut seen, alarm.alarm_name(), state, instance_ids, since, alarm.actions_enabled());
        }
        for alarm in page.composite_alarms().iter().filter(|a| !by_action || invokes_us(a.alarm_actions())) {
            let since = alarm.state_transitioned_timestamp().or(alarm.state_updated_timestamp()).map(|t| t.secs());
            let state = alarm.state_value().map(|s| s.as_str());
            push_alarm(&mut seen, alarm.alarm_name(), state, Vec::new(), since, alarm.actions_enabled());
        }
    }
    Ok(Some(seen))
}

/// Adds an alarm once; one CloudWatch reports in a state this function does not know is dropped.
fn push_alarm(
    seen: &mut Vec<AlarmSeen>,
    name: Option<&str>,
    state: Option<&str>,
    instance_ids: Vec<String>,
    since: Option<i64>,
    actions_enabled: Option<bool>,
) {
    let state = match state {
        Some("ALARM") => AlarmState::Alarm,
        Some("OK") => AlarmState::Ok,
        Some("INSUFFICIENT_DATA") => AlarmState::InsufficientData,
        _ => return,
    };
    if let Some(name) = name.filter(|n| !seen.iter().any(|a| &a.name == n)) {
        let actions_enabled = actions_enabled.unwrap_or(true);
        seen.push(AlarmSeen { name: name.to_owned(), state, instance_ids, since, actions_enabled });
    }
}

/// Reads one instance's status checks.
fn checks(status: &aws_sdk_ec2::types::InstanceStatus) -> Checks {
    let summary = |s: Option<&aws_sdk_ec2::types::InstanceStatusSummary>| {
        s.and_then(|s| s.status()).map_or(CheckStatus::Unknown, |s| CheckStatus::from_name(s.as_str()))
    };
    Checks { instance: summary(status.instance_status()), system: summary(status.system_status()) }
}

/// Reads the failover record from its tags. A record that is partial, unreadable or about other
/// instances (the pair was reconfigured) is no record.
pub fn read_record(
    from: Option<&str>,
    to: Option<&str>,
    at: Option<&str>,
    phase: Option<&str>,
    config: &Config,
) -> Option<FailoverRecord> {
    let (from, to) = (from?, to?);
    if from == to || !config.is_member(from) || !config.is_member(to) {
        return None;
    }
    let at = DateTime::from_str(at?, DateTimeFormat::DateTime).ok()?.secs();
    Some(FailoverRecord { from: from.into(), to: to.into(), at, phase: Phase::from_name(phase?)?, cause: None })
}

/// Every endpoint the configuration names, in order.
pub fn endpoints_of(config: &Config) -> Vec<Endpoint> {
    let eip = config.allocation_id.iter().map(|id| Endpoint::ElasticIp { allocation_id: id.clone() });
    let routes =
        config.routes.iter().map(|r| Endpoint::Route { table: r.table.clone(), destination: r.destination.clone() });
    let ips = config.private_ips.iter().map(|ip| Endpoint::PrivateIp { address: ip.clone() });
    eip.chain(routes).chain(ips).collect()
}

/// Points every endpoint at `instance_id`, through its primary network interface when known,
/// all at once; a failure is the result (the others are still tried: the next invocation
/// converges what is left), an Elastic IP's or a route's before a private IP's: the caller fences
/// the old instance only if nothing but private IPs may still point at it.
async fn point(client: &Client, endpoints: &[Endpoint], instance_id: &str, eni: Option<&str>) -> Result<(), Error> {
    let results = join_all(endpoints.iter().map(|e| point_one(client, e, instance_id, eni))).await;
    let (private, others): (Vec<_>, Vec<_>) =
        endpoints.iter().zip(results).partition(|(e, _)| matches!(e, Endpoint::PrivateIp { .. }));
    others.into_iter().chain(private).map(|(_, r)| r).collect::<Result<Vec<()>, Error>>().map(|_| ())
}

/// Whether a failed move leaves only private IPs behind (its error is theirs: see [`point`]).
fn only_private_ips_failed(error: &Error) -> bool {
    matches!(error, Error::Aws { operation: "AssignPrivateIpAddresses", .. })
}

async fn point_one(client: &Client, endpoint: &Endpoint, instance_id: &str, eni: Option<&str>) -> Result<(), Error> {
    match endpoint {
        Endpoint::ElasticIp { allocation_id } => associate(client, allocation_id, instance_id, eni).await,
        Endpoint::Route { table, destination } => route(client, table, destination, instance_id, eni).await,
        // AllowReassignment takes the address from whichever interface holds it (EC2 API
        // reference, AssignPrivateIpAddresses); without it EC2 refuses an address in use.
        Endpoint::PrivateIp { address } => {
            let eni = eni.ok_or_else(|| Error::Aws {
                operation: "AssignPrivateIpAddresses",
                code: "none".into(),
                message: format!("no network interface is known for {instance_id}"),
            })?;
            client
                .assign_private_ip_addresses()
                .network_interface_id(eni)
                .private_ip_addresses(address)
                .allow_reassignment(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("AssignPrivateIpAddresses", e))
        }
    }
}

/// Points a route at the instance's interface (or the instance, if its interface is unknown):
/// ReplaceRoute, or CreateRoute when the table has no such route. EC2 answers ReplaceRoute for a
/// missing route with InvalidParameterValue ("There is no route defined for ..."; the API
/// reference lists no code of its own, moto's tests record AWS's).
async fn route(
    client: &Client,
    table: &str,
    destination: &str,
    instance_id: &str,
    eni: Option<&str>,
) -> Result<(), Error> {
    let (cidr, ipv6, list) = match RouteDestination::of(destination) {
        RouteDestination::Ipv4 => (Some(destination.to_owned()), None, None),
        RouteDestination::Ipv6 => (None, Some(destination.to_owned()), None),
        RouteDestination::PrefixList => (None, None, Some(destination.to_owned())),
    };
    let (interface, instance) = match eni {
        Some(eni) => (Some(eni.to_owned()), None),
        None => (None, Some(instance_id.to_owned())),
    };
    let replaced = client
        .replace_route()
        .route_table_id(table)
        .set_destination_cidr_block(cidr.clone())
        .set_destination_ipv6_cidr_block(ipv6.clone())
        .set_destination_prefix_list_id(list.clone())
        .set_network_interface_id(interface.clone())
        .set_instance_id(instance.clone())
        .send()
        .await
        .map_err(|e| aws_error("ReplaceRoute", e));
    match replaced {
        Ok(_) => Ok(()),
        Err(Error::Aws { code, message, .. })
            if code == "InvalidParameterValue" && message.to_ascii_lowercase().contains("no route") =>
        {
            client
                .create_route()
                .route_table_id(table)
                .set_destination_cidr_block(cidr)
                .set_destination_ipv6_cidr_block(ipv6)
                .set_destination_prefix_list_id(list)
                .set_network_interface_id(interface)
                .set_instance_id(instance)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("CreateRoute", e))
        }
        Err(e) => Err(e),
    }
}

/// What became of one planned action.
pub type ActionReport = Report<Action>;

/// Carries out a plan in two steps. First the address move and the record, at once; then the
/// stops, and the starts of a plan that moves the address, only if the move succeeded: an
/// instance is never fenced while it still holds the IP, and the IP reaches a stopped instance
/// before AWS starts it (a `pending` instance refuses the association). A plan without a move
/// runs its start with its record. Returns a report per action, and the first error, if any.
pub async fn execute(client: &Client, config: &Config, actions: &[Action]) -> (Vec<ActionReport>, Option<Error>) {
    let moves = actions.iter().any(|a| matches!(a, Action::MoveAddress { .. }));
    let (later, first): (Vec<&Action>, Vec<&Action>) = actions.iter().partition(|a| match a {
        Action::StopInstance { .. } => true,
        Action::StartInstance { .. } => moves,
        _ => false,
    });
    let mut reports = Vec::with_capacity(actions.len());
    let mut first_error = None;

    // The record, the health results and a pause are tags on the anchor: one CreateTags carries
    // them all. EC2 refuses simultaneous tag changes on one resource (ConcurrentTagAccess), which
    // the SDK does not retry, so two in parallel could lose the record of the failover they belong to.
    let (tagging, rest): (Vec<&Action>, Vec<&Action>) = first.iter().copied().partition(|a| writes_anchor_tags(a));
    let (mut rest_results, mut tag_results) =
        tokio::join!(join_all(rest.iter().map(|a| run(client, config, a))), tag_anchor(client, config, &tagging));
    let results: Vec<Result<&'static str, Error>> = first
        .iter()
        .map(|a| match writes_anchor_tags(a) {
            true => tag_results.remove(0),
            false => rest_results.remove(0),
        })
        .collect();
    let mut move_failed = false;
    for (action, result) in first.iter().zip(results) {
        // A fence never runs while an endpoint that carries traffic to the instance (the Elastic
        // IP, a route) may still point at it; a private IP left behind does not keep a running old
        // instance unfenced (the next reconcile moves it): two servers are worse than one address late.
        move_failed |= matches!(action, Action::MoveAddress { .. } | Action::Converge { .. })
            && result.as_ref().is_err_and(|e| !only_private_ips_failed(e));
        reports.push(Report::of(*action, result, &mut first_error));
    }
    if move_failed {
        for action in later {
            reports.push(Report::skipped(action));
        }
    } else {
        let results = join_all(later.iter().map(|a| run(client, config, a))).await;
        for (action, result) in later.iter().zip(results) {
            reports.push(Report::of(*action, result, &mut first_error));
        }
    }
    (reports, first_error)
}

/// Whether an action changes the anchor's tags (the record, the health results, a pause, a resume).
fn writes_anchor_tags(action: &Action) -> bool {
    matches!(action, Action::RecordFailover(_) | Action::RecordHealth(_) | Action::Pause { .. } | Action::Resume)
}

/// The anchor's tag changes of one plan, one request at a time: every tag written in one
/// CreateTags, then a resume's DeleteTags. A result per action, in their order.
async fn tag_anchor(client: &Client, config: &Config, actions: &[&Action]) -> Vec<Result<&'static str, Error>> {
    let mut written = Vec::new();
    for action in actions {
        written.extend(anchor_tags(action));
    }
    let created = match written.is_empty() {
        true => Ok("done"),
        false => client
            .create_tags()
            .resources(config.anchor())
            .set_tags(Some(written))
            .send()
            .await
            .map(|_| "done")
            .map_err(|e| aws_error("CreateTags", e)),
    };
    let mut results = Vec::with_capacity(actions.len());
    for action in actions {
        results.push(match (action, &created) {
            (Action::Resume, _) => resume(client, config).await,
            (_, Ok(status)) => Ok(*status),
            (_, Err(e)) => Err(same_error(e)),
        });
    }
    results
}

/// An error again, for each action a shared request failed.
fn same_error(e: &Error) -> Error {
    match e {
        Error::Aws { operation, code, message } => {
            Error::Aws { operation, code: code.clone(), message: message.clone() }
        }
        other => Error::Refused(other.to_string()),
    }
}

/// The tags an action writes on the anchor (none for the others).
fn anchor_tags(action: &Action) -> Vec<aws_sdk_ec2::types::Tag> {
    let time = |at: i64| DateTime::from_secs(at).fmt(DateTimeFormat::DateTime).unwrap_or_default();
    match action {
        Action::Pause { reason, at } => vec![ec2_tag(tags::PAUSED, reason), ec2_tag(tags::PAUSED_AT, &time(*at))],
        Action::RecordHealth(history) => vec![ec2_tag(tags::HEALTH, &history.to_tag())],
        Action::RecordFailover(record) => {
            let mut written = vec![
                ec2_tag(tags::FROM, &record.from),
                ec2_tag(tags::TO, &record.to),
                ec2_tag(tags::AT, &time(record.at)),
                ec2_tag(tags::PHASE, record.phase.name()),
            ];
            // Always written (empty for none), so that no older record's cause outlives it; at most
            // 256 characters, EC2's limit for a tag value (an alarm's name alone may take 255).
            let cause: String = record.cause.as_deref().unwrap_or_default().chars().take(256).collect();
            written.push(ec2_tag(tags::CAUSE, &cause));
            written
        }
        _ => Vec::new(),
    }
}

async fn run(client: &Client, config: &Config, action: &Action) -> Result<&'static str, Error> {
    match action {
        Action::MoveAddress { instance_id, network_interface_id } => {
            point(client, &endpoints_of(config), instance_id, network_interface_id.as_deref()).await.map(|()| "done")
        }
        Action::Converge { instance_id, network_interface_id, endpoints } => {
            point(client, endpoints, instance_id, network_interface_id.as_deref()).await.map(|()| "done")
        }
        Action::StartInstance { instance_id } => client
            .start_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map(|_| "done")
            .map_err(|e| aws_error("StartInstances", e)),
        // Force: a graceful shutdown first, then a forced one if that does not end in time; with
        // SkipOsShutdown, none at all (EC2 API reference, StopInstances).
        Action::StopInstance { instance_id, force, skip_os_shutdown } => client
            .stop_instances()
            .instance_ids(instance_id)
            .set_force(force.then_some(true))
            .set_skip_os_shutdown(skip_os_shutdown.then_some(true))
            .send()
            .await
            .map(|_| "done")
            .map_err(|e| aws_error("StopInstances", e)),
        // The anchor's tags, one request (see `tag_anchor`, which `execute` gives them all to).
        Action::Pause { .. } | Action::RecordHealth(_) | Action::RecordFailover(_) | Action::Resume => {
            tag_anchor(client, config, &[action]).await.pop().unwrap_or(Ok("done"))
        }
    }
}

/// Ends a pause: DeleteTags with keys only deletes them whatever their values.
async fn resume(client: &Client, config: &Config) -> Result<&'static str, Error> {
    client
        .delete_tags()
        .resources(config.anchor())
        .tags(aws_sdk_ec2::types::Tag::builder().key(tags::PAUSED).build())
        .tags(aws_sdk_ec2::types::Tag::builder().key(tags::PAUSED_AT).build())
        .send()
        .await
        .map(|_| "done")
        .map_err(|e| aws_error("DeleteTags", e))
}
