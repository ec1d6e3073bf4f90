//! Benchmark floor: a lambda_runtime function that echoes its event, built with the project's
//! release profile. Its cold start is the least any Rust function on this runtime can do.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
