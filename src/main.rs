//! The Lambda entry point: wiring only. Logging, configuration and the EC2 client are set up once
//! at init, then lent to every invocation.

use aws_config::BehaviorVersion;
use ec2_failover::aws::{retry_config, timeout_config};
use ec2_failover::config::{data_settings_from_lookup, dry_run_from_lookup, ConfigError, Mode};
use ec2_failover::group::{Clients, DataSettings, GroupHandler};
use ec2_failover::pair::{Config, Handler};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    // A bad configuration ends init with a message that names the variable; Lambda reports it as
    // an init error on the first invocation.
    let bad = |e: &ConfigError| tracing::error!(error = %e, "bad configuration");
    let mode = Mode::from_env().inspect_err(bad)?;
    let lookup = |name: &str| std::env::var(name).ok();
    let (pair, data) = match mode {
        Mode::Pair => (Some(Config::from_env().inspect_err(bad)?), DataSettings::default()),
        Mode::Group => (None, data_settings_from_lookup(lookup).inspect_err(bad)?),
    };
    let dry_run = dry_run_from_lookup(lookup).inspect_err(bad)?;
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config);
    match pair {
        Some(config) => {
            let handler = Handler::new(config, ec2);
            let handler = &handler;
            lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
                handler.handle(&event.payload).await.map_err(Diagnostic::from)
            }))
            .await
        }
        None => {
            let clients = Clients { ec2, autoscaling: aws_sdk_autoscaling::Client::new(&sdk_config) };
            let mut handler = GroupHandler::new(clients, dry_run);
            handler.settings = data;
            let handler = &handler;
            lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
                handler.handle(&event.payload).await.map_err(Diagnostic::from)
            }))
            .await
        }
    }
}

/// Logs to stdout as Lambda expects: JSON with every field at the top level when
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, text otherwise; the level comes from `AWS_LAMBDA_LOG_LEVEL`,
/// then `RUST_LOG`, then INFO.
fn init_logging() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let builder = tracing_subscriber::fmt().with_max_level(level).with_target(false).without_time();
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).with_current_span(false).init();
    } else {
        builder.init();
    }
}
