//! Object storage, black-box: the `BlobStore` conformance suite on every backend available
//! (the filesystem; S3 through a real s3s-fs, which checks signatures), what only S3 does
//! (presigned playback, refused credentials), and the upload spool (confirmed uploads, an S3
//! outage, a crash, a failing `on_stored`).

mod conformance;
mod s3;
mod spool;
pub(crate) mod support;
