//! The object stores a cluster resolves a project's URL with (`cluster::stores`).

use std::sync::Arc;

use cluster::stores::{ObjectStores, is_url};
use datafusion::execution::object_store::ObjectStoreRegistry;
use url::Url;

#[test]
fn an_s3_store_is_made_once_per_bucket_and_other_schemes_are_refused() {
    let stores = ObjectStores::default();
    // Made from the environment without a request: no credentials or network are needed.
    let a = stores
        .get_store(&Url::parse("s3://bucket-a/project/runs_summary/").unwrap())
        .unwrap();
    let again = stores
        .get_store(&Url::parse("s3://bucket-a/other/").unwrap())
        .unwrap();
    let b = stores
        .get_store(&Url::parse("s3://bucket-b/project/").unwrap())
        .unwrap();
    assert!(Arc::ptr_eq(&a, &again));
    assert!(!Arc::ptr_eq(&a, &b));
    assert!(a.to_string().contains("bucket-a"), "{a}");
    stores.get_store(&Url::parse("file:///tmp/").unwrap()).unwrap();
    let e = stores
        .get_store(&Url::parse("gs://bucket/x").unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("no object store for `gs://`"), "{e}");
}

#[test]
fn urls_and_paths_are_told_apart() {
    for url in ["s3://bucket/project", "file:///data/bucketed", "s3+x://b/p"] {
        assert!(is_url(url), "{url}");
    }
    for path in [
        "/data/bucketed",
        "relative/dir",
        "weird:name",
        "://nothing",
        "dir/with://inside",
    ] {
        assert!(!is_url(path), "{path}");
    }
}
