//! Who holds an endpoint: pair and group mode both read an Elastic IP's (or a route's, or a
//! private IP's) association and ask which of their instances it is on. EC2 names the network
//! interface for every VPC association and usually the instance too; the answer is worked out once,
//! here.

use serde::Serialize;

use crate::aws::Instance;

/// What an endpoint (an Elastic IP, a route, a private IP) points at, among the instances a mode
/// keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// It points at nothing.
    Nobody,
    /// One of the instances the mode keeps (a member of the pair, the group's instance) holds it.
    Member {
        /// The member's instance id.
        instance_id: String,
    },
    /// Something else holds it.
    Outsider {
        /// The instance, if EC2 named one.
        instance_id: Option<String>,
        /// The network interface, if EC2 named one.
        network_interface_id: Option<String>,
    },
}

impl Holder {
    /// The id EC2 named for it: the instance, else the interface or target; none for nothing, or
    /// for a target EC2 did not name.
    pub fn id(&self) -> Option<&str> {
        match self {
            Holder::Nobody => None,
            Holder::Member { instance_id } => Some(instance_id),
            Holder::Outsider { instance_id, network_interface_id } => {
                instance_id.as_deref().or(network_interface_id.as_deref())
            }
        }
    }

    /// Who it is, for a reason: `nothing`, or its id ([`Holder::id`]).
    pub fn name(&self) -> String {
        match (self, self.id()) {
            (Holder::Nobody, _) => "nothing".into(),
            (_, Some(id)) => id.to_owned(),
            (_, None) => "a target EC2 does not name".into(),
        }
    }

    /// Whether `instance_id` holds it.
    pub fn is(&self, instance_id: &str) -> bool {
        matches!(self, Holder::Member { instance_id: held } if held == instance_id)
    }
}

/// Works out who an endpoint points at from what EC2 said of it (DescribeAddresses for an Elastic
/// IP, a route's target, a private IP's interface), given the instances the mode keeps. EC2 names the network
/// interface for every VPC association and usually the instance too; the interface is matched
/// first, because an association made through an interface may come back without an instance id.
pub fn resolve_holder(instance_id: Option<&str>, network_interface_id: Option<&str>, members: &[Instance]) -> Holder {
    let instance_id = instance_id.filter(|s| !s.is_empty());
    let network_interface_id = network_interface_id.filter(|s| !s.is_empty());
    if let Some(eni) = network_interface_id {
        if let Some(m) = members.iter().find(|m| m.network_interface_id.as_deref() == Some(eni)) {
            return Holder::Member { instance_id: m.instance_id.clone() };
        }
    }
    if let Some(id) = instance_id {
        if let Some(m) = members.iter().find(|m| m.instance_id == id) {
            return Holder::Member { instance_id: m.instance_id.clone() };
        }
    }
    if instance_id.is_none() && network_interface_id.is_none() {
        Holder::Nobody
    } else {
        Holder::Outsider {
            instance_id: instance_id.map(str::to_owned),
            network_interface_id: network_interface_id.map(str::to_owned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::InstanceState;

    fn member(id: &str, eni: &str) -> Instance {
        Instance { network_interface_id: Some(eni.into()), ..Instance::new(id, InstanceState::Running) }
    }

    #[test]
    fn the_holder_is_found_by_interface_even_without_an_instance_id() {
        let members = [member("i-aaaaaaaa", "eni-a"), member("i-bbbbbbbb", "eni-b")];
        let cases: &[(Option<&str>, Option<&str>, Holder)] = &[
            (None, Some("eni-b"), Holder::Member { instance_id: "i-bbbbbbbb".into() }),
            (Some(""), Some("eni-a"), Holder::Member { instance_id: "i-aaaaaaaa".into() }),
            (Some("i-aaaaaaaa"), None, Holder::Member { instance_id: "i-aaaaaaaa".into() }),
            (None, None, Holder::Nobody),
            (Some(""), Some(""), Holder::Nobody),
            (
                Some("i-cccccccc"),
                Some("eni-c"),
                Holder::Outsider { instance_id: Some("i-cccccccc".into()), network_interface_id: Some("eni-c".into()) },
            ),
        ];
        for (instance, eni, expected) in cases {
            assert_eq!(&resolve_holder(*instance, *eni, &members), expected, "{instance:?} {eni:?}");
        }
    }

    #[test]
    fn an_unnamed_target_has_no_id_and_a_name_for_reasons() {
        let unnamed = Holder::Outsider { instance_id: None, network_interface_id: None };
        assert_eq!((unnamed.id(), unnamed.name().as_str()), (None, "a target EC2 does not name"));
        let nat = Holder::Outsider { instance_id: None, network_interface_id: Some("nat-1".into()) };
        assert_eq!((nat.id(), nat.name().as_str()), (Some("nat-1"), "nat-1"));
        assert_eq!((Holder::Nobody.id(), Holder::Nobody.name().as_str()), (None, "nothing"));
    }
}
