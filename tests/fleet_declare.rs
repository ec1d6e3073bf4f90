//! Which pairs a fleet's tags declare (pure): good fleets, and every way tags fail to make a pair,
//! each reported with why and left alone.

use ec2_failover::fleet::declare::{declare, setting_tag, Declared, Tagged};
use ec2_failover::pair::FenceMode;

fn tagged(id: &str, tags: &[(&str, &str)]) -> Tagged {
    Tagged { id: id.into(), tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), gone: false }
}

fn member(id: &str, pair: &str, role: &str) -> Tagged {
    tagged(id, &[("ec2-failover:pair", pair), ("ec2-failover:role", role), ("Name", "web")])
}

fn eip(id: &str, pair: &str) -> Tagged {
    tagged(id, &[("ec2-failover:pair", pair)])
}

const A1: &str = "i-0a0000000000000a1";
const A2: &str = "i-0a0000000000000a2";
const B1: &str = "i-0b0000000000000b1";
const B2: &str = "i-0b0000000000000b2";
const C1: &str = "i-0c0000000000000c1";
const C2: &str = "i-0c0000000000000c2";
const C3: &str = "i-0c0000000000000c3";
const EIP_A: &str = "eipalloc-0a0000000000000a1";
const EIP_B: &str = "eipalloc-0b0000000000000b1";
const EIP_C: &str = "eipalloc-0c0000000000000c1";

fn none(_: &str) -> Option<String> {
    None
}

fn why(declared: &[Declared], name: &str) -> String {
    match declared.iter().find(|d| d.name() == name) {
        Some(Declared::Broken { why, .. }) => why.clone(),
        other => panic!("{name} should be reported, not {other:?}"),
    }
}

#[test]
fn tagged_pairs_with_their_elastic_ips_are_declared_with_the_function_s_settings() {
    let instances = [
        member(A1, "a", "primary"),
        member(A2, "a", "standby"),
        member(B2, "b", "standby"),
        member(B1, "b", "primary"),
    ];
    let addresses = [eip(EIP_A, "a"), eip(EIP_B, "b"), tagged("eipalloc-0d0000000000000d1", &[("Name", "other")])];
    let defaults = |v: &str| (v == "COOLDOWN_SECONDS").then(|| "900".to_owned());
    let declared = declare(&instances, &addresses, &[], &defaults);
    let pairs: Vec<(&str, &str, &str, Option<&str>, u64)> = declared
        .iter()
        .map(|d| match d {
            Declared::Pair { name, config } => (
                name.as_str(),
                config.primary.as_str(),
                config.standby.as_str(),
                config.allocation_id.as_deref(),
                config.cooldown_seconds,
            ),
            broken => panic!("{broken:?}"),
        })
        .collect();
    assert_eq!(pairs, [("a", A1, A2, Some(EIP_A), 900), ("b", B1, B2, Some(EIP_B), 900)]);
}

#[test]
fn a_setting_tag_overrides_the_function_s_and_both_members_must_agree() {
    assert_eq!(setting_tag("COOLDOWN_SECONDS"), "ec2-failover:cooldown-seconds");
    let mut primary = member(A1, "a", "primary");
    primary.tags.push(("ec2-failover:fence-mode".into(), "none".into()));
    primary.tags.push(("ec2-failover:cooldown-seconds".into(), "60".into()));
    let mut standby = member(A2, "a", "standby");
    standby.tags.push(("ec2-failover:cooldown-seconds".into(), "60".into()));
    let defaults = |v: &str| (v == "FENCE_MODE").then(|| "force".to_owned());
    let declared = declare(&[primary.clone(), standby.clone()], &[eip(EIP_A, "a")], &[], &defaults);
    let Declared::Pair { config, .. } = &declared[0] else { panic!("{declared:?}") };
    assert_eq!((config.fence_mode, config.cooldown_seconds), (FenceMode::None, 60));

    standby.tags.retain(|(k, _)| k != "ec2-failover:cooldown-seconds");
    standby.tags.push(("ec2-failover:cooldown-seconds".into(), "120".into()));
    let declared = declare(&[primary.clone(), standby], &[eip(EIP_A, "a")], &[], &none);
    assert!(why(&declared, "a").contains("disagree on ec2-failover:cooldown-seconds"), "{declared:?}");

    // A bad value is named by its tag, as a bad variable is named by its name.
    primary.tags.push(("ec2-failover:standby-ready".into(), "soon".into()));
    let declared = declare(&[primary, member(A2, "a", "standby")], &[eip(EIP_A, "a")], &[], &none);
    assert!(why(&declared, "a").starts_with("ec2-failover:standby-ready=\"soon\""), "{declared:?}");
}

#[test]
#[rustfmt::skip]
fn tags_that_make_no_pair_are_reported_and_left_alone_while_the_rest_are_served() {
    let good = [member(A1, "a", "primary"), member(A2, "a", "standby")];
    let cases: Vec<(&str, Vec<Tagged>, Vec<Tagged>, &str)> = vec![
        ("one member", vec![member(C1, "c", "primary")], vec![eip(EIP_C, "c")], "1 instances carry it"),
        ("three members", vec![member(C1, "c", "primary"), member(C2, "c", "standby"), member(C3, "c", "standby")], vec![eip(EIP_C, "c")], "3 instances carry it"),
        ("two primaries", vec![member(C1, "c", "primary"), member(C2, "c", "primary")], vec![eip(EIP_C, "c")], "one primary and one standby"),
        ("a member without a role", vec![member(C1, "c", "primary"), tagged(C2, &[("ec2-failover:pair", "c")])], vec![eip(EIP_C, "c")], "has none"),
        ("two Elastic IPs", vec![member(C1, "c", "primary"), member(C2, "c", "standby")], vec![eip(EIP_C, "c"), eip("eipalloc-0c0000000000000c2", "c")], "2 Elastic IPs carry it"),
        ("no endpoint", vec![member(C1, "c", "primary"), member(C2, "c", "standby")], vec![], "no Elastic IP or route table"),
        ("an Elastic IP but no instance", vec![], vec![eip(EIP_C, "c")], "no instance carries it"),
    ];
    for (name, instances, addresses, expected) in cases {
        let instances: Vec<Tagged> = good.iter().cloned().chain(instances).collect();
        let addresses: Vec<Tagged> = [eip(EIP_A, "a")].into_iter().chain(addresses).collect();
        let declared = declare(&instances, &addresses, &[], &none);
        assert!(matches!(&declared[0], Declared::Pair { name, .. } if name == "a"), "{name}: the good pair is served: {declared:?}");
        let reason = why(&declared, "c");
        assert!(reason.contains(expected), "{name}: {reason}");
    }
}

#[test]
fn a_pair_reached_by_route_tables_takes_its_destinations_from_a_tag() {
    let mut primary = member(A1, "a", "primary");
    primary.tags.push(("ec2-failover:route-destinations".into(), "10.1.0.10/32".into()));
    let tables = [
        tagged("rtb-0a0000000000000a1", &[("ec2-failover:pair", "a")]),
        tagged("rtb-0a0000000000000a2", &[("ec2-failover:pair", "a")]),
    ];
    let declared = declare(&[primary, member(A2, "a", "standby")], &[], &tables, &none);
    let Declared::Pair { config, .. } = &declared[0] else { panic!("{declared:?}") };
    let routes: Vec<(&str, &str)> = config.routes.iter().map(|r| (r.table.as_str(), r.destination.as_str())).collect();
    assert_eq!(routes, [("rtb-0a0000000000000a1", "10.1.0.10/32"), ("rtb-0a0000000000000a2", "10.1.0.10/32")]);
    assert_eq!(config.allocation_id, None);
    // Without destinations the tables move nothing: reported.
    let declared = declare(&[member(A1, "a", "primary"), member(A2, "a", "standby")], &[], &tables, &none);
    assert!(why(&declared, "a").contains("ROUTE_DESTINATIONS"), "{declared:?}");
}

#[test]
fn a_terminated_member_stays_its_pair_s_until_another_takes_its_role() {
    let gone = |t: Tagged| Tagged { gone: true, ..t };
    // The primary was terminated: the pair is still a pair, and pair mode fails it over.
    let declared =
        declare(&[gone(member(A1, "a", "primary")), member(A2, "a", "standby")], &[eip(EIP_A, "a")], &[], &none);
    let Declared::Pair { config, .. } = &declared[0] else { panic!("{declared:?}") };
    assert_eq!((config.primary.as_str(), config.standby.as_str()), (A1, A2));
    // Replaced by a new primary: the new one is the member, the terminated one is not counted.
    let new = "i-0a0000000000000a3";
    let declared = declare(
        &[gone(member(A1, "a", "primary")), member(A2, "a", "standby"), member(new, "a", "primary")],
        &[eip(EIP_A, "a")],
        &[],
        &none,
    );
    let Declared::Pair { config, .. } = &declared[0] else { panic!("{declared:?}") };
    assert_eq!(config.primary, new);
}

#[test]
fn a_fleet_runs_no_service_check_and_its_record_table_is_always_the_same() {
    let mut primary = member(A1, "a", "primary");
    primary.tags.push(("ec2-failover:health-check".into(), "http:8080/health".into()));
    primary.tags.push(("ec2-failover:route-destinations".into(), "10.1.0.10/32".into()));
    let defaults = |v: &str| (v == "HEALTH_CHECK").then(|| "tcp:5432".to_owned());
    let tables = [
        tagged("rtb-0b0000000000000b1", &[("ec2-failover:pair", "a")]),
        tagged("rtb-0a0000000000000a1", &[("ec2-failover:pair", "a")]),
    ];
    let declared = declare(&[primary, member(A2, "a", "standby")], &[], &tables, &defaults);
    let Declared::Pair { config, .. } = &declared[0] else { panic!("{declared:?}") };
    assert_eq!(config.health, None, "outside any VPC a probe of a private address times out");
    assert_eq!(config.anchor(), "rtb-0a0000000000000a1", "the record's table, whatever EC2's order");
}
