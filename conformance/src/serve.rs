//! `fabric serve storage`: the storage service on its own, for SDKs and
//! other clients to use.

use anyhow::{Context, Result};
use fabric_impl::secret::SecretBytes;
use fabric_impl::storage::auth::KeySlot;
use fabric_impl::storage::http::StorageServer;
use fabric_impl::storage::service::{AccountSpec, ServiceConfig, StorageService};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What `fabric serve storage` was asked for.
#[derive(Clone, Debug)]
pub struct ServeStorage {
    /// Where to listen.
    pub listen: String,
    /// Where the replicas live.
    pub data: PathBuf,
    /// `NAME:BASE64KEY[@LOCATION]`, repeatable; the emulator's account when empty.
    pub accounts: Vec<String>,
    /// The subscription credential for key changes (random when absent).
    pub subscription_token: Option<String>,
    /// Stop after this many seconds.
    pub for_secs: Option<u64>,
}

/// A random credential, printable.
pub fn random_token() -> String {
    (0..2)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect()
}

/// Builds the service from the command line's settings.
pub fn open_service(
    data: PathBuf,
    accounts: &[String],
    subscription_token: &str,
) -> Result<StorageService> {
    let specs = accounts
        .iter()
        .map(|text| AccountSpec::parse(text).map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()
        .context("bad --account")?;
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data folder {}", data.display()))?;
    let config = ServiceConfig::new(
        data.clone(),
        specs,
        SecretBytes::new(subscription_token.as_bytes().to_vec()),
    );
    StorageService::open(config)
        .with_context(|| format!("cannot open the storage service in {}", data.display()))
}

/// The connection string a client uses for `account` (path-style, as the
/// Azure SDKs use with a local `BlobEndpoint`).
pub fn connection_string(
    service: &StorageService,
    account: &str,
    endpoint: &str,
) -> Option<String> {
    use base64::Engine as _;
    let key = service.account_key(account, KeySlot::Primary)?;
    let key = base64::engine::general_purpose::STANDARD.encode(key.expose());
    Some(format!(
        "DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};BlobEndpoint={endpoint}/{account};"
    ))
}

/// Writes to `out` what a client needs to reach `service` at `endpoint`.
pub fn print_endpoints(
    out: &mut dyn Write,
    service: &StorageService,
    endpoint: &str,
    token: &str,
) -> std::io::Result<()> {
    for account in service.account_names() {
        let placement = service
            .replica_placement(&account)
            .unwrap_or_default()
            .into_iter()
            .map(|(node, location)| format!("{node} ({location})"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(out, "account {account}: replicas on {placement}")?;
        if let Some(text) = connection_string(service, &account, endpoint) {
            writeln!(out, "  connection string: {text}")?;
        }
    }
    writeln!(
        out,
        "key changes (STO-8): POST {endpoint}/.management/accounts/ACCOUNT/regenerateKey \
         with body {{\"keyName\":\"key1\"}} and header Authorization: Bearer {token}"
    )
}

/// Runs `fabric serve storage`.
pub fn run(options: ServeStorage) -> Result<i32> {
    let token = options
        .subscription_token
        .clone()
        .unwrap_or_else(random_token);
    let service = Arc::new(open_service(
        options.data.clone(),
        &options.accounts,
        &token,
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let server = StorageServer::start(listener, Arc::clone(&service))
            .context("cannot start the HTTP server")?;
        let endpoint = format!("http://{}", server.local_addr);
        let mut out = std::io::stdout();
        let printed = writeln!(
            out,
            "fabric storage listening on {endpoint}, data in {}",
            options.data.display()
        )
        .and_then(|()| print_endpoints(&mut out, &service, &endpoint, &token));
        let waited = match (printed, options.for_secs) {
            // Standard output is gone (a closed pipe): stop cleanly.
            (Err(e), _) => Err(e.into()),
            (Ok(()), Some(secs)) => {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Ok(())
            }
            (Ok(()), None) => match writeln!(out, "running; press Ctrl-C to stop") {
                Err(e) => Err(e.into()),
                Ok(()) => tokio::signal::ctrl_c()
                    .await
                    .context("cannot wait for Ctrl-C"),
            },
        };
        server.shutdown().await;
        waited?;
        writeln!(out, "fabric storage stopped")?;
        anyhow::Ok(())
    })?;
    Ok(0)
}
