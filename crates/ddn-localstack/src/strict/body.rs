//! A part's body on its way to s3s-fs: digested as it streams (the part is never held whole),
//! checked against what the request claims once the last byte and the trailers are in, and held
//! at its end until the upload's finishing lock is free.
//!
//! A mismatch ends the stream with an error instead of its end, so s3s-fs drops its temporary file
//! and stores nothing: S3 refuses such a part without keeping it, and a good part stored earlier
//! under the same number stays. A match takes the upload's finishing lock before s3s-fs sees the
//! end, so the part's file moves into place and is recorded while no other part of the upload
//! finishes and no completion or abort runs: what the records say is what the files hold. The lock
//! is taken only once the body is whole, so a stalled client never holds it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use s3s::dto::{StreamingBlob, UploadPartInput};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Error, S3Result, StdError, TrailingHeaders, s3_error};
use tokio::sync::OwnedMutexGuard;

use super::checksums::{self, Algorithm, Hasher, Sums};

/// What a part's request says its bytes are: a `Content-MD5` and `x-amz-checksum-*` values,
/// from its headers and, once the body is read, its trailers.
#[derive(Debug, Default, Clone)]
pub(super) struct Claims {
    md5: Option<[u8; 16]>,
    checksums: Vec<(Algorithm, Vec<u8>)>,
}

impl Claims {
    /// The claims of a part's headers.
    ///
    /// # Errors
    /// `InvalidDigest` for a `Content-MD5` that is not base64 of 16 bytes, `InvalidRequest` for a
    /// checksum that is not base64 of its algorithm's length, as S3 answers.
    pub(super) fn of_headers(input: &UploadPartInput) -> S3Result<Self> {
        let md5 = match &input.content_md5 {
            None => None,
            Some(value) => Some(checksums::decode_md5(value).ok_or_else(|| {
                s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
            })?),
        };
        let mut claims = Self {
            md5,
            checksums: Vec::new(),
        };
        let values = [
            (Algorithm::Crc32, &input.checksum_crc32),
            (Algorithm::Crc32c, &input.checksum_crc32c),
            (Algorithm::Crc64Nvme, &input.checksum_crc64nvme),
            (Algorithm::Sha1, &input.checksum_sha1),
            (Algorithm::Sha256, &input.checksum_sha256),
        ];
        for (algorithm, value) in values {
            if let Some(value) = value {
                claims.add(algorithm, value)?;
            }
        }
        Ok(claims)
    }

    /// Adds the checksums of a request's trailers.
    fn add_trailers(&mut self, trailers: &http::HeaderMap) -> S3Result<()> {
        for algorithm in Algorithm::ALL {
            if let Some(value) = trailers.get(algorithm.header()) {
                let value = value.to_str().map_err(|_| invalid_checksum(algorithm))?;
                self.add(algorithm, value)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, algorithm: Algorithm, value: &str) -> S3Result<()> {
        let bytes =
            checksums::decode(algorithm, value).ok_or_else(|| invalid_checksum(algorithm))?;
        self.checksums.push((algorithm, bytes));
        Ok(())
    }

    /// The algorithms the request sent a value of.
    pub(super) fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = self.checksums.iter().map(|(a, _)| *a).collect();
        algorithms.sort();
        algorithms.dedup();
        algorithms
    }

    /// Whether the bytes are what the request claims.
    ///
    /// # Errors
    /// `BadDigest`, naming the first digest that differs.
    fn check(&self, sums: &Sums) -> S3Result<()> {
        if self.md5.is_some_and(|md5| md5 != sums.md5) {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what was received."
            ));
        }
        for (algorithm, claimed) in &self.checksums {
            if sums.value(*algorithm).as_ref() != Some(claimed) {
                return Err(s3_error!(
                    BadDigest,
                    "The {} you specified did not match the checksum of what was received.",
                    algorithm.header()
                ));
            }
        }
        Ok(())
    }
}

fn invalid_checksum(algorithm: Algorithm) -> S3Error {
    s3_error!(
        InvalidRequest,
        "Value for {} header is invalid.",
        algorithm.header()
    )
}

/// How a part's body ended, read by the layer once s3s-fs is done with it.
pub(super) enum Outcome {
    /// The body has not ended (s3s-fs gave up on it, or the client went away).
    Unfinished,
    /// The bytes are not what the request claims; nothing is stored.
    Refused(S3Error),
    /// The bytes are as claimed. The guard holds the upload's finishing lock until the part is
    /// recorded.
    Received {
        sums: Sums,
        claims: Claims,
        finishing: OwnedMutexGuard<()>,
    },
}

/// Where the layer finds a body's [`Outcome`].
pub(super) type SharedOutcome = Arc<Mutex<Outcome>>;

/// Takes the outcome, leaving [`Outcome::Unfinished`].
pub(super) fn take(outcome: &SharedOutcome) -> Outcome {
    let mut slot = outcome.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::replace(&mut *slot, Outcome::Unfinished)
}

type Locking = Pin<Box<dyn Future<Output = OwnedMutexGuard<()>> + Send>>;

/// The error the body ends with when its bytes are refused; s3s-fs answers it as an internal
/// error, which the layer replaces with the [`Outcome::Refused`] refusal.
#[derive(Debug, thiserror::Error)]
#[error("the part's bytes are not what its request claims")]
struct Refusal;

/// A part's body, digested and checked on its way to s3s-fs.
pub(super) struct CheckedBody {
    inner: StreamingBlob,
    hasher: Option<Hasher>,
    claims: Claims,
    trailers: Option<TrailingHeaders>,
    finishing: Arc<tokio::sync::Mutex<()>>,
    /// Taking the finishing lock, once the body is whole and as claimed. In a `Mutex` only so the
    /// body is `Sync`, as s3s requires; `poll_next` reaches it through `get_mut`, never locking.
    locking: Option<Mutex<Locking>>,
    received: Option<(Sums, Claims)>,
    outcome: SharedOutcome,
    ended: bool,
}

impl CheckedBody {
    /// Wraps `inner`; `outcome` says how it ended once s3s-fs has read it.
    pub(super) fn new(
        inner: StreamingBlob,
        hasher: Hasher,
        claims: Claims,
        trailers: Option<TrailingHeaders>,
        finishing: Arc<tokio::sync::Mutex<()>>,
        outcome: SharedOutcome,
    ) -> Self {
        Self {
            inner,
            hasher: Some(hasher),
            claims,
            trailers,
            finishing,
            locking: None,
            received: None,
            outcome,
            ended: false,
        }
    }

    /// The body is whole: checks it, and either refuses it or starts taking the lock.
    fn check_end(&mut self) -> Result<(), S3Error> {
        let sums = self
            .hasher
            .take()
            .map(Hasher::finish)
            .ok_or_else(|| s3_error!(InternalError, "a part's body was checked twice"))?;
        let mut claims = self.claims.clone();
        // The trailers are in by now: s3s stores them before its body stream ends.
        if let Some(trailers) = &self.trailers {
            trailers
                .read(|trailers| claims.add_trailers(trailers))
                .transpose()?;
        }
        claims.check(&sums)?;
        self.received = Some((sums, claims));
        self.locking = Some(Mutex::new(Box::pin(
            Arc::clone(&self.finishing).lock_owned(),
        )));
        Ok(())
    }

    fn set(&self, outcome: Outcome) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = outcome;
    }
}

impl Stream for CheckedBody {
    type Item = Result<Bytes, StdError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        if this.locking.is_none() {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    if let Some(hasher) = &mut this.hasher {
                        hasher.update(&bytes);
                    }
                    return Poll::Ready(Some(Ok(bytes)));
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => {
                    if let Err(refusal) = this.check_end() {
                        this.ended = true;
                        this.set(Outcome::Refused(refusal));
                        return Poll::Ready(Some(Err(Box::new(Refusal))));
                    }
                }
            }
        }
        let Some(locking) = &mut this.locking else {
            return Poll::Ready(None);
        };
        let locking = locking.get_mut().unwrap_or_else(PoisonError::into_inner);
        match locking.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(finishing) => {
                this.ended = true;
                this.locking = None;
                if let Some((sums, claims)) = this.received.take() {
                    this.set(Outcome::Received {
                        sums,
                        claims,
                        finishing,
                    });
                }
                Poll::Ready(None)
            }
        }
    }
}

impl ByteStream for CheckedBody {
    fn remaining_length(&self) -> RemainingLength {
        self.inner.remaining_length()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures_util::StreamExt as _;

    use super::*;

    fn body(pieces: &[&'static [u8]]) -> StreamingBlob {
        let pieces: Vec<Result<Bytes, std::io::Error>> =
            pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        StreamingBlob::wrap(futures_util::stream::iter(pieces))
    }

    fn claims_md5(bytes: &[u8]) -> Claims {
        let mut hasher = Hasher::new(false, false);
        hasher.update(bytes);
        Claims {
            md5: Some(hasher.finish().md5),
            checksums: Vec::new(),
        }
    }

    async fn read_all(mut checked: CheckedBody) -> (Vec<u8>, bool) {
        let mut bytes = Vec::new();
        while let Some(item) = checked.next().await {
            match item {
                Ok(piece) => bytes.extend_from_slice(&piece),
                Err(_) => return (bytes, false),
            }
        }
        (bytes, true)
    }

    #[tokio::test]
    async fn a_body_as_claimed_ends_holding_the_finishing_lock() {
        let finishing = Arc::new(tokio::sync::Mutex::new(()));
        let outcome: SharedOutcome = Arc::new(Mutex::new(Outcome::Unfinished));
        let checked = CheckedBody::new(
            body(&[b"hello ", b"world"]),
            Hasher::new(false, false),
            claims_md5(b"hello world"),
            None,
            Arc::clone(&finishing),
            Arc::clone(&outcome),
        );
        assert_eq!(read_all(checked).await, (b"hello world".to_vec(), true));
        let Outcome::Received {
            sums,
            finishing: guard,
            ..
        } = take(&outcome)
        else {
            panic!("the body was not received");
        };
        assert_eq!(sums.size, 11);
        assert!(
            finishing.try_lock().is_err(),
            "the lock is held until the part is recorded"
        );
        drop(guard);
        assert!(finishing.try_lock().is_ok());
    }

    #[tokio::test]
    async fn a_body_unlike_its_claim_ends_in_an_error_and_takes_no_lock() {
        let finishing = Arc::new(tokio::sync::Mutex::new(()));
        let outcome: SharedOutcome = Arc::new(Mutex::new(Outcome::Unfinished));
        let checked = CheckedBody::new(
            body(&[b"hello ", b"world"]),
            Hasher::new(false, false),
            claims_md5(b"hello there"),
            None,
            Arc::clone(&finishing),
            Arc::clone(&outcome),
        );
        let (_, ended_well) = read_all(checked).await;
        assert!(
            !ended_well,
            "s3s-fs must see an error, not the end, or it stores the part"
        );
        let Outcome::Refused(error) = take(&outcome) else {
            panic!("the body was not refused");
        };
        assert_eq!(error.code(), &s3s::S3ErrorCode::BadDigest);
        assert!(finishing.try_lock().is_ok());
    }

    #[tokio::test]
    async fn a_body_waits_at_its_end_while_the_upload_finishes_something_else() {
        let finishing = Arc::new(tokio::sync::Mutex::new(()));
        let held = Arc::clone(&finishing).lock_owned().await;
        let outcome: SharedOutcome = Arc::new(Mutex::new(Outcome::Unfinished));
        let mut checked = CheckedBody::new(
            body(&[b"abc"]),
            Hasher::new(false, false),
            Claims::default(),
            None,
            Arc::clone(&finishing),
            Arc::clone(&outcome),
        );
        assert_eq!(
            checked.next().await.unwrap().unwrap(),
            Bytes::from_static(b"abc")
        );
        let end = tokio::time::timeout(std::time::Duration::from_millis(50), checked.next()).await;
        assert!(end.is_err(), "the end waits for the lock");
        drop(held);
        assert!(checked.next().await.is_none());
        assert!(matches!(take(&outcome), Outcome::Received { .. }));
    }
}
