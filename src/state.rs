//! The application state every handler receives: the database, the configuration, the keys,
//! the object store and the metrics handle. It sits under authentication, the web plumbing and
//! every domain, and holds nothing of a request: with several instances behind a load
//! balancer, whatever must be shared lives in the database or the object store.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::db::Db;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<Config>,
    pub metrics: PrometheusHandle,
    pub keys: Arc<crate::crypto::Keyring>,
    pub files: Arc<crate::files::store::Files>,
}
