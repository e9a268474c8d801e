//! The in-process S3-compatible server: `s3s-fs` behind SigV4 authentication with the stack's own
//! credentials, served over HTTP/1.1 on loopback by the shared connection loop.

use std::future::Future;
use std::path::Path;

use aws_credential_types::Credentials;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::net::TcpListener;

use crate::StartError;

/// Builds the S3 service storing objects under `root` (one folder per bucket).
pub(crate) fn build(root: &Path, credentials: &Credentials) -> Result<S3Service, StartError> {
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| StartError::S3(format!("{e:?}")))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        credentials.access_key_id(),
        credentials.secret_access_key(),
    ));
    Ok(builder.build())
}

/// Serves until `shutdown` resolves, then gives open transfers a few seconds to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    service: S3Service,
    shutdown: impl Future<Output = ()>,
) {
    ddn_presign::http_server::serve_connections(listener, shutdown, move || service.clone()).await;
}
