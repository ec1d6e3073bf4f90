//! The fleet's reads of its declarations: the instances, Elastic IPs and route tables that carry
//! `ec2-failover:pair` (every one, or one pair's), and the pair an instance belongs to. The pairs'
//! worlds are read by pair mode's AWS layer (`pair::aws`, one pair or many at once).

use aws_sdk_ec2::types::Filter;
use aws_sdk_ec2::Client;

use super::declare::Tagged;
use crate::aws::aws_error;
use crate::error::Error;
use crate::tags::PAIR;

/// The tagged instances, Elastic IPs and route tables: of every pair (`name` none: by tag key,
/// every page), or of one (by its value). One round trip.
pub async fn declarations(
    client: &Client,
    name: Option<&str>,
) -> Result<(Vec<Tagged>, Vec<Tagged>, Vec<Tagged>), Error> {
    let filter = || match name {
        Some(name) => Filter::builder().name(format!("tag:{PAIR}")).values(name).build(),
        None => Filter::builder().name("tag-key").values(PAIR).build(),
    };
    let instances = client.describe_instances().filters(filter()).into_paginator().items().send().collect::<Vec<_>>();
    let addresses = client.describe_addresses().filters(filter()).send();
    let tables = client.describe_route_tables().filters(filter()).into_paginator().items().send().collect::<Vec<_>>();
    let (instances, addresses, tables) = tokio::join!(instances, addresses, tables);
    let mut tagged_instances = Vec::new();
    for reservation in instances {
        let reservation = reservation.map_err(|e| aws_error("DescribeInstances", e))?;
        for i in reservation.instances() {
            // A terminated instance is listed for about an hour after, with its tags: still its
            // pair's member until another takes its role (a terminated active instance is a
            // failure to fail over from, not a reason to give up on the pair).
            let gone = i.state().and_then(|s| s.name()).is_some_and(|n| n.as_str() == "terminated");
            if let Some(id) = i.instance_id() {
                tagged_instances.push(Tagged { id: id.to_owned(), tags: pairs(i.tags()), gone });
            }
        }
    }
    let addresses = addresses.map_err(|e| aws_error("DescribeAddresses", e))?;
    let tagged_addresses = addresses
        .addresses()
        .iter()
        .filter_map(|a| Some(Tagged { id: a.allocation_id()?.to_owned(), tags: pairs(a.tags()), gone: false }))
        .collect();
    let mut tagged_tables = Vec::new();
    for table in tables {
        let table = table.map_err(|e| aws_error("DescribeRouteTables", e))?;
        if let Some(id) = table.route_table_id() {
            tagged_tables.push(Tagged { id: id.to_owned(), tags: pairs(table.tags()), gone: false });
        }
    }
    Ok((tagged_instances, tagged_addresses, tagged_tables))
}

/// The pair `instance_id` belongs to, by its `ec2-failover:pair` tag; none for an instance
/// outside every pair, or one EC2 does not list.
pub async fn pair_of(client: &Client, instance_id: &str) -> Result<Option<String>, Error> {
    let filter = Filter::builder().name("instance-id").values(instance_id).build();
    let out =
        client.describe_instances().filters(filter).send().await.map_err(|e| aws_error("DescribeInstances", e))?;
    let tagged = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.instance_id() == Some(instance_id))
        .map(|i| Tagged { id: instance_id.to_owned(), tags: pairs(i.tags()), gone: false });
    Ok(tagged.as_ref().and_then(Tagged::pair).map(str::to_owned))
}

fn pairs(tags: &[aws_sdk_ec2::types::Tag]) -> Vec<(String, String)> {
    tags.iter().filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or_default().to_owned()))).collect()
}
