//! The endpoints clients reach the pair by, one kind per file, each with its reader and its mover
//! together: [`elastic_ip`], [`route`] (a route-table entry), [`private_ip`] (a secondary private
//! IPv4 address). Here: what an endpoint is, what the configuration names, and the reads and moves
//! of every kind at once.
//!
//! A new kind (a Route 53 record, say) is one new file with its `fetch`, `seen` and `point`, a
//! variant of [`Endpoint`] with its names, its settings in `config.rs`, and one line in each of
//! [`of`], [`fetch`], [`Fetched::seen`] and [`point_one`] (ARCHITECTURE.md lists the rest).

pub mod elastic_ip;
pub mod private_ip;
pub mod route;

use std::fmt;

use futures_util::future::join_all;
use serde::Serialize;

use super::config::Config;
use crate::aws::Instance;
use crate::error::Error;
use crate::holder::Holder;

/// One endpoint clients reach the pair by.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// An Elastic IP.
    ElasticIp {
        /// Its allocation id.
        allocation_id: String,
    },
    /// A route-table entry, pointed at the active instance's network interface.
    Route {
        /// The route table.
        table: String,
        /// The destination.
        destination: String,
    },
    /// A secondary private IPv4 address on the active instance's network interface.
    PrivateIp {
        /// The address.
        address: String,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::ElasticIp { allocation_id } => write!(f, "the Elastic IP {allocation_id}"),
            Endpoint::Route { table, destination } => write!(f, "the route to {destination} in {table}"),
            Endpoint::PrivateIp { address } => write!(f, "the private IP {address}"),
        }
    }
}

impl Endpoint {
    /// What a reason calls it when it stands for the pair's address (the deciding endpoint): the
    /// one Elastic IP needs no id, a route is named by its destination, a private IP by itself.
    pub fn called(&self) -> String {
        match self {
            Endpoint::ElasticIp { .. } => "the Elastic IP".into(),
            Endpoint::Route { destination, .. } => format!("the route to {destination}"),
            Endpoint::PrivateIp { address } => format!("the private IP {address}"),
        }
    }
}

/// An endpoint and what it points at now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointSeen {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// What it points at: a member, nothing (no route, the address on no interface), or
    /// something outside the pair.
    pub holder: Holder,
}

/// Every endpoint the configuration names, in order: the first one decides who is active.
pub fn of(config: &Config) -> Vec<Endpoint> {
    let eip = config.allocation_id.iter().map(|id| Endpoint::ElasticIp { allocation_id: id.clone() });
    let routes =
        config.routes.iter().map(|r| Endpoint::Route { table: r.table.clone(), destination: r.destination.clone() });
    let ips = config.private_ips.iter().map(|ip| Endpoint::PrivateIp { address: ip.clone() });
    eip.chain(routes).chain(ips).collect()
}

/// What a reason calls the pair's address: its deciding (first) endpoint, as [`Endpoint::called`].
pub fn called(config: &Config) -> String {
    of(config).first().map_or_else(|| "the address".into(), Endpoint::called)
}

/// That the deciding endpoint (named in full) is on `who`, in its kind's own words.
pub fn on(config: &Config, who: &str) -> String {
    match of(config).first() {
        Some(e @ Endpoint::ElasticIp { .. }) => format!("{e} is associated with {who}"),
        Some(e @ Endpoint::Route { .. }) => format!("{e} points at {who}"),
        Some(e @ Endpoint::PrivateIp { .. }) => format!("{e} is on {who}"),
        None => format!("the address is on {who}"),
    }
}

/// That the pair's address (as [`called`]) is on nothing, in its kind's own words.
pub fn unheld(config: &Config) -> String {
    match of(config).first() {
        Some(e @ Endpoint::ElasticIp { .. }) => format!("{} is associated with nothing", e.called()),
        Some(e @ Endpoint::Route { .. }) => format!("{} points at nothing", e.called()),
        Some(e @ Endpoint::PrivateIp { .. }) => format!("{} is on no interface", e.called()),
        None => "the address is on nothing".into(),
    }
}

/// What one kind's read found: each of its endpoints and where it points, the tags of the
/// resources it read (the anchor's among them), and a public address.
#[derive(Debug, Default)]
pub struct Found {
    /// Its endpoints, in the configuration's order.
    pub seen: Vec<EndpointSeen>,
    /// Each resource read and its tags.
    pub tags: Vec<(String, Vec<aws_sdk_ec2::types::Tag>)>,
    /// The public address, for an Elastic IP.
    pub public_ip: Option<String>,
}

/// The answers of every kind's read, before the members are known (they are read at once).
#[derive(Debug)]
pub struct Fetched {
    addresses: Option<aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput>,
    tables: Option<aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput>,
    interfaces: Option<aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput>,
}

/// Reads every configured kind, all at once; a kind not configured is not read.
pub async fn fetch(client: &aws_sdk_ec2::Client, config: &Config) -> Result<Fetched, Error> {
    let (addresses, tables, interfaces) = tokio::join!(
        elastic_ip::fetch(client, config),
        route::fetch(client, config),
        private_ip::fetch(client, config)
    );
    Ok(Fetched { addresses: addresses?, tables: tables?, interfaces: interfaces? })
}

/// Reads the endpoints of many pairs at once, one request per kind whatever their number (a
/// fleet's reconcile); each pair then reads its own out of the answers ([`Fetched::seen`]).
pub async fn fetch_many(client: &aws_sdk_ec2::Client, configs: &[&Config]) -> Result<Fetched, Error> {
    let ids: Vec<String> = configs.iter().filter_map(|c| c.allocation_id.clone()).collect();
    let tables = configs.iter().flat_map(|c| c.routes.iter().map(|r| r.table.as_str()));
    let mut ips: Vec<String> = configs.iter().flat_map(|c| c.private_ips.iter().cloned()).collect();
    ips.sort();
    ips.dedup();
    let (addresses, tables, interfaces) = tokio::join!(
        elastic_ip::fetch_ids(client, ids),
        route::fetch_tables(client, tables),
        private_ip::fetch_addresses(client, ips)
    );
    Ok(Fetched { addresses: addresses?, tables: tables?, interfaces: interfaces? })
}

impl Fetched {
    /// Where each endpoint points, given the members EC2 listed, in the configuration's order.
    pub fn seen(&self, config: &Config, members: &[Instance]) -> Result<Found, Error> {
        let mut all = Found::default();
        let found = [
            self.addresses.as_ref().map(|a| elastic_ip::seen(a, config, members)),
            self.tables.as_ref().map(|t| route::seen(t, config, members)),
            self.interfaces.as_ref().map(|i| Ok(private_ip::seen(i, config, members))),
        ];
        for found in found.into_iter().flatten() {
            let found = found?;
            all.seen.extend(found.seen);
            all.tags.extend(found.tags);
            all.public_ip = all.public_ip.or(found.public_ip);
        }
        Ok(all)
    }
}

/// Points every endpoint at `instance_id`, through its primary network interface when known,
/// all at once; a failure is the result (the others are still tried: the next invocation
/// converges what is left), an Elastic IP's or a route's before a private IP's: the caller fences
/// the old instance only if nothing but private IPs may still point at it.
pub async fn point(
    client: &aws_sdk_ec2::Client,
    endpoints: &[Endpoint],
    instance_id: &str,
    eni: Option<&str>,
) -> Result<(), Error> {
    let results = join_all(endpoints.iter().map(|e| point_one(client, e, instance_id, eni))).await;
    let (private, others): (Vec<_>, Vec<_>) =
        endpoints.iter().zip(results).partition(|(e, _)| matches!(e, Endpoint::PrivateIp { .. }));
    others.into_iter().chain(private).map(|(_, r)| r).collect::<Result<Vec<()>, Error>>().map(|_| ())
}

/// Whether a failed move leaves only private IPs behind (its error is theirs: see [`point`]).
pub fn only_private_ips_failed(error: &Error) -> bool {
    matches!(error, Error::Aws { operation: private_ip::OPERATION, .. })
}

async fn point_one(
    client: &aws_sdk_ec2::Client,
    endpoint: &Endpoint,
    instance_id: &str,
    eni: Option<&str>,
) -> Result<(), Error> {
    match endpoint {
        Endpoint::ElasticIp { allocation_id } => elastic_ip::point(client, allocation_id, instance_id, eni).await,
        Endpoint::Route { table, destination } => {
            crate::route::point(client, table, destination, instance_id, eni).await
        }
        Endpoint::PrivateIp { address } => private_ip::point(client, address, instance_id, eni).await,
    }
}
