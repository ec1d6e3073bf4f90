//! A secondary private IPv4 address: read with DescribeNetworkInterfaces (which interface holds
//! it), moved with AssignPrivateIpAddresses and `AllowReassignment`, which takes the address from
//! whichever interface holds it (EC2 API reference, AssignPrivateIpAddresses; without it EC2
//! refuses an address in use). It must lie in the interface's subnet: `decide` refuses a pair
//! whose members are in two subnets.

use aws_sdk_ec2::operation::describe_network_interfaces::DescribeNetworkInterfacesOutput;
use aws_sdk_ec2::types::{Filter, NetworkInterface};
use aws_sdk_ec2::Client;

use super::{Endpoint, EndpointSeen, Found};
use crate::aws::{aws_error, Instance};
use crate::error::Error;
use crate::holder::{resolve_holder, Holder};
use crate::pair::config::Config;

/// The operation a failed move of a private IP names in its error.
pub(super) const OPERATION: &str = "AssignPrivateIpAddresses";

/// Reads the interfaces that hold the pair's private IPs, whoever they belong to.
pub(super) async fn fetch(client: &Client, config: &Config) -> Result<Option<DescribeNetworkInterfacesOutput>, Error> {
    fetch_addresses(client, config.private_ips.clone()).await
}

/// Reads the interfaces that hold any of `addresses` (those of every pair of a fleet at once).
pub(super) async fn fetch_addresses(
    client: &Client,
    addresses: Vec<String>,
) -> Result<Option<DescribeNetworkInterfacesOutput>, Error> {
    if addresses.is_empty() {
        return Ok(None);
    }
    let filter = Filter::builder().name("addresses.private-ip-address").set_values(Some(addresses));
    client
        .describe_network_interfaces()
        .filters(filter.build())
        .send()
        .await
        .map(Some)
        .map_err(|e| aws_error("DescribeNetworkInterfaces", e))
}

/// Which interface holds each private IP: a member's first, since the filter matches every VPC of
/// the region, where addresses may overlap.
pub(super) fn seen(read: &DescribeNetworkInterfacesOutput, config: &Config, members: &[Instance]) -> Found {
    let seen = config
        .private_ips
        .iter()
        .map(|ip| {
            let holds = |n: &&NetworkInterface| {
                n.private_ip_addresses().iter().any(|a| a.private_ip_address() == Some(ip.as_str()))
            };
            let of_member = |n: &&NetworkInterface| {
                members.iter().any(|m| m.network_interface_id.as_deref() == n.network_interface_id())
            };
            let interfaces = read.network_interfaces();
            let holding = interfaces.iter().filter(holds).find(of_member).or_else(|| interfaces.iter().find(holds));
            let holder = match holding {
                None => Holder::Nobody,
                Some(n) => {
                    resolve_holder(n.attachment().and_then(|a| a.instance_id()), n.network_interface_id(), members)
                }
            };
            EndpointSeen { endpoint: Endpoint::PrivateIp { address: ip.clone() }, holder }
        })
        .collect();
    Found { seen, ..Found::default() }
}

/// Assigns `address` to the instance's primary interface, taking it from wherever it is.
pub(super) async fn point(client: &Client, address: &str, instance_id: &str, eni: Option<&str>) -> Result<(), Error> {
    let eni = eni.ok_or_else(|| Error::Aws {
        operation: OPERATION,
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
        .map_err(|e| aws_error(OPERATION, e))
}
