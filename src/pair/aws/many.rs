//! The reads of many pairs at once (a fleet's reconcile): one request per kind of thing, whatever
//! the number of pairs, all in one round trip; each pair's world is then assembled out of the
//! answers ([`super::assemble`]), as one pair's is.

use aws_sdk_ec2::types::Filter;
use futures_util::future::join_all;

use super::{alarms, instances, zonal_shifts, Read, Regional};
use crate::aws::{aws_error, Instance};
use crate::error::Error;
use crate::pair::alarms::AlarmReads;
use crate::pair::config::{Config, ZonalShift};
use crate::pair::endpoint;
use crate::pair::Clients;

/// How many values EC2 takes in one filter (EC2 API reference, "Query parameters for filtering":
/// up to 200 values in one filter; DescribeInstances names them in chunks of this many).
pub const FILTER_VALUES: usize = 200;

/// Reads every pair's members (with their status checks and Spot requests), endpoints, the alarms
/// `alarms` names and the zonal shifts at once: the requests grow with the fleet only by one
/// DescribeInstances per 200 instances, all sent together.
pub async fn observe_many(
    clients: &Clients,
    regional: &Regional,
    configs: &[&Config],
    alarms: &AlarmReads,
) -> Result<Read, Error> {
    let ids: Vec<String> = configs.iter().flat_map(|c| [c.primary.clone(), c.standby.clone()]).collect();
    let members = read_members(&clients.ec2, &ids);
    let endpoints = endpoint::fetch_many(&clients.ec2, configs);
    let alarms = alarms::read_all(&clients.cloudwatch, &regional.cloudwatch, alarms);
    // Read once if any pair reads them (`ZONAL_SHIFT` may be set per pair).
    let settings = configs.iter().copied().find(|c| c.zonal_shift != ZonalShift::Off);
    let shifts = async {
        match settings {
            Some(config) => zonal_shifts::read(&clients.arc, &clients.ec2, &regional.zones, config).await,
            None => (Vec::new(), None),
        }
    };
    let (members, endpoints, (alarms, unread_alarms), (shifts, unread_shifts)) =
        tokio::join!(members, endpoints, alarms, shifts);
    Ok(Read { members: members?, endpoints: endpoints?, alarms, unread_alarms, shifts, unread_shifts })
}

/// The instances named, with their status checks (DescribeInstanceStatus of every instance of the
/// region, every page: it takes at most 100 ids, and names none it does not know) and the kind of
/// their Spot requests.
async fn read_members(client: &aws_sdk_ec2::Client, ids: &[String]) -> Result<Vec<Instance>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let described = join_all(ids.chunks(FILTER_VALUES).map(|chunk| {
        let filter = Filter::builder().name("instance-id").set_values(Some(chunk.to_vec())).build();
        client.describe_instances().filters(filter).into_paginator().items().send().collect::<Vec<_>>()
    }));
    let statuses = client
        .describe_instance_status()
        .include_all_instances(true)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>();
    let (described, statuses) = tokio::join!(described, statuses);
    let mut members = Vec::new();
    for reservation in described.into_iter().flatten() {
        let reservation = reservation.map_err(|e| aws_error("DescribeInstances", e))?;
        members.extend(reservation.instances().iter().filter_map(Instance::read));
    }
    let statuses = statuses.unwrap_or_else(|e| {
        let e = aws_error("DescribeInstanceStatus", e);
        tracing::warn!(error = %e, "could not read the status checks; they count as not passing");
        Vec::new()
    });
    for member in &mut members {
        if let Some(status) = statuses.iter().find(|s| s.instance_id() == Some(member.instance_id.as_str())) {
            instances::apply_status(member, status);
        }
    }
    Ok(instances::spot_kinds(client, members).await)
}
