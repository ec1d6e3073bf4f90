//! The Lambda entry point: wiring only. Logging, the settings and the AWS clients are set up once
//! at init, then lent to every invocation through one handler.

// The handler's future nests the frame, the mode and the SDK's calls deeper than the default limit of
// rustc's layout queries (a compile-time limit only).
#![recursion_limit = "256"]

use aws_config::BehaviorVersion;
use ec2_failover::aws::{retry_config, timeout_config};
use ec2_failover::config::Settings;
use ec2_failover::handler::Handler;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logging();
    // A bad configuration ends init with a message that names the variable; Lambda reports it as
    // an init error on the first invocation.
    let settings = Settings::from_env().inspect_err(|e| tracing::error!(error = %e, "bad configuration"))?;
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await;
    let handler = Handler::new(settings, &sdk_config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let function_arn = Some(event.context.invoked_function_arn.as_str()).filter(|arn| !arn.is_empty());
        handler.handle(&event.payload, function_arn).await.map_err(Diagnostic::from)
    }))
    .await
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
