//! The configured object store: a local directory by default, S3-compatible by configuration.
//! It sits under the application state, below every domain; what is stored, for whom, is the
//! business of `files` above it.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// The configured object store.
pub struct Files {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub max_bytes: usize,
}

impl Files {
    pub fn open(cfg: &crate::config::Config) -> anyhow::Result<Files> {
        let text = match &cfg.object_store_url {
            Some(u) => u.clone(),
            None => {
                let dir = cfg.data_dir.join("files");
                format!("file://{}", std::path::absolute(&dir).unwrap_or(dir).display())
            }
        };
        let url = url::Url::parse(&text).map_err(|e| anyhow::anyhow!("object_store_url {text:?}: {e}"))?;
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|_| anyhow::anyhow!("object_store_url must be an absolute file:// path"))?;
                crate::fsperm::private_dir(&dir)?;
                crate::fsperm::tighten(&dir);
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?)
            }
            #[cfg(feature = "s3")]
            "s3" => {
                let (store, prefix) = object_store::parse_url_opts(&url, std::env::vars())?;
                Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
            }
            other => anyhow::bail!(
                "object_store_url scheme {other:?} is not supported by this build (file://; s3:// with the `s3` feature)"
            ),
        };
        Ok(Files { store, max_bytes: cfg.max_upload_bytes })
    }

    pub(crate) async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.store.put(&ObjectPath::from(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub(crate) async fn get(&self, key: &str) -> anyhow::Result<axum::body::Bytes> {
        Ok(self.store.get(&ObjectPath::from(key)).await?.bytes().await?)
    }

    /// Keeps a small text outside the database (audit anchors), under a key of its own shape
    /// that the sweep leaves alone.
    pub async fn keep(&self, key: &str, text: &str) -> anyhow::Result<()> {
        self.put(key, text.as_bytes().to_vec()).await
    }

    /// The text of the last object under `prefix`, in key order.
    pub async fn last_under(&self, prefix: &str) -> anyhow::Result<Option<String>> {
        use futures_util::StreamExt;
        let mut listing = self.store.list(Some(&ObjectPath::from(prefix)));
        let mut last: Option<String> = None;
        while let Some(meta) = listing.next().await {
            let key = meta?.location.to_string();
            if last.as_ref().is_none_or(|l| key > *l) {
                last = Some(key);
            }
        }
        match last {
            Some(key) => Ok(Some(String::from_utf8(self.get(&key).await?.to_vec())?)),
            None => Ok(None),
        }
    }

    /// Every object under `prefix` with its text, in key order.
    pub async fn all_under(&self, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
        use futures_util::StreamExt;
        let mut keys = Vec::new();
        let mut listing = self.store.list(Some(&ObjectPath::from(prefix)));
        while let Some(meta) = listing.next().await {
            keys.push(meta?.location.to_string());
        }
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let text = String::from_utf8_lossy(&self.get(&key).await?).into_owned();
            out.push((key, text));
        }
        Ok(out)
    }

    /// Moves an object to another key (a copy and a delete on stores without a rename).
    pub async fn rename(&self, from: &str, to: &str) -> anyhow::Result<()> {
        self.store.rename(&ObjectPath::from(from), &ObjectPath::from(to)).await?;
        Ok(())
    }

    pub(crate) async fn delete(&self, key: &str) {
        if let Err(e) = self.store.delete(&ObjectPath::from(key)).await {
            tracing::warn!(error = %e, "could not delete an unreferenced object");
        }
    }
}
