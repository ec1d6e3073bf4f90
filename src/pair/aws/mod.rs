//! The pair's AWS layer: observes the pair in one round trip (the members, every endpoint, and,
//! when there are alarms to read, CloudWatch, all at once) and carries out a plan. One file per
//! concern: [`instances`], the endpoints (`pair::endpoint`, each kind's reader and mover),
//! [`alarms`] (CloudWatch), [`anchor`] (the record's tags).
//!
//! It decides nothing. The rules it does encode are AWS's own: the endpoints are pointed through
//! the target's primary network interface, and a start or a fence (stop) runs only once the
//! address has reached its new holder.

pub mod alarms;
pub mod anchor;
pub mod instances;
pub mod many;
pub mod zonal_shifts;

use aws_sdk_ec2::Client;
use futures_util::future::join_all;

use super::alarms::AlarmReads;
use super::config::Config;
use super::endpoint;
use super::plan::Action;
use super::world::World;
use super::Clients;
use crate::aws::aws_error;
use crate::decision::{Report, Status};
use crate::error::Error;

/// Reads the pair's instances, their status checks, its endpoints, the alarms `alarms` names and
/// the zonal shifts, all at once: one round trip.
pub async fn observe(clients: &Clients, config: &Config, alarms: &AlarmReads, now: i64) -> Result<World, Error> {
    observe_with(clients, &Regional::default(), config, alarms, now).await
}

/// What an execution environment keeps for every invocation's reads: CloudWatch clients for the
/// regions whose alarms `ALARM_NAMES` names by ARN, and the account's zone names (read once).
#[derive(Debug, Default)]
pub struct Regional {
    /// CloudWatch in each other region, by region.
    pub cloudwatch: Vec<(String, aws_sdk_cloudwatch::Client)>,
    /// Zone IDs and names.
    pub zones: zonal_shifts::ZoneNames,
}

/// The same, with what the environment keeps ([`Regional`]).
pub async fn observe_with(
    clients: &Clients,
    regional: &Regional,
    config: &Config,
    alarms: &AlarmReads,
    now: i64,
) -> Result<World, Error> {
    let members = instances::read(&clients.ec2, config);
    let endpoints = endpoint::fetch(&clients.ec2, config);
    let alarms = alarms::read_all(&clients.cloudwatch, &regional.cloudwatch, alarms);
    let shifts = zonal_shifts::read(&clients.arc, &clients.ec2, &regional.zones, config);
    let (members, endpoints, (alarms, unread_alarms), (shifts, unread_shifts)) =
        tokio::join!(members, endpoints, alarms, shifts);
    let read = Read { members: members?, endpoints: endpoints?, alarms, unread_alarms, shifts, unread_shifts };
    assemble(config, &read, now)
}

/// What one round of reads returned, for one pair or for many at once ([`many`]).
#[derive(Debug)]
pub struct Read {
    /// The instances (of one pair, or of every pair).
    pub members: Vec<crate::aws::Instance>,
    /// The endpoints' answers.
    pub endpoints: endpoint::Fetched,
    /// The alarms read, if any.
    pub alarms: Option<Vec<super::world::AlarmSeen>>,
    /// The regions whose alarms could not be read.
    pub unread_alarms: Vec<String>,
    /// The zonal shifts active now.
    pub shifts: Vec<super::world::ZoneShift>,
    /// Why the shifts could not be read, if they could not.
    pub unread_shifts: Option<String>,
}

/// One pair's world out of a round of reads: its members, where its endpoints point, its anchor,
/// the alarms about its members (or about none: a composite alarm) and the shifts.
pub fn assemble(config: &Config, read: &Read, now: i64) -> Result<World, Error> {
    let members: Vec<crate::aws::Instance> =
        read.members.iter().filter(|i| config.is_member(&i.instance_id)).cloned().collect();
    let found = read.endpoints.seen(config, &members)?;
    let anchor = anchor::read(config, &found);
    Ok(World {
        now,
        anchor,
        members,
        alarms: read.alarms.clone(),
        unread_alarms: read.unread_alarms.clone(),
        probes: Vec::new(),
        endpoints: found.seen,
        shifts: read.shifts.clone(),
        unread_shifts: read.unread_shifts.clone(),
    })
}

/// What became of one planned action.
pub type ActionReport = Report<Action>;

/// Carries out a plan in two steps. First the address move and the record, at once; then the
/// stops, and the starts of a plan that moves the address, only if the move succeeded: an
/// instance is never fenced while it still holds the IP, and the IP reaches a stopped instance
/// before AWS starts it (a `pending` instance refuses the association). A plan without a move
/// runs its start with its record. Returns a report per action, and the first error, if any.
pub async fn execute(client: &Client, config: &Config, actions: &[Action]) -> (Vec<ActionReport>, Option<Error>) {
    let moves = actions.iter().any(|a| matches!(a, Action::MoveEndpoints { .. }));
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
    let (tagging, rest): (Vec<&Action>, Vec<&Action>) =
        first.iter().copied().partition(|a| anchor::writes_anchor_tags(a));
    let (mut rest_results, mut tag_results) =
        tokio::join!(join_all(rest.iter().map(|a| run(client, config, a))), anchor::write(client, config, &tagging));
    let results: Vec<Result<Status, Error>> = first
        .iter()
        .map(|a| match anchor::writes_anchor_tags(a) {
            true => tag_results.remove(0),
            false => rest_results.remove(0),
        })
        .collect();
    let mut move_failed = false;
    for (action, result) in first.iter().zip(results) {
        // A fence never runs while an endpoint that carries traffic to the instance (the Elastic
        // IP, a route) may still point at it; a private IP left behind does not keep a running old
        // instance unfenced (the next reconcile moves it): two servers are worse than one address late.
        move_failed |= matches!(action, Action::MoveEndpoints { .. } | Action::Converge { .. })
            && result.as_ref().is_err_and(|e| !endpoint::only_private_ips_failed(e));
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

async fn run(client: &Client, config: &Config, action: &Action) -> Result<Status, Error> {
    match action {
        Action::MoveEndpoints { instance_id, network_interface_id } => {
            endpoint::point(client, &endpoint::of(config), instance_id, network_interface_id.as_deref())
                .await
                .map(|()| Status::Done)
        }
        Action::Converge { instance_id, network_interface_id, endpoints } => {
            endpoint::point(client, endpoints, instance_id, network_interface_id.as_deref())
                .await
                .map(|()| Status::Done)
        }
        Action::StartInstance { instance_id } => {
            instances::start(client, instance_id, &config.standby_instance_types).await
        }
        // Force: a graceful shutdown first, then a forced one if that does not end in time; with
        // SkipOsShutdown, none at all (EC2 API reference, StopInstances).
        Action::StopInstance { instance_id, force, skip_os_shutdown } => client
            .stop_instances()
            .instance_ids(instance_id)
            .set_force(force.then_some(true))
            .set_skip_os_shutdown(skip_os_shutdown.then_some(true))
            .send()
            .await
            .map(|_| Status::Done)
            .map_err(|e| aws_error("StopInstances", e)),
        // The anchor's tags, one request (see `anchor::write`, which `execute` gives them all to).
        Action::Pause { .. } | Action::RecordHealth(_) | Action::RecordFailover(_) | Action::Resume => {
            anchor::write(client, config, &[action]).await.pop().unwrap_or(Ok(Status::Done))
        }
    }
}
