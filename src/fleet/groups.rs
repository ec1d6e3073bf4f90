//! The fleet's groups: with `SERVE_GROUPS` the fleet's function serves the region's tagged
//! single-instance Auto Scaling groups as group mode does, inside the fleet's turn (one writer per
//! pair and per group). A lifecycle action or an EBS notification goes to group mode's decision as
//! it is; the reconcile sweeps the groups while it reconciles the pairs, and the status of all
//! lists both; each summary line says both.

use super::{FleetAction, FleetObserved, FleetSeen, Handler};
use crate::decision::{sweep_rank, Decision, Outcome, Report, Verdict};
use crate::error::Error;
use crate::group::{self, plan::GroupAction, GroupObserved};
use crate::invocation::{failure, Decided, Mode, Unread};
use crate::record::Scope;
use crate::trigger::{Command, Trigger};

/// Group mode's decision as the fleet's: the same decision, world and summary.
pub(super) fn lift(decided: Decided<GroupObserved, GroupAction>) -> Decided<FleetObserved, FleetAction> {
    match decided {
        Decided::One { decision, observed } => {
            Decided::One { decision: lift_decision(decision), observed: observed.map(FleetObserved::Group) }
        }
        Decided::Sweep { outcome, error } => {
            let Outcome { verdict, reason, dry_run, trigger, observed, actions } = outcome;
            let outcome = Outcome {
                verdict,
                reason,
                dry_run,
                trigger,
                observed: observed.map(FleetObserved::Group),
                actions: actions.into_iter().map(lift_report).collect(),
            };
            Decided::Sweep { outcome, error }
        }
    }
}

fn lift_decision(decision: Decision<GroupAction>) -> Decision<FleetAction> {
    let Decision { verdict, reason, actions, .. } = decision;
    Decision::new(verdict, reason, actions.into_iter().map(FleetAction::Group).collect())
}

fn lift_report(report: Report<GroupAction>) -> Report<FleetAction> {
    Report { action: FleetAction::Group(report.action), status: report.status, error: report.error }
}

/// Carries out one group's actions as group mode does.
pub(super) async fn execute(
    groups: Option<&group::Handler>,
    actions: &[FleetAction],
) -> (Vec<Report<FleetAction>>, Option<Error>) {
    let inner: Vec<GroupAction> = actions
        .iter()
        .filter_map(|a| match a {
            FleetAction::Group(a) => Some(a.clone()),
            FleetAction::Pair(_) => None,
        })
        .collect();
    let Some(groups) = groups else {
        // Never reached: only a fleet that serves groups decides group actions.
        return (Vec::new(), Some(Error::Refused("this fleet serves no groups".into())));
    };
    let (reports, error) = Box::pin(groups.execute(&inner)).await;
    (reports.into_iter().map(lift_report).collect(), error)
}

impl Handler {
    /// A trigger about everything (the reconcile, the status of all, a zonal shift): the pairs'
    /// sweep and, when the fleet serves groups, group mode's decision on the same trigger (a sweep
    /// of the held lifecycle actions and the settled groups, or their status), at once; one summary.
    pub(super) async fn everything(
        &self,
        trigger: &Trigger,
        function_arn: Option<&str>,
    ) -> Result<Decided<FleetObserved, FleetAction>, Unread> {
        let groups = async {
            match &self.groups {
                Some(groups) => Some(Box::pin(groups.decide(trigger, None)).await),
                None => None,
            }
        };
        let (pairs, groups) = tokio::join!(Box::pin(self.sweep(trigger, function_arn)), groups);
        let Some(groups) = groups else { return pairs };
        let (mut outcome, mut error) = match pairs {
            Ok(Decided::Sweep { outcome, error }) => (outcome, error),
            Ok(one) => return Ok(one),
            // The pairs could not be read, the groups were served: their summary still goes out,
            // with the pairs' failure as a part of its own, and the invocation fails with it.
            Err(Unread { error, what }) => {
                self.frame.observe_failed(Scope::Part, &error, trigger, what);
                let seen = FleetSeen { pairs: Vec::new(), broken: Vec::new(), skipped: Vec::new(), groups: None };
                let outcome = Outcome {
                    verdict: Verdict::ObserveFailed,
                    reason: format!("could not read {what}: {error}"),
                    dry_run: self.frame.dry_run,
                    trigger: trigger.clone(),
                    observed: Some(FleetObserved::Fleet(seen)),
                    actions: Vec::new(),
                };
                (outcome, Some(error))
            }
        };
        let status = *trigger == Trigger::Command(Command::Status);
        let (verdict, reason, observed, reports, group_error) = match groups {
            Err(Unread { error, what }) => {
                self.frame.observe_failed(Scope::Part, &error, trigger, what);
                (Verdict::ObserveFailed, format!("could not read {what}: {error}"), None, Vec::new(), Some(error))
            }
            Ok(Decided::Sweep { outcome, error }) => {
                (outcome.verdict, outcome.reason, outcome.observed, outcome.actions, error)
            }
            // A zonal shift: group mode leaves it to Auto Scaling; nothing to add.
            Ok(Decided::One { decision, .. }) if decision.verdict == Verdict::Ignore => {
                return Ok(Decided::Sweep { outcome, error });
            }
            // The status of the groups: no actions.
            Ok(Decided::One { decision, observed }) => {
                let group::plan::Decision { verdict, reason, actions, .. } = decision;
                let reports: Vec<Report<GroupAction>> = actions.iter().map(Report::skipped).collect();
                let error = failure(verdict, &reason, None);
                (verdict, reason, observed, reports, error)
            }
        };
        outcome.reason.push_str(&format!("; groups: {reason}"));
        if !status {
            outcome.verdict = [outcome.verdict, verdict].into_iter().max_by_key(|v| sweep_rank(*v)).unwrap_or(verdict);
        }
        outcome.actions.extend(reports.into_iter().map(lift_report));
        if let Some(FleetObserved::Fleet(FleetSeen { groups, .. })) = &mut outcome.observed {
            *groups = observed;
        }
        if let Some(group_error) = group_error {
            error.get_or_insert(group_error);
        }
        Ok(Decided::Sweep { outcome, error })
    }
}
