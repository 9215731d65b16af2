//! Where a cluster's files are: the local file system (a shared mount) or S3 and the stores
//! that speak its protocol (MinIO, Ceph, R2, ...), through `object_store`. The client, our
//! scheduler and our executors resolve a project's URLs with the same registry,
//! [`ObjectStores`], so an `s3://bucket/project` lists and reads alike everywhere.
//!
//! An `s3://BUCKET/...` store is made the first time a URL names the bucket, from the
//! environment as the AWS tools read it (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT` for a store other than AWS,
//! `AWS_ALLOW_HTTP=true` for one without TLS: `object_store::aws::AmazonS3Builder::from_env`).
//! Every process of the cluster needs that environment.

use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::object_store::ObjectStore;
use datafusion::object_store::aws::AmazonS3Builder;
use url::Url;

/// An [`ObjectStoreRegistry`] that knows the local file system and makes an S3 store per
/// bucket on first use, registered then (see the module docs).
#[derive(Debug, Default)]
pub struct ObjectStores {
    registered: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for ObjectStores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        self.registered.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.registered.get_store(url) {
            return Ok(store);
        }
        if url.scheme() != "s3" {
            return Err(DataFusionError::Configuration(format!(
                "{url}: no object store for `{}://`: use a local path, file:// or s3://",
                url.scheme()
            )));
        }
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| DataFusionError::Configuration(format!("{url}: no bucket in the URL")))?;
        let store: Arc<dyn ObjectStore> = Arc::new(
            AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| DataFusionError::Configuration(format!("{url}: S3: {e}")))?,
        );
        // Registered by scheme and bucket, as DataFusion keys stores; two threads that make
        // one at once keep the later one, each correct.
        self.registered.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// A runtime whose object stores are [`ObjectStores`]: what the client's session, our
/// scheduler and our executors run with.
pub fn runtime_env() -> Result<Arc<RuntimeEnv>> {
    Ok(Arc::new(
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(ObjectStores::default()))
            .build()?,
    ))
}

/// Whether `data` names a project by URL (`s3://...`, `file://...`) rather than by path.
pub fn is_url(data: &str) -> bool {
    data.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}
