//! The local S3 server refuses multipart requests where S3 would (the strict layer over s3s-fs,
//! `src/strict`), through the real stack and the AWS SDK as every client of it talks to it. Each
//! test is one rule, and fails on plain s3s-fs: it would store a part whose digest is wrong, list
//! parts without ETags and for any key, complete with any ETag or drop an upload whose completion
//! it refused, keep no checksum for a multipart object, and list no open upload.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::upload_part::UploadPartOutput;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use crc_fast::CrcAlgorithm;
use ddn_localstack::{LocalStack, LocalStackOptions};
use ddn_testkit::samples::sample_bytes;
use md5::{Digest as _, Md5};

const MIB: usize = 1024 * 1024;

/// A stack whose processor leaves the test's objects alone.
async fn stack() -> LocalStack {
    stack_with(LocalStackOptions {
        processing_delay: Duration::from_secs(600),
        ..LocalStackOptions::default()
    })
    .await
}

async fn stack_with(options: LocalStackOptions) -> LocalStack {
    LocalStack::start(options)
        .await
        .expect("the local stack starts")
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn md5_base64(bytes: &[u8]) -> String {
    BASE64.encode(Md5::digest(bytes))
}

fn crc64nvme(bytes: &[u8]) -> String {
    BASE64.encode(crc_fast::checksum(CrcAlgorithm::Crc64Nvme, bytes).to_be_bytes())
}

fn crc32(bytes: &[u8]) -> String {
    BASE64.encode((crc_fast::checksum(CrcAlgorithm::Crc32IsoHdlc, bytes) as u32).to_be_bytes())
}

/// The S3 error code a refused request was answered with.
fn refusal<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    result: Result<T, SdkError<E, R>>,
) -> String {
    let error = result.expect_err("the request is refused");
    error
        .code()
        .unwrap_or_else(|| panic!("no error code in {error:?}"))
        .to_owned()
}

/// One multipart upload of the input bucket, and the client that made it.
struct Upload<'a> {
    client: &'a Client,
    bucket: String,
    key: String,
    id: String,
}

impl<'a> Upload<'a> {
    /// Starts an upload as the presign service does: full-object CRC-64/NVME.
    async fn start(stack: &'a LocalStack, key: &str) -> Self {
        Self::start_with(stack, key, Some(ChecksumAlgorithm::Crc64Nvme)).await
    }

    async fn start_with(
        stack: &'a LocalStack,
        key: &str,
        algorithm: Option<ChecksumAlgorithm>,
    ) -> Self {
        let client = stack.s3_client();
        let created = client
            .create_multipart_upload()
            .bucket(stack.in_bucket())
            .key(key)
            .set_checksum_algorithm(algorithm.clone())
            .set_checksum_type(algorithm.map(|_| ChecksumType::FullObject))
            .send()
            .await
            .expect("the upload starts");
        Self {
            client,
            bucket: stack.in_bucket().to_owned(),
            key: key.to_owned(),
            id: created.upload_id().unwrap().to_owned(),
        }
    }

    /// The same upload id, named with another key.
    fn as_key(&self, key: &str) -> Self {
        Self {
            client: self.client,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            id: self.id.clone(),
        }
    }

    fn part(
        &self,
        number: i32,
        body: &[u8],
    ) -> aws_sdk_s3::operation::upload_part::builders::UploadPartFluentBuilder {
        self.client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .part_number(number)
            .body(ByteStream::from(body.to_vec()))
    }

    async fn put(&self, number: i32, body: &[u8]) -> UploadPartOutput {
        self.part(number, body)
            .send()
            .await
            .expect("the part is stored")
    }

    /// Sends every part and answers the list a completion names.
    async fn put_all(&self, parts: &[&[u8]]) -> Vec<CompletedPart> {
        let mut completed = Vec::new();
        for (number, body) in (1..).zip(parts) {
            let e_tag = self.put(number, body).await.e_tag().unwrap().to_owned();
            completed.push(completed_part(number, &e_tag));
        }
        completed
    }

    fn list(&self) -> aws_sdk_s3::operation::list_parts::builders::ListPartsFluentBuilder {
        self.client
            .list_parts()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
    }

    /// Every part listed, as (number, ETag without quotes, size).
    async fn listed(&self) -> Vec<(i32, String, i64)> {
        let page = self.list().send().await.expect("the parts are listed");
        page.parts()
            .iter()
            .map(|part| {
                let e_tag = part.e_tag().unwrap().trim_matches('"').to_owned();
                (part.part_number().unwrap(), e_tag, part.size().unwrap())
            })
            .collect()
    }

    fn complete(
        &self,
        parts: Vec<CompletedPart>,
    ) -> aws_sdk_s3::operation::complete_multipart_upload::builders::CompleteMultipartUploadFluentBuilder
    {
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
    }

    fn abort(
        &self,
    ) -> aws_sdk_s3::operation::abort_multipart_upload::builders::AbortMultipartUploadFluentBuilder
    {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(&self.id)
    }

    async fn stored(&self) -> Vec<u8> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .send()
            .await
            .expect("the object is there");
        object.body.collect().await.unwrap().into_bytes().to_vec()
    }
}

fn completed_part(number: i32, e_tag: &str) -> CompletedPart {
    CompletedPart::builder()
        .part_number(number)
        .e_tag(e_tag)
        .build()
}

/// The ids of the uploads open in the input bucket under `prefix`.
async fn open_uploads(stack: &LocalStack, prefix: &str) -> Vec<String> {
    let listed = stack
        .s3_client()
        .list_multipart_uploads()
        .bucket(stack.in_bucket())
        .prefix(prefix)
        .send()
        .await
        .expect("the uploads are listed");
    listed
        .uploads()
        .iter()
        .map(|upload| upload.upload_id().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_part_whose_content_md5_differs_is_refused_and_nothing_is_stored() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/md5.bin").await;
    let good = b"the part as it was read";
    let bad = b"the part as it arrived!";
    upload.put(1, good).await;

    // Sent again under the same number, with the digest of the first bytes: the stored part stays.
    let refused = upload
        .part(1, bad)
        .content_md5(md5_base64(good))
        .send()
        .await;
    assert_eq!(refusal(refused), "BadDigest");
    let refused = upload
        .part(2, bad)
        .content_md5(md5_base64(good))
        .send()
        .await;
    assert_eq!(refusal(refused), "BadDigest");
    let malformed = upload.part(2, bad).content_md5("not an md5").send().await;
    assert_eq!(refusal(malformed), "InvalidDigest");

    // A presigned part URL, as clients use them: the signed Content-MD5 holds the bytes to it.
    let presigned = upload
        .client
        .upload_part()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .upload_id(&upload.id)
        .part_number(3)
        .content_md5(md5_base64(good))
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let send = |body: &'static [u8]| {
        let mut request = reqwest::Client::new().put(presigned.uri());
        for (name, value) in presigned.headers() {
            request = request.header(name, value);
        }
        request.body(body).send()
    };
    let answer = send(bad).await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("<Code>BadDigest</Code>")
    );

    assert_eq!(
        upload.listed().await,
        [(1, md5_hex(good), good.len() as i64)],
        "only the good part is held"
    );
    let answer = send(good).await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(upload.listed().await.len(), 2);
}

#[tokio::test]
async fn a_part_whose_checksum_differs_is_refused() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/crc.bin").await;
    let body = b"bytes with a checksum";
    let other = b"other bytes";

    let refused = upload
        .part(1, body)
        .checksum_crc64_nvme(crc64nvme(other))
        .send()
        .await;
    assert_eq!(refusal(refused), "BadDigest");
    let refused = upload
        .part(1, body)
        .checksum_crc32(crc32(other))
        .send()
        .await;
    assert_eq!(refusal(refused), "BadDigest");
    let malformed = upload
        .part(1, body)
        .checksum_crc64_nvme("AAAA")
        .send()
        .await;
    assert_eq!(refusal(malformed), "InvalidRequest");
    assert!(upload.listed().await.is_empty(), "no refused part is held");

    let stored = upload
        .part(1, body)
        .checksum_crc64_nvme(crc64nvme(body))
        .send()
        .await
        .expect("a part as claimed is stored");
    assert_eq!(
        stored.e_tag(),
        Some(format!("\"{}\"", md5_hex(body)).as_str())
    );
    assert_eq!(stored.checksum_crc64_nvme(), Some(crc64nvme(body).as_str()));

    // A streamed body: the SDK sends its CRC-32 as an aws-chunked trailer, checked once the
    // body is in.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), other).unwrap();
    let streamed = upload
        .client
        .upload_part()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .upload_id(&upload.id)
        .part_number(2)
        .body(ByteStream::from_path(file.path()).await.unwrap())
        .send()
        .await
        .expect("a streamed part with a right trailer is stored");
    assert_eq!(streamed.checksum_crc32(), Some(crc32(other).as_str()));
    let listed = upload.list().send().await.unwrap();
    let crcs: Vec<Option<&str>> = listed
        .parts()
        .iter()
        .map(|p| p.checksum_crc64_nvme())
        .collect();
    assert_eq!(
        crcs,
        [
            Some(crc64nvme(body).as_str()),
            Some(crc64nvme(other).as_str())
        ]
    );
}

#[tokio::test]
async fn listed_parts_carry_the_md5_of_what_was_sent_and_page_past_a_thousand() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/many.bin").await;
    let byte = |number: i32| [(number % 251) as u8];
    let mut sending = tokio::task::JoinSet::new();
    let numbers: Vec<i32> = (1..=1100).collect();
    for chunk in numbers.chunks(1100 / 10) {
        let client = upload.client.clone();
        let (bucket, key, id) = (upload.bucket.clone(), upload.key.clone(), upload.id.clone());
        let chunk = chunk.to_vec();
        sending.spawn(async move {
            for number in chunk {
                client
                    .upload_part()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(&id)
                    .part_number(number)
                    .body(ByteStream::from(byte(number).to_vec()))
                    .send()
                    .await
                    .expect("the part is stored");
            }
        });
    }
    sending.join_all().await;
    // A part sent again replaces the one of that number.
    upload.put(1100, b"replaced").await;

    let first = upload.list().send().await.unwrap();
    assert_eq!(first.parts().len(), 1000);
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.next_part_number_marker(), Some("1000"));
    let second = upload
        .list()
        .part_number_marker("1000")
        .send()
        .await
        .unwrap();
    assert_eq!(second.parts().len(), 100);
    assert_eq!(second.is_truncated(), Some(false));
    assert_eq!(second.next_part_number_marker(), None);

    let parts: Vec<_> = first.parts().iter().chain(second.parts()).collect();
    for (part, number) in parts.iter().zip(1..) {
        let sent: &[u8] = if number == 1100 {
            b"replaced"
        } else {
            &byte(number)
        };
        assert_eq!(part.part_number(), Some(number));
        assert_eq!(
            part.e_tag(),
            Some(format!("\"{}\"", md5_hex(sent)).as_str())
        );
        assert_eq!(part.size(), Some(sent.len() as i64));
        assert_eq!(part.checksum_crc64_nvme(), Some(crc64nvme(sent).as_str()));
        assert!(part.last_modified().is_some());
    }

    // Smaller pages walk the same parts, each continuing after the last.
    let mut walked = Vec::new();
    let mut marker = None;
    loop {
        let page = upload
            .list()
            .max_parts(400)
            .set_part_number_marker(marker)
            .send()
            .await
            .unwrap();
        walked.extend(page.parts().iter().map(|p| p.part_number().unwrap()));
        marker = page.next_part_number_marker().map(str::to_owned);
        if page.is_truncated() != Some(true) {
            break;
        }
    }
    assert_eq!(walked, numbers);
}

#[tokio::test]
async fn an_upload_id_answers_only_for_its_own_key() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/a.bin").await;
    let body = b"part of a";
    let e_tag = upload.put(1, body).await.e_tag().unwrap().to_owned();
    let other_key = upload.as_key("users/dev/b.bin");
    let mut other_bucket = upload.as_key(&upload.key);
    other_bucket.bucket = stack.out_bucket().to_owned();

    for wrong in [&other_key, &other_bucket] {
        assert_eq!(refusal(wrong.part(2, body).send().await), "NoSuchUpload");
        assert_eq!(refusal(wrong.list().send().await), "NoSuchUpload");
        let completion = wrong.complete(vec![completed_part(1, &e_tag)]).send().await;
        assert_eq!(refusal(completion), "NoSuchUpload");
        assert_eq!(refusal(wrong.abort().send().await), "NoSuchUpload");
    }
    let unknown = Upload {
        id: "not-an-upload".to_owned(),
        ..upload.as_key(&upload.key)
    };
    assert_eq!(refusal(unknown.list().send().await), "NoSuchUpload");

    // Its own key's upload is untouched by all of that.
    assert_eq!(
        upload.listed().await,
        [(1, md5_hex(body), body.len() as i64)]
    );
    upload
        .complete(vec![completed_part(1, &e_tag)])
        .send()
        .await
        .expect("the upload completes under its own key");
    assert_eq!(upload.stored().await, body);
}

#[tokio::test]
async fn a_completion_with_a_wrong_etag_is_refused_and_the_upload_completes_after() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/etag.bin").await;
    let (first, last) = (sample_bytes(5 * MIB, 1), sample_bytes(1000, 2));
    let parts = upload.put_all(&[&first, &last]).await;

    let wrong_etag = vec![
        parts[0].clone(),
        completed_part(2, &md5_hex(b"something else")),
    ];
    assert_eq!(
        refusal(upload.complete(wrong_etag).send().await),
        "InvalidPart"
    );
    let missing = vec![
        parts[0].clone(),
        parts[1].clone(),
        completed_part(3, &md5_hex(&last)),
    ];
    assert_eq!(
        refusal(upload.complete(missing).send().await),
        "InvalidPart"
    );
    let wrong_crc = vec![
        parts[0].clone(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(md5_hex(&last))
            .checksum_crc64_nvme(crc64nvme(&first))
            .build(),
    ];
    assert_eq!(
        refusal(upload.complete(wrong_crc).send().await),
        "InvalidPart"
    );

    let completed = upload
        .complete(parts)
        .send()
        .await
        .expect("the same upload completes with the right ETags");
    assert!(
        completed.e_tag().unwrap().ends_with("-2\""),
        "{completed:?}"
    );
    assert_eq!(upload.stored().await, [first, last].concat());
    let again = upload.list().send().await;
    assert_eq!(refusal(again), "NoSuchUpload", "a completed upload is gone");
}

#[tokio::test]
async fn parts_out_of_order_are_refused_and_the_upload_stays() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/order.bin").await;
    let (first, last) = (sample_bytes(5 * MIB, 3), sample_bytes(10, 4));
    let parts = upload.put_all(&[&first, &last]).await;

    let reversed = vec![parts[1].clone(), parts[0].clone()];
    assert_eq!(
        refusal(upload.complete(reversed).send().await),
        "InvalidPartOrder"
    );
    let repeated = vec![parts[0].clone(), parts[0].clone()];
    assert_eq!(
        refusal(upload.complete(repeated).send().await),
        "InvalidPartOrder"
    );

    upload
        .complete(parts)
        .send()
        .await
        .expect("in order, it completes");
    assert_eq!(upload.stored().await, [first, last].concat());
}

#[tokio::test]
async fn a_small_part_before_the_last_is_refused_and_the_upload_stays() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/small.bin").await;
    let (small, last) = (sample_bytes(5 * MIB - 1, 5), sample_bytes(10, 6));
    let parts = upload.put_all(&[&small, &last]).await;
    assert_eq!(
        refusal(upload.complete(parts).send().await),
        "EntityTooSmall"
    );
    assert_eq!(upload.listed().await.len(), 2, "both parts are still held");

    let big = sample_bytes(5 * MIB, 7);
    let e_tag = upload.put(1, &big).await.e_tag().unwrap().to_owned();
    let last_e_tag = md5_hex(&last);
    let parts = vec![completed_part(1, &e_tag), completed_part(2, &last_e_tag)];
    upload
        .complete(parts)
        .send()
        .await
        .expect("with a 5 MiB first part, it completes");
    assert_eq!(upload.stored().await, [big, last].concat());
}

#[tokio::test]
async fn a_whole_object_crc64nvme_must_be_the_one_of_the_parts() {
    let stack = stack().await;
    let upload = Upload::start(&stack, "users/dev/whole.bin").await;
    let (first, last) = (sample_bytes(5 * MIB, 8), sample_bytes(3, 9));
    let whole = [first.clone(), last.clone()].concat();
    let parts = upload.put_all(&[&first, &last]).await;

    let wrong = upload
        .complete(parts.clone())
        .checksum_type(ChecksumType::FullObject)
        .checksum_crc64_nvme(crc64nvme(&[last.clone(), first.clone()].concat()))
        .send()
        .await;
    assert_eq!(refusal(wrong), "BadDigest");
    let wrong_size = upload
        .complete(parts.clone())
        .mpu_object_size(whole.len() as i64 + 1)
        .send()
        .await;
    assert_eq!(refusal(wrong_size), "InvalidRequest");
    assert_eq!(
        upload.listed().await.len(),
        2,
        "the refused completion left the upload"
    );

    let completed = upload
        .complete(parts)
        .checksum_type(ChecksumType::FullObject)
        .checksum_crc64_nvme(crc64nvme(&whole))
        .mpu_object_size(whole.len() as i64)
        .send()
        .await
        .expect("the right checksum completes");
    assert_eq!(
        completed.checksum_crc64_nvme(),
        Some(crc64nvme(&whole).as_str())
    );
    assert_eq!(completed.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(upload.stored().await, whole);
}

#[tokio::test]
async fn a_completed_object_reports_the_crc64nvme_of_its_bytes() {
    let stack = stack().await;
    let client = stack.s3_client();
    let key = "users/dev/reported.bin";
    // The key held an object with a CRC-32 before: the new object must not report it.
    client
        .put_object()
        .bucket(stack.in_bucket())
        .key(key)
        .body(ByteStream::from_static(b"an older object"))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    // Created without a checksum algorithm: S3 keeps CRC-64/NVME then.
    let upload = Upload::start_with(&stack, key, None).await;
    let (first, last) = (sample_bytes(5 * MIB, 10), sample_bytes(MIB + 5, 11));
    let whole = [first.clone(), last.clone()].concat();
    let parts = upload.put_all(&[&first, &last]).await;
    upload.complete(parts).send().await.unwrap();

    let head = client
        .head_object()
        .bucket(stack.in_bucket())
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(crc64nvme(&whole).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(
        head.checksum_crc32(),
        None,
        "the older object's checksum is gone"
    );
    assert_eq!(head.content_length(), Some(whole.len() as i64));

    // A whole read names it too (and the SDK checks the bytes against it); a range does not.
    let object = client
        .get_object()
        .bucket(stack.in_bucket())
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.checksum_crc64_nvme(),
        Some(crc64nvme(&whole).as_str())
    );
    assert_eq!(object.body.collect().await.unwrap().into_bytes(), whole);
    let range = client
        .get_object()
        .bucket(stack.in_bucket())
        .key(key)
        .range("bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(range.checksum_crc64_nvme(), None);
}

#[tokio::test]
async fn a_part_copied_from_an_object_is_recorded_like_a_sent_one() {
    let stack = stack().await;
    let client = stack.s3_client();
    let source = sample_bytes(5 * MIB + 10, 14);
    client
        .put_object()
        .bucket(stack.in_bucket())
        .key("users/dev/source.bin")
        .body(ByteStream::from(source.clone()))
        .send()
        .await
        .unwrap();
    let upload = Upload::start(&stack, "users/dev/copied.bin").await;
    let copied = client
        .upload_part_copy()
        .bucket(&upload.bucket)
        .key(&upload.key)
        .upload_id(&upload.id)
        .part_number(1)
        .copy_source(format!("{}/users/dev/source.bin", stack.in_bucket()))
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .expect("the part is copied");
    let first = &source[..5 * MIB];
    let e_tag = copied
        .copy_part_result()
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned();
    assert_eq!(e_tag, format!("\"{}\"", md5_hex(first)));
    assert_eq!(
        upload.listed().await,
        [(1, md5_hex(first), first.len() as i64)]
    );

    let last = b"and a sent last part";
    let last_e_tag = upload.put(2, last).await.e_tag().unwrap().to_owned();
    let whole = [first, last.as_slice()].concat();
    upload
        .complete(vec![
            completed_part(1, &e_tag),
            completed_part(2, &last_e_tag),
        ])
        .checksum_crc64_nvme(crc64nvme(&whole))
        .send()
        .await
        .expect("a copied part completes like a sent one");
    assert_eq!(upload.stored().await, whole);

    // CopyObject carries the multipart object's checksum along.
    client
        .copy_object()
        .bucket(stack.out_bucket())
        .key("users/dev/copy-of-copied.bin")
        .copy_source(format!("{}/users/dev/copied.bin", stack.in_bucket()))
        .send()
        .await
        .unwrap();
    let head = client
        .head_object()
        .bucket(stack.out_bucket())
        .key("users/dev/copy-of-copied.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(crc64nvme(&whole).as_str()));
}

#[tokio::test]
async fn open_uploads_are_listed_and_aborted_or_completed_ones_are_not() {
    let stack = stack().await;
    let open = Upload::start(&stack, "users/dev/open.bin").await;
    let aborted = Upload::start(&stack, "users/dev/aborted.bin").await;
    let completed = Upload::start(&stack, "users/dev/completed.bin").await;
    let elsewhere = Upload::start(&stack, "users/other/open.bin").await;
    aborted.put(1, b"dropped").await;
    let parts = completed.put_all(&[b"kept"]).await;
    let mut all = vec![
        open.id.clone(),
        aborted.id.clone(),
        completed.id.clone(),
        elsewhere.id.clone(),
    ];
    all.sort();
    let mut listed = open_uploads(&stack, "").await;
    listed.sort();
    assert_eq!(listed, all);

    aborted.abort().send().await.expect("the upload is aborted");
    completed
        .complete(parts)
        .send()
        .await
        .expect("the upload completes");
    assert_eq!(open_uploads(&stack, "users/dev/").await, [open.id.as_str()]);
    assert_eq!(refusal(aborted.list().send().await), "NoSuchUpload");
    assert_eq!(refusal(aborted.abort().send().await), "NoSuchUpload");
    assert_eq!(
        refusal(aborted.part(2, b"late").send().await),
        "NoSuchUpload"
    );

    // Paged one at a time, by key: users/dev/open.bin, then users/other/open.bin.
    let client = stack.s3_client();
    let first = client
        .list_multipart_uploads()
        .bucket(stack.in_bucket())
        .max_uploads(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.is_truncated(), Some(true));
    assert_eq!(first.uploads()[0].upload_id(), Some(open.id.as_str()));
    let second = client
        .list_multipart_uploads()
        .bucket(stack.in_bucket())
        .max_uploads(1)
        .set_key_marker(first.next_key_marker().map(str::to_owned))
        .set_upload_id_marker(first.next_upload_id_marker().map(str::to_owned))
        .send()
        .await
        .unwrap();
    assert_eq!(second.is_truncated(), Some(false));
    assert_eq!(second.uploads()[0].upload_id(), Some(elsewhere.id.as_str()));
    assert_eq!(
        second.uploads()[0].checksum_algorithm(),
        Some(&ChecksumAlgorithm::Crc64Nvme)
    );
}

#[tokio::test]
async fn a_restarted_stack_holds_no_upload_and_keeps_its_objects_checksums() {
    let data = tempfile::tempdir().unwrap();
    let options = || LocalStackOptions {
        data_dir: Some(data.path().to_owned()),
        processing_delay: Duration::from_secs(600),
        ..LocalStackOptions::default()
    };
    let key = "users/dev/kept.bin";
    let body = b"completed before the restart";
    let (left_open, completed_key) = {
        let stack = stack_with(options()).await;
        let left_open = Upload::start(&stack, "users/dev/left-open.bin").await;
        left_open.put(1, b"a part of an upload left open").await;
        let completed = Upload::start(&stack, key).await;
        let parts = completed.put_all(&[body]).await;
        completed.complete(parts).send().await.unwrap();
        let id = left_open.id.clone();
        stack.stop().await;
        (id, key)
    };

    let stack = stack_with(options()).await;
    assert!(open_uploads(&stack, "").await.is_empty());
    let forgotten = Upload {
        client: stack.s3_client(),
        bucket: stack.in_bucket().to_owned(),
        key: "users/dev/left-open.bin".to_owned(),
        id: left_open,
    };
    assert_eq!(refusal(forgotten.list().send().await), "NoSuchUpload");
    let leftovers: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let head = stack
        .s3_client()
        .head_object()
        .bucket(stack.in_bucket())
        .key(completed_key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(crc64nvme(body).as_str()));
}

#[tokio::test]
async fn the_processor_copies_a_multipart_object_with_a_checksum_a_download_can_check() {
    let stack = stack_with(LocalStackOptions {
        processing_delay: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        ..LocalStackOptions::default()
    })
    .await;
    let key = "users/dev/processed.bin";
    let upload = Upload::start(&stack, key).await;
    let (first, last) = (sample_bytes(5 * MIB, 12), sample_bytes(4321, 13));
    let whole = [first.clone(), last.clone()].concat();
    let parts = upload.put_all(&[&first, &last]).await;
    upload.complete(parts).send().await.unwrap();

    let client = stack.s3_client();
    let deadline = Instant::now() + Duration::from_secs(20);
    let head = loop {
        let head = client
            .head_object()
            .bucket(stack.out_bucket())
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        // s3s-fs writes a new object's checksum just after its data.
        match head {
            Ok(head) if head.checksum_type().is_some() => break head,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("no result with a checksum: {other:?}"),
        }
    };
    // The processor's PutObject sends the SDK's CRC-32 trailer, which s3s-fs checks and keeps.
    assert_eq!(
        head.checksum_crc32(),
        Some(crc32(&whole).as_str()),
        "{head:?}"
    );
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    assert_eq!(
        head.e_tag(),
        Some(format!("\"{}\"", md5_hex(&whole)).as_str())
    );
    let copied = client
        .get_object()
        .bucket(stack.out_bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(copied.body.collect().await.unwrap().into_bytes(), whole);
}
