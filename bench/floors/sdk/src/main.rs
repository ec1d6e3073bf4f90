//! Benchmark floor: the echo function plus what every AWS-calling function does at init, loading
//! the shared AWS config and building an EC2 client. The function's own init is compared to this.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_ec2::Client::new(&config);
    let client = &client;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let _ = client;
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
