//! The anchor: the resource the pair's record lives on (the first endpoint's), read from the tags
//! the endpoints' reads returned, and written with one CreateTags per plan (EC2 refuses
//! simultaneous tag changes on one resource with ConcurrentTagAccess, which the SDK does not retry).

use aws_sdk_ec2::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ec2::Client;

use crate::aws::{aws_error, ec2_tag, tag};
use crate::decision::Status;
use crate::error::Error;
use crate::pair::config::Config;
use crate::pair::endpoint::Found;
use crate::pair::plan::Action;
use crate::pair::world::{Anchor, FailoverRecord, History, PauseNote, Phase};
use crate::tags;

/// The anchor as the endpoints' reads found it: who the deciding endpoint points at, and the
/// record, pause and service-check results its tags carry.
pub(super) fn read(config: &Config, found: &Found) -> Anchor {
    let anchor = config.anchor();
    let tags = found.tags.iter().find(|(id, _)| id == anchor).map_or(&[][..], |(_, t)| t.as_slice());
    let tag = |key: &str| tag(tags, key);
    Anchor {
        resource: anchor.to_owned(),
        public_ip: found.public_ip.clone(),
        holder: found.seen.first().map_or(crate::holder::Holder::Nobody, |e| e.holder.clone()),
        record: read_record(tag(tags::FROM), tag(tags::TO), tag(tags::AT), tag(tags::PHASE), config)
            .map(|r| FailoverRecord { cause: tag(tags::CAUSE).filter(|c| !c.is_empty()).map(str::to_owned), ..r }),
        pause: tag(tags::PAUSED).map(|reason| PauseNote {
            reason: reason.to_owned(),
            since: tag(tags::PAUSED_AT)
                .and_then(|at| DateTime::from_str(at, DateTimeFormat::DateTime).ok())
                .map(|t| t.secs()),
        }),
        health: tag(tags::HEALTH).and_then(History::parse),
    }
}

/// Reads the failover record from its tags. A record that is partial, unreadable or about other
/// instances (the pair was reconfigured) is no record.
pub fn read_record(
    from: Option<&str>,
    to: Option<&str>,
    at: Option<&str>,
    phase: Option<&str>,
    config: &Config,
) -> Option<FailoverRecord> {
    let (from, to) = (from?, to?);
    if from == to || !config.is_member(from) || !config.is_member(to) {
        return None;
    }
    let at = DateTime::from_str(at?, DateTimeFormat::DateTime).ok()?.secs();
    Some(FailoverRecord { from: from.into(), to: to.into(), at, phase: Phase::from_name(phase?)?, cause: None })
}

/// Whether an action changes the anchor's tags (the record, the health results, a pause, a resume).
pub(super) fn writes_anchor_tags(action: &Action) -> bool {
    matches!(action, Action::RecordFailover(_) | Action::RecordHealth(_) | Action::Pause { .. } | Action::Resume)
}

/// The anchor's tag changes of one plan, one request at a time: every tag written in one
/// CreateTags, then a resume's DeleteTags. A result per action, in their order.
pub(super) async fn write(client: &Client, config: &Config, actions: &[&Action]) -> Vec<Result<Status, Error>> {
    let mut written = Vec::new();
    for action in actions {
        written.extend(anchor_tags(action));
    }
    let created = match written.is_empty() {
        true => Ok(Status::Done),
        false => client
            .create_tags()
            .resources(config.anchor())
            .set_tags(Some(written))
            .send()
            .await
            .map(|_| Status::Done)
            .map_err(|e| aws_error("CreateTags", e)),
    };
    let mut results = Vec::with_capacity(actions.len());
    for action in actions {
        results.push(match (action, &created) {
            (Action::Resume, _) => resume(client, config).await,
            (_, Ok(status)) => Ok(*status),
            (_, Err(e)) => Err(same_error(e)),
        });
    }
    results
}

/// An error again, for each action a shared request failed.
fn same_error(e: &Error) -> Error {
    match e {
        Error::Aws { operation, code, message } => {
            Error::Aws { operation, code: code.clone(), message: message.clone() }
        }
        other => Error::Refused(other.to_string()),
    }
}

/// The tags an action writes on the anchor (none for the others).
fn anchor_tags(action: &Action) -> Vec<aws_sdk_ec2::types::Tag> {
    let time = |at: i64| DateTime::from_secs(at).fmt(DateTimeFormat::DateTime).unwrap_or_default();
    match action {
        Action::Pause { reason, at } => vec![ec2_tag(tags::PAUSED, reason), ec2_tag(tags::PAUSED_AT, &time(*at))],
        Action::RecordHealth(history) => vec![ec2_tag(tags::HEALTH, &history.to_tag())],
        Action::RecordFailover(record) => {
            let mut written = vec![
                ec2_tag(tags::FROM, &record.from),
                ec2_tag(tags::TO, &record.to),
                ec2_tag(tags::AT, &time(record.at)),
                ec2_tag(tags::PHASE, record.phase.name()),
            ];
            // Always written (empty for none), so that no older record's cause outlives it; at most
            // 256 characters, EC2's limit for a tag value (an alarm's name alone may take 255).
            let cause: String = record.cause.as_deref().unwrap_or_default().chars().take(256).collect();
            written.push(ec2_tag(tags::CAUSE, &cause));
            written
        }
        _ => Vec::new(),
    }
}

/// Ends a pause: DeleteTags with keys only deletes them whatever their values.
async fn resume(client: &Client, config: &Config) -> Result<Status, Error> {
    client
        .delete_tags()
        .resources(config.anchor())
        .tags(aws_sdk_ec2::types::Tag::builder().key(tags::PAUSED).build())
        .tags(aws_sdk_ec2::types::Tag::builder().key(tags::PAUSED_AT).build())
        .send()
        .await
        .map(|_| Status::Done)
        .map_err(|e| aws_error("DeleteTags", e))
}
