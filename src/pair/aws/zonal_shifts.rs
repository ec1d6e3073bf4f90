//! Route 53 ARC: the zonal shifts (a customer's, a practice run's, an experiment's) and the
//! autoshifts active now, each naming the Availability Zone traffic is moved away from by its ID
//! (`use1-az1`); DescribeAvailabilityZones maps IDs to this account's zone names, which never
//! change for an account, so the map is read once per execution environment. The shifts themselves
//! are read on every invocation (ARC API Reference, ListZonalShifts and ListAutoshifts, `status`
//! ACTIVE). A read that fails holds nothing back: the decision says so, and the next invocation
//! reads again.

use aws_sdk_arczonalshift::types::{AutoshiftExecutionStatus, ShiftType, ZonalShiftStatus};
use aws_sdk_arczonalshift::Client;
use tokio::sync::OnceCell;

use crate::aws::aws_error;
use crate::error::Error;
use crate::pair::config::{Config, ZonalShift};
use crate::pair::world::{ShiftKind, ZoneShift};

/// Zone IDs and their names in this account, read once.
pub type ZoneNames = OnceCell<Vec<(String, String)>>;

/// The shifts active now, and why they could not be read, if they could not; nothing with
/// `ZONAL_SHIFT=off`.
pub(super) async fn read(
    arc: &Client,
    ec2: &aws_sdk_ec2::Client,
    names: &ZoneNames,
    config: &Config,
) -> (Vec<ZoneShift>, Option<String>) {
    if config.zonal_shift == ZonalShift::Off {
        return (Vec::new(), None);
    }
    match read_all(arc, ec2, names).await {
        Ok(shifts) => (shifts, None),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the zonal shifts; nothing is held back for them");
            (Vec::new(), Some(e.to_string()))
        }
    }
}

async fn read_all(arc: &Client, ec2: &aws_sdk_ec2::Client, names: &ZoneNames) -> Result<Vec<ZoneShift>, Error> {
    let shifts = arc.list_zonal_shifts().status(ZonalShiftStatus::Active).into_paginator().send().collect::<Vec<_>>();
    let autoshifts =
        arc.list_autoshifts().status(AutoshiftExecutionStatus::Active).into_paginator().send().collect::<Vec<_>>();
    let zones = names.get_or_try_init(|| async {
        let zones =
            ec2.describe_availability_zones().send().await.map_err(|e| aws_error("DescribeAvailabilityZones", e))?;
        Ok::<_, Error>(
            zones
                .availability_zones()
                .iter()
                .filter_map(|z| Some((z.zone_id()?.to_owned(), z.zone_name()?.to_owned())))
                .collect(),
        )
    });
    let (shifts, autoshifts, zones) = tokio::join!(shifts, autoshifts, zones);
    let zones = zones?;
    let name = |id: &str| zones.iter().find(|(z, _)| z == id).map(|(_, name)| name.clone());
    let mut found = Vec::new();
    for page in shifts {
        for s in page.map_err(|e| aws_error("ListZonalShifts", e))?.items() {
            let kind = match s.shift_type() {
                Some(ShiftType::PracticeRun) => ShiftKind::PracticeRun,
                Some(ShiftType::FisExperiment) => ShiftKind::Experiment,
                Some(ShiftType::ZonalAutoshift) => ShiftKind::Autoshift,
                _ => ShiftKind::Customer,
            };
            found.push(ZoneShift {
                zone_id: s.away_from().to_owned(),
                zone: name(s.away_from()),
                kind,
                id: s.zonal_shift_id().to_owned(),
                resource: Some(s.resource_identifier().to_owned()),
            });
        }
    }
    for page in autoshifts {
        for s in page.map_err(|e| aws_error("ListAutoshifts", e))?.items() {
            found.push(ZoneShift {
                zone_id: s.away_from().to_owned(),
                zone: name(s.away_from()),
                kind: ShiftKind::Autoshift,
                id: format!("started {}", s.start_time().secs()),
                resource: None,
            });
        }
    }
    Ok(found)
}
