//! An Elastic IP: read with DescribeAddresses, moved with AssociateAddress through the target's
//! primary network interface (which takes it whatever its instance's state; see
//! [`crate::aws::associate`]).

use aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput;
use aws_sdk_ec2::Client;

use super::{Endpoint, EndpointSeen, Found};
use crate::aws::{associate, aws_error, Instance};
use crate::error::Error;
use crate::holder::resolve_holder;
use crate::pair::config::Config;

/// Reads the pair's Elastic IP, if it has one.
pub(super) async fn fetch(client: &Client, config: &Config) -> Result<Option<DescribeAddressesOutput>, Error> {
    fetch_ids(client, config.allocation_id.iter().cloned().collect()).await
}

/// Reads the Elastic IPs named (those of every pair of a fleet at once); none for no id.
pub(super) async fn fetch_ids(client: &Client, ids: Vec<String>) -> Result<Option<DescribeAddressesOutput>, Error> {
    if ids.is_empty() {
        return Ok(None);
    }
    client
        .describe_addresses()
        .set_allocation_ids(Some(ids))
        .send()
        .await
        .map(Some)
        .map_err(|e| aws_error("DescribeAddresses", e))
}

/// Who the Elastic IP is associated with, its tags and its public address.
pub(super) fn seen(read: &DescribeAddressesOutput, config: &Config, members: &[Instance]) -> Result<Found, Error> {
    let Some(id) = &config.allocation_id else { return Ok(Found::default()) };
    let address =
        read.addresses().iter().find(|a| a.allocation_id() == Some(id.as_str())).ok_or_else(|| Error::Aws {
            operation: "DescribeAddresses",
            code: "InvalidAllocationID.NotFound".into(),
            message: format!("the Elastic IP {id} was not returned"),
        })?;
    Ok(Found {
        seen: vec![EndpointSeen {
            endpoint: Endpoint::ElasticIp { allocation_id: id.clone() },
            holder: resolve_holder(address.instance_id(), address.network_interface_id(), members),
        }],
        tags: vec![(id.clone(), address.tags().to_vec())],
        public_ip: address.public_ip().map(str::to_owned),
    })
}

/// Associates the Elastic IP with `instance_id`, taking it from wherever it is.
pub(super) async fn point(
    client: &Client,
    allocation_id: &str,
    instance_id: &str,
    eni: Option<&str>,
) -> Result<(), Error> {
    associate(client, allocation_id, instance_id, eni).await
}
