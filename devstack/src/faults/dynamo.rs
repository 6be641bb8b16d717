//! DynamoDB faults on the SDK backend: an interceptor on the devstack's DynamoDB client. A
//! faulted call is rewritten into a harmless `ListTables` before it is signed, so nothing is
//! applied, and its response is replaced by the error DynamoDB would send. The SDK then treats
//! it exactly as a real throttle or cancelled transaction (retries included).

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use super::{DynamoFault, Fault, Faults};

const TARGET: &str = "x-amz-target";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// The fault chosen for the current try of a call, between signing and deserializing.
#[derive(Debug, Clone)]
struct Chosen(Option<DynamoFault>);

impl Storable for Chosen {
    type Storer = StoreReplace<Self>;
}

/// Fires `Fault::Dynamo` faults on the calls they name.
#[derive(Debug)]
pub(crate) struct DynamoFaults {
    faults: Arc<Faults>,
}

impl DynamoFaults {
    pub(crate) fn new(faults: Arc<Faults>) -> Self {
        Self { faults }
    }

    fn choose(&self, operation: &str) -> Option<DynamoFault> {
        let fired = self.faults.fire(|f| match f {
            Fault::Dynamo { error, operation: only, .. } => {
                only.as_deref().is_none_or(|o| o == operation)
                    && (*error != DynamoFault::TransactionCanceled || operation == "TransactWriteItems")
            }
            _ => false,
        });
        match fired {
            Some(Fault::Dynamo { error, .. }) => Some(error),
            _ => None,
        }
    }
}

impl Intercept for DynamoFaults {
    fn name(&self) -> &'static str {
        "StarlingDevstackDynamoFaults"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let operation = request.headers().get(TARGET).and_then(|t| t.strip_prefix(TARGET_PREFIX)).unwrap_or_default();
        let chosen = self.choose(operation);
        if chosen.is_some() {
            let body = r#"{"Limit":1}"#;
            request.headers_mut().insert(TARGET, format!("{TARGET_PREFIX}ListTables"));
            request.headers_mut().insert("content-length", body.len().to_string());
            *request.body_mut() = SdkBody::from(body);
        }
        cfg.interceptor_state().store_put(Chosen(chosen));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Chosen(Some(error))) = cfg.load::<Chosen>().cloned() else { return Ok(()) };
        *context.response_mut() = error_response(error)?;
        Ok(())
    }
}

/// The response DynamoDB sends for `error`.
fn error_response(error: DynamoFault) -> Result<Response, BoxError> {
    let body = match error {
        DynamoFault::Throttling => serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput for the table was exceeded (injected by the devstack)",
        }),
        DynamoFault::TransactionCanceled => serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict] (injected by the devstack)",
            "CancellationReasons": [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}],
        }),
    };
    let mut response = Response::new(StatusCode::try_from(400)?, SdkBody::from(body.to_string()));
    response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    Ok(response)
}
