//! The AWS Lambda entry point (`provided.al2023` runtimes run a binary named `bootstrap`). It only
//! wires the service into `lambda_runtime`; everything else lives in the library.

use std::sync::Arc;

use ddn_presign::PresignService;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ddn_presign::logging::init_json();
    let service = match PresignService::from_env().await {
        Ok(service) => Arc::new(service),
        Err(error) => {
            tracing::error!(%error, "the function cannot start");
            return Err(error.into());
        }
    };
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let service = Arc::clone(&service);
        async move {
            let response = service
                .handle_event(event.payload, &event.context.request_id)
                .await;
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}
