//! Each failover, refusal and hold also goes out as an EventBridge event (`EVENT_BUS`, the
//! account's `default` bus in the templates): `source` `ec2-failover`, `detail-type` the verdict
//! (`fail_over`, `refuse`...), `detail` the decision line itself. A central account collects them
//! with a cross-account rule; a user's rule reacts (updates DNS, pages, opens a ticket).
//!
//! Best effort, after the decision line is written: the decision is made and carried out whatever
//! EventBridge answers, and a failed publication is a warning line, never the invocation's error.
//! A dry run publishes nothing (it changed nothing).

use crate::decision::Verdict;

/// The event's `source`: custom sources may not start with `aws.` (EventBridge API reference,
/// PutEventsRequestEntry).
pub const SOURCE: &str = "ec2-failover";

/// The verdicts published: what a person or a system may act on. The rest (`no_change`, `wait`,
/// `status`...) stays in the log.
pub fn published(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::FailOver
            | Verdict::Finish
            | Verdict::Switchover
            | Verdict::Follow
            | Verdict::Heal
            | Verdict::Refuse
            | Verdict::Abandon
            | Verdict::Hold
    )
}

/// Publishes decision lines on one event bus.
#[derive(Clone, Debug)]
pub struct Publisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl Publisher {
    /// A publisher on `bus` (a name, `default`, or an event bus ARN).
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        Self { client, bus }
    }

    /// Sends one decision line, if its verdict is one of [`published`]. An event larger than
    /// PutEvents takes (256 KB for the whole request) or a refusal is logged and dropped.
    pub async fn publish(&self, verdict: Verdict, line: &str) {
        if !published(verdict) {
            return;
        }
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(verdict.name())
            .detail(line)
            .build();
        match self.client.put_events().entries(entry).send().await {
            Ok(out) if out.failed_entry_count() == 0 => {}
            Ok(out) => {
                let why = out.entries().iter().find_map(|e| e.error_message()).unwrap_or("no reason given");
                tracing::warn!(bus = %self.bus, verdict = verdict.name(), why = %why, "EventBridge refused the decision event");
            }
            Err(e) => {
                let e = aws_sdk_eventbridge::error::DisplayErrorContext(e);
                tracing::warn!(bus = %self.bus, verdict = verdict.name(), error = %e, "could not publish the decision event");
            }
        }
    }
}
