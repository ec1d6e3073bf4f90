//! A route-table entry pointed at an instance's network interface: the pair's route endpoints and a
//! group's routes (a NAT instance in a single-instance group) move the same way.

use aws_sdk_ec2::types::{Route, RouteTable};
use aws_sdk_ec2::Client;

use crate::aws::aws_error;
use crate::error::Error;

/// Which of EC2's destination parameters a route's destination goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteDestination {
    /// `DestinationCidrBlock`.
    Ipv4,
    /// `DestinationIpv6CidrBlock`.
    Ipv6,
    /// `DestinationPrefixListId`.
    PrefixList,
}

impl RouteDestination {
    /// The kind of a destination (a CIDR or a prefix list id, as `ROUTE_DESTINATIONS` holds them).
    pub fn of(destination: &str) -> Self {
        if destination.starts_with("pl-") {
            RouteDestination::PrefixList
        } else if destination.contains(':') {
            RouteDestination::Ipv6
        } else {
            RouteDestination::Ipv4
        }
    }
}

/// The table's route to `destination`, if it has one.
pub fn entry<'a>(table: &'a RouteTable, destination: &str) -> Option<&'a Route> {
    table.routes().iter().find(|r| match RouteDestination::of(destination) {
        RouteDestination::Ipv4 => r.destination_cidr_block() == Some(destination),
        RouteDestination::Ipv6 => r.destination_ipv6_cidr_block() == Some(destination),
        RouteDestination::PrefixList => r.destination_prefix_list_id() == Some(destination),
    })
}

/// Points a route at the instance's interface (or the instance, if its interface is unknown):
/// ReplaceRoute, or CreateRoute when the table has no such route. EC2 answers ReplaceRoute for a
/// missing route with InvalidParameterValue ("There is no route defined for ..."; the API
/// reference lists no code of its own, moto's tests record AWS's).
pub async fn point(
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
