//! AWS credentials for signing, fetched from the standard provider chain and kept until they near
//! their expiry, so a warm request signs without waiting on anything.

use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use thiserror::Error;

/// Credentials closer than this to their expiry are fetched again before signing.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The provider chain could not produce credentials. The text comes from the AWS SDK, which never
/// includes secret values in it.
#[derive(Debug, Error)]
#[error("no AWS credentials: {0}")]
pub struct CredentialsError(String);

/// A credentials provider with a cache in front of it.
#[derive(Debug)]
pub struct CredentialsCache {
    provider: SharedCredentialsProvider,
    cached: RwLock<Option<Credentials>>,
}

impl CredentialsCache {
    /// Wraps a provider. Nothing is fetched until the first [`Self::get`].
    pub fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: RwLock::new(None),
        }
    }

    /// Credentials valid for at least [`REFRESH_MARGIN`] after `now` (or with no expiry).
    ///
    /// # Errors
    /// A [`CredentialsError`] when the provider fails.
    pub async fn get(&self, now: SystemTime) -> Result<Credentials, CredentialsError> {
        if let Some(credentials) = self.fresh(now) {
            return Ok(credentials);
        }
        let credentials = self
            .provider
            .provide_credentials()
            .await
            .map_err(|e| CredentialsError(e.to_string()))?;
        if let Ok(mut cached) = self.cached.write() {
            *cached = Some(credentials.clone());
        }
        Ok(credentials)
    }

    fn fresh(&self, now: SystemTime) -> Option<Credentials> {
        let cached = self.cached.read().ok()?;
        let credentials = cached.as_ref()?;
        let fresh = credentials
            .expiry()
            .is_none_or(|expiry| expiry > now + REFRESH_MARGIN);
        fresh.then(|| credentials.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_credential_types::provider::future;

    use super::*;

    #[derive(Debug)]
    struct CountingProvider {
        calls: Arc<AtomicUsize>,
        lifetime: Duration,
        start: SystemTime,
    }

    impl ProvideCredentials for CountingProvider {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let expiry = self.start + self.lifetime * (n as u32 + 1);
            future::ProvideCredentials::ready(Ok(Credentials::new(
                format!("AKID{n}"),
                "secret",
                None,
                Some(expiry),
                "test",
            )))
        }
    }

    #[tokio::test]
    async fn credentials_are_reused_until_they_near_expiry() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let calls = Arc::new(AtomicUsize::new(0));
        let cache = CredentialsCache::new(SharedCredentialsProvider::new(CountingProvider {
            calls: calls.clone(),
            lifetime: Duration::from_secs(3600),
            start,
        }));

        let first = cache.get(start).await.unwrap();
        let again = cache.get(start + Duration::from_secs(3000)).await.unwrap();
        assert_eq!(first.access_key_id(), again.access_key_id());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // 4 minutes before expiry is inside the refresh margin.
        let near_expiry = start + Duration::from_secs(3600 - 240);
        let renewed = cache.get(near_expiry).await.unwrap();
        assert_eq!(renewed.access_key_id(), "AKID1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
