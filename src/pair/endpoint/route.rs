//! A route-table entry (`ROUTE_TABLE_IDS` x `ROUTE_DESTINATIONS`): read with DescribeRouteTables,
//! moved with `crate::route::point` (ReplaceRoute, or CreateRoute when the table has none) to the
//! active instance's network interface. A route to an instance carries traffic only when its
//! source/destination check is off: `decide` refuses a move into that black hole.

use aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput;
use aws_sdk_ec2::Client;

use super::{Endpoint, EndpointSeen, Found};
use crate::aws::{aws_error, Instance};
use crate::error::Error;
use crate::holder::{resolve_holder, Holder};
use crate::pair::config::Config;

/// Reads the pair's route tables (each once), with their routes and tags.
pub(super) async fn fetch(client: &Client, config: &Config) -> Result<Option<DescribeRouteTablesOutput>, Error> {
    fetch_tables(client, config.routes.iter().map(|r| r.table.as_str())).await
}

/// Reads the route tables named, each once (those of every pair of a fleet at once).
pub(super) async fn fetch_tables<'a>(
    client: &Client,
    tables: impl Iterator<Item = &'a str>,
) -> Result<Option<DescribeRouteTablesOutput>, Error> {
    let mut ids: Vec<String> = Vec::new();
    for table in tables {
        if !ids.iter().any(|t| t == table) {
            ids.push(table.to_owned());
        }
    }
    if ids.is_empty() {
        return Ok(None);
    }
    client
        .describe_route_tables()
        .set_route_table_ids(Some(ids))
        .send()
        .await
        .map(Some)
        .map_err(|e| aws_error("DescribeRouteTables", e))
}

/// What each configured route points at, and each table's tags.
pub(super) fn seen(read: &DescribeRouteTablesOutput, config: &Config, members: &[Instance]) -> Result<Found, Error> {
    let mut found = Found::default();
    for route in &config.routes {
        let table =
            read.route_tables().iter().find(|t| t.route_table_id() == Some(route.table.as_str())).ok_or_else(|| {
                Error::Aws {
                    operation: "DescribeRouteTables",
                    code: "InvalidRouteTableID.NotFound".into(),
                    message: format!("the route table {} was not returned", route.table),
                }
            })?;
        if !found.tags.iter().any(|(id, _)| *id == route.table) {
            found.tags.push((route.table.clone(), table.tags().to_vec()));
        }
        let entry = crate::route::entry(table, &route.destination);
        let holder = match entry {
            None => Holder::Nobody,
            Some(r) if r.network_interface_id().is_none() && r.instance_id().is_none() => {
                // Another target (a gateway, a peering...): outside the pair.
                let other =
                    r.gateway_id().or(r.nat_gateway_id()).or(r.transit_gateway_id()).or(r.vpc_peering_connection_id());
                Holder::Outsider { instance_id: None, network_interface_id: other.map(str::to_owned) }
            }
            // A blackhole route whose target is gone (no member's interface) points at nothing.
            Some(r) => match resolve_holder(r.instance_id(), r.network_interface_id(), members) {
                Holder::Outsider { .. } if r.state().is_some_and(|s| s.as_str() == "blackhole") => Holder::Nobody,
                holder => holder,
            },
        };
        found.seen.push(EndpointSeen {
            endpoint: Endpoint::Route { table: route.table.clone(), destination: route.destination.clone() },
            holder,
        });
    }
    Ok(found)
}
