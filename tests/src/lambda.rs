//! The third end-to-end mode, [`Kind::Lambda`](crate::Kind::Lambda): the devstack's gateway
//! and event source mapping in front of the five real bootstraps, each under AWS's Runtime
//! Interface Emulator against moto enforcing its IAM policy (`scripts/lambdas.sh`).
//!
//! The bootstraps are started once, with their environment fixed: one table and queue, and
//! `STARLING_WS_ENDPOINT` at one port. So every Lambda-mode devstack listens on that port over
//! those resources, one test at a time ([`turn`]); each emulator serves one invocation at a time,
//! so the devstack invokes each function one at a time (`--function-concurrency 1`).
//! `scripts/lambdas.sh --env-file F` writes what this reads: `STARLING_LAMBDAS_ENV=F`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

use anyhow::{Context as _, anyhow, bail, ensure};
use starling_devstack::{AwsBackend, Backend, Config, FunctionFlag, Functions, LambdaFunctions, Role};
use tokio::sync::{Mutex, MutexGuard};

/// What `scripts/lambdas.sh --env-file` wrote: where each function and moto are.
#[derive(Debug)]
struct Lambdas {
    vars: HashMap<String, String>,
}

impl Lambdas {
    fn var(&self, name: &str) -> anyhow::Result<&str> {
        self.vars.get(name).map(String::as_str).with_context(|| format!("STARLING_LAMBDAS_ENV has no {name}"))
    }
}

fn lambdas() -> anyhow::Result<&'static Lambdas> {
    static LAMBDAS: OnceLock<Result<Lambdas, String>> = OnceLock::new();
    LAMBDAS.get_or_init(|| read().map_err(|e| format!("{e:#}"))).as_ref().map_err(|e| anyhow!("{e}"))
}

fn read() -> anyhow::Result<Lambdas> {
    let path = std::env::var_os("STARLING_LAMBDAS_ENV").ok_or_else(|| {
        anyhow!(
            "STARLING_LAMBDAS_ENV is not set: the bootstraps variant of an e2e test runs the real bootstraps \
             (scripts/lambdas.sh --ws-endpoint http://127.0.0.1:PORT/local --jwt-secret e2e-secret \
             --param RateLimit=10000 --env-file F, then STARLING_LAMBDAS_ENV=F with AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY set to moto's administrator key from F; scripts/test.sh does it). It \
             fails rather than skips."
        )
    })?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.to_string_lossy()))?;
    let vars = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Lambdas { vars })
}

/// One Lambda-mode test at a time: they share the port and resources the bootstraps were
/// started with. Held for the whole test.
pub async fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

/// Points `c` at the bootstraps: their port, moto, table and queue, and each function's emulator.
pub(crate) fn configure(c: &mut Config) -> anyhow::Result<()> {
    let l = lambdas()?;
    let admin = l.var("STARLING_MOTO_ADMIN_ACCESS_KEY_ID")?;
    ensure!(
        std::env::var("AWS_ACCESS_KEY_ID").is_ok_and(|k| k == admin),
        "the Lambda-mode devstack reads and writes moto as its administrator: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY to STARLING_MOTO_ADMIN_ACCESS_KEY_ID and _SECRET_ACCESS_KEY of STARLING_LAMBDAS_ENV"
    );
    let ws: reqwest::Url = l.var("STARLING_WS_ENDPOINT")?.parse().context("STARLING_WS_ENDPOINT")?;
    c.port = ws.port().context("STARLING_WS_ENDPOINT has no port")?;
    c.stage = ws.path().trim_matches('/').to_owned();
    let queue_url = l.var("STARLING_QUEUE_URL")?;
    let queue = queue_url.rsplit('/').next().and_then(|q| q.strip_suffix(".fifo")).context("STARLING_QUEUE_URL")?;
    c.backend = Backend::Aws(AwsBackend {
        endpoint_url: Some(l.var("STARLING_MOTO_ENDPOINT")?.to_owned()),
        table: l.var("STARLING_TABLE")?.to_owned(),
        queue: queue.to_owned(),
        export_stream: None,
    });
    // The queue's own settings (scripts/lambdas/stack.py creates it as the devstack would).
    c.mapping.visibility_timeout = starling_devstack::MappingSettings::default().visibility_timeout;
    c.mapping.max_receive_count = starling_devstack::MappingSettings::default().max_receive_count;
    let mut flags = Vec::new();
    for role in Role::ALL {
        let url = l.var(&format!("STARLING_LAMBDA_URL_{}", role.to_string().to_uppercase()))?;
        let base = url.split("/2015-03-31/").next().unwrap_or(url);
        flags.push(format!("{role}=function@{base}").parse::<FunctionFlag>()?);
    }
    let functions = LambdaFunctions::from_flags(None, &flags)?.with_concurrency(NonZeroUsize::new(1));
    c.functions = Functions::Lambda(functions);
    Ok(())
}

/// Each Lambda-mode test starts from nothing, as a test on moto does with a table and queue of
/// its own (the tests reuse names such as `alice` and `lobby`): the queues purged and the table
/// emptied. First the long polls of an earlier test's devstack, dropped without a shutdown, run
/// out: one still open on moto would take a message of this test and hide it for the queue's
/// visibility timeout.
pub(crate) async fn fresh_start(c: &Config) -> anyhow::Result<()> {
    let Backend::Aws(aws) = &c.backend else { bail!("a Lambda-mode devstack runs on moto") };
    let sdk = starling_devstack::sdk_config(aws.endpoint_url.as_deref()).await;
    tokio::time::sleep(starling_devstack::LONG_POLL + std::time::Duration::from_millis(500)).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let l = lambdas()?;
    for queue in [l.var("STARLING_QUEUE_URL")?, l.var("STARLING_DLQ_URL")?, l.var("STARLING_DELIVER_QUEUE_URL")?] {
        sqs.purge_queue().queue_url(queue).send().await.with_context(|| format!("purging {queue}"))?;
    }
    empty_table(&aws_sdk_dynamodb::Client::new(&sdk), &aws.table).await
}

async fn empty_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    let mut keys = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .projection_expression("pk, sk")
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("scanning the bootstraps' table")?;
        keys.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    for chunk in keys.chunks(25) {
        let requests = chunk
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder().set_key(Some(key.clone())).build()?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()?;
        let mut pending = Some(HashMap::from([(table.to_owned(), requests)]));
        while let Some(items) = pending.take().filter(|p| p.values().any(|v| !v.is_empty())) {
            let out =
                ddb.batch_write_item().set_request_items(Some(items)).send().await.context("emptying the table")?;
            pending = out.unprocessed_items;
        }
    }
    Ok(())
}

/// Fails when `tweak` changed what only the bootstraps' environment decides: in Lambda mode the
/// change would silently not happen, and the test would prove nothing.
pub(crate) fn check_tweak(before: &Config, after: &Config) -> anyhow::Result<()> {
    if before.action_limits != after.action_limits
        || before.fanout != after.fanout
        || before.jwt_secret != after.jwt_secret
    {
        bail!(
            "this test changes the functions' settings (action limits, fanout settings or the JWT secret), which in \
             Lambda mode come from the bootstraps' environment: run it on memory and moto only"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tweak_of_what_only_the_functions_environment_decides_is_refused() {
        let base = Config::default();
        assert!(check_tweak(&base, &base.clone()).is_ok());
        let mut limits = base.clone();
        limits.action_limits.rate_limit += 1;
        assert!(check_tweak(&base, &limits).is_err());
        let mut fanout = base.clone();
        fanout.fanout.retention_secs += 1;
        assert!(check_tweak(&base, &fanout).is_err());
        let mut gateway = base.clone();
        gateway.limits.idle_timeout *= 2;
        assert!(check_tweak(&base, &gateway).is_ok(), "the gateway is the devstack's own in every mode");
    }
}
