//! Configuration: defaults → optional TOML file → environment (`LINLI_*`) → flags.
//! clap handles the last two layers (every flag has an `env`), the file fills what they leave unset.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

#[derive(Args, Clone, Default)]
pub struct ConfigArgs {
    /// Optional TOML configuration file; flags and LINLI_* variables override it.
    #[arg(long, env = "LINLI_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory for the embedded database and files (default ./linli-data).
    #[arg(long, env = "LINLI_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: sqlite in the data directory).
    #[arg(long, env = "LINLI_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "LINLI_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Minutes a session may stay idle (default 30).
    #[arg(long, env = "LINLI_SESSION_IDLE_MINUTES", global = true)]
    pub session_idle_minutes: Option<u64>,
    /// Hours a session may live at most (default 12).
    #[arg(long, env = "LINLI_SESSION_MAX_HOURS", global = true)]
    pub session_max_hours: Option<u64>,
    /// Set when served over TLS (directly or behind a TLS proxy): cookies get the Secure flag.
    #[arg(long, env = "LINLI_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<bool>,
    /// SQLite synchronous mode: FULL (default, survives power loss) or NORMAL.
    #[arg(long, env = "LINLI_SQLITE_SYNCHRONOUS", global = true)]
    pub sqlite_synchronous: Option<String>,
    /// Failed sign-ins allowed from one address per minute before it gets 429 (default 30).
    #[arg(long, env = "LINLI_LOGIN_RATE_PER_MINUTE", global = true)]
    pub login_rate_per_minute: Option<u32>,
    /// Posts per minute an Open311 app may make unless it has its own limit (default 120).
    #[arg(long, env = "LINLI_OPEN311_POSTS_PER_MINUTE", global = true)]
    pub open311_posts_per_minute: Option<u32>,
    /// Largest request body accepted, in kilobytes (default 2048).
    #[arg(long, env = "LINLI_MAX_BODY_KB", global = true)]
    pub max_body_kb: Option<usize>,
    /// Largest spreadsheet upload for imports, in kilobytes (default 65536).
    #[arg(long, env = "LINLI_MAX_IMPORT_KB", global = true)]
    pub max_import_kb: Option<usize>,
    /// SQLite page cache for the whole process, in megabytes (default 32): half for the
    /// writer, half shared by the eight readers.
    #[arg(long, env = "LINLI_SQLITE_CACHE_MB", global = true)]
    pub sqlite_cache_mb: Option<u32>,
    /// Size of the PostgreSQL connection pool (default 10).
    #[arg(long, env = "LINLI_DB_POOL", global = true)]
    pub db_pool: Option<u32>,
    /// Most people one roster export may hold without a manager's approval (default 500).
    #[arg(long, env = "LINLI_EXPORT_MAX_PEOPLE", global = true)]
    pub export_max_people: Option<usize>,
    /// Requests of the same category at the same estate and building within this many days
    /// are offered as duplicates at dispatch (default 7).
    #[arg(long, env = "LINLI_DUPLICATE_DAYS", global = true)]
    pub duplicate_days: Option<i64>,
    /// Log format: text (default) or json.
    #[arg(long, env = "LINLI_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Key for secrets at rest: `id:base64(32 bytes)`, several comma-separated to rotate (newest
    /// first). Default on SQLite: `secret.key` in the data directory; required with PostgreSQL.
    #[arg(long, env = "LINLI_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// How many proxies of yours (load balancer, TLS terminator) stand in front of Linli, each
    /// appending the address it was reached from to X-Forwarded-For; the client address is the
    /// entry that many places from the right (default 0: the header is ignored).
    #[arg(long, env = "LINLI_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<u8>,
    /// Deprecated: `true` is LINLI_TRUSTED_PROXIES=1.
    #[arg(long, env = "LINLI_TRUST_FORWARDED_FOR", global = true)]
    pub trust_forwarded_for: Option<bool>,
    /// Where photos and documents go: `file:///path` (default: `files/` in the data directory)
    /// or `s3://bucket/prefix` (builds with the `s3` feature; credentials and endpoint from the
    /// usual AWS_* variables).
    #[arg(long, env = "LINLI_OBJECT_STORE_URL", global = true)]
    pub object_store_url: Option<String>,
    /// Largest photo or document accepted, in MB.
    #[arg(long, env = "LINLI_MAX_UPLOAD_MB", global = true)]
    pub max_upload_mb: Option<usize>,
    /// Map tiles behind the request and hazard map: an `http(s)://…/{z}/{x}/{y}…` template in
    /// Web Mercator with WGS-84 coordinates (天地图 or OpenStreetMap style; not GCJ-02). Unset:
    /// the map draws its points without a background.
    #[arg(long, env = "LINLI_MAP_TILE_URL", global = true)]
    pub map_tile_url: Option<String>,
    /// Attribution the tile provider requires, shown under the map.
    #[arg(long, env = "LINLI_MAP_ATTRIBUTION", global = true)]
    pub map_attribution: Option<String>,
    /// Seconds a client has to send a request head; also how long an idle keep-alive
    /// connection stays open (default 10).
    #[arg(long, env = "LINLI_HEADER_TIMEOUT_SECS", global = true)]
    pub header_timeout_secs: Option<u64>,
    /// Most connections open at once (default 1024); past it a new connection closes the
    /// oldest idle one. Kept under the process's descriptor limit.
    #[arg(long, env = "LINLI_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Requests handled at once (default 64); more wait in a queue.
    #[arg(long, env = "LINLI_MAX_IN_FLIGHT", global = true)]
    pub max_in_flight: Option<usize>,
    /// Requests that may wait for a slot (default 448); past that the answer is 503 at once.
    #[arg(long, env = "LINLI_MAX_QUEUED", global = true)]
    pub max_queued: Option<usize>,
    /// Seconds a request may wait in that queue before the answer is 503 (default 10).
    #[arg(long, env = "LINLI_MAX_QUEUE_WAIT_SECS", global = true)]
    pub max_queue_wait_secs: Option<u64>,
    /// Seconds a client has to send a whole request body once its head is in (default 30);
    /// past that the answer is 408.
    #[arg(long, env = "LINLI_BODY_TIMEOUT_SECS", global = true)]
    pub body_timeout_secs: Option<u64>,
    /// Largest Open311 post (form fields and its photo), in KB (default 10240).
    #[arg(long, env = "LINLI_MAX_OPEN311_KB", global = true)]
    pub max_open311_kb: Option<usize>,
    /// Request body bytes held in memory at once across all requests, in MB (default 256);
    /// past it a body is refused with 503.
    #[arg(long, env = "LINLI_UPLOAD_BUDGET_MB", global = true)]
    pub upload_budget_mb: Option<usize>,
    /// Address for Prometheus's /metrics, apart from the public listener (e.g. 127.0.0.1:9091).
    /// Unset: no metrics are served.
    #[arg(long, env = "LINLI_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<String>,
    /// Colours in text logs: auto (default: only when the log goes to a terminal), always or
    /// never.
    #[arg(long, env = "LINLI_LOG_COLOR", global = true)]
    pub log_color: Option<String>,
    /// Path prefix Linli is served under behind a proxy (e.g. /linli): links, redirects,
    /// cookies and the Open311 discovery URL carry it, and requests outside it are not served.
    /// Default: none (served at the root).
    #[arg(long, env = "LINLI_BASE_PATH", global = true)]
    pub base_path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    session_idle_minutes: Option<u64>,
    session_max_hours: Option<u64>,
    secure_cookies: Option<bool>,
    sqlite_synchronous: Option<String>,
    login_rate_per_minute: Option<u32>,
    open311_posts_per_minute: Option<u32>,
    max_body_kb: Option<usize>,
    max_import_kb: Option<usize>,
    sqlite_cache_mb: Option<u32>,
    db_pool: Option<u32>,
    export_max_people: Option<usize>,
    duplicate_days: Option<i64>,
    log_format: Option<String>,
    trusted_proxies: Option<u8>,
    trust_forwarded_for: Option<bool>,
    secret_key: Option<String>,
    object_store_url: Option<String>,
    max_upload_mb: Option<usize>,
    map_tile_url: Option<String>,
    map_attribution: Option<String>,
    header_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
    max_queued: Option<usize>,
    max_queue_wait_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    max_open311_kb: Option<usize>,
    upload_budget_mb: Option<usize>,
    metrics_listen: Option<String>,
    log_color: Option<String>,
    base_path: Option<String>,
}

/// When text logs are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogColor {
    Auto,
    Always,
    Never,
}

impl LogColor {
    /// Whether to colour a log written to a terminal (`tty`) or not.
    pub fn colour(self, tty: bool) -> bool {
        match self {
            LogColor::Auto => tty,
            LogColor::Always => true,
            LogColor::Never => false,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub listen: String,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub secure_cookies: bool,
    pub sqlite_synchronous: String,
    pub login_rate_per_minute: u32,
    /// Posts per minute an Open311 app may make unless it has its own (`open311_clients`).
    pub open311_posts_per_minute: u32,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    /// Imports of up to this many new people commit within the request; larger ones run as a
    /// job with a progress page (not a setting: tests lower it).
    pub import_inline_rows: usize,
    pub sqlite_cache_mb: u32,
    pub db_pool: u32,
    pub export_max_people: usize,
    pub duplicate_days: i64,
    pub log_json: bool,
    pub log_color: LogColor,
    /// The path prefix (`/linli`), or empty when served at the root (`web::base_path`).
    pub base_path: String,
    /// Proxies in front of Linli that append to X-Forwarded-For (0: the header is ignored).
    pub trusted_proxies: u8,
    pub secret_key: Option<String>,
    /// `None`: the `files` directory in `data_dir` (resolved when the store opens: the demo
    /// moves the data directory after the configuration is read).
    pub object_store_url: Option<String>,
    pub max_upload_bytes: usize,
    /// Checked tile URL template, and its origin for the map page's image policy.
    pub map_tiles: Option<TileSource>,
    /// How long an Idempotency-Key claim outlives its request's last sign of life: a retry
    /// after a crash waits this long at most (not a setting: tests shorten it).
    pub idempotency_lease: Duration,
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Requests handled at once, and how many may wait for a slot before the answer is 503.
    pub max_in_flight: usize,
    pub max_queued: usize,
    /// How long a request waits in that queue before it is turned away.
    pub max_queue_wait: Duration,
    /// How long a client has to send a whole body; bodies are read before the queue.
    pub body_timeout: Duration,
    pub max_open311_bytes: usize,
    /// Body bytes held in memory across all requests at once.
    pub upload_budget_bytes: usize,
    pub metrics_listen: Option<String>,
    /// Set by `linli demo`: shows the demo banner and lets demo accounts skip the second factor.
    pub demo: bool,
    /// Settings that still work but will not for long, said once at start.
    pub deprecations: Vec<String>,
}

impl std::fmt::Debug for Config {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("session_idle", &self.session_idle)
            .field("session_max", &self.session_max)
            .field("secure_cookies", &self.secure_cookies)
            .field("demo", &self.demo)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn embedded(&self) -> bool {
        self.database_url.starts_with("sqlite://")
    }
    /// The SQLite database file, without URL options.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite://")?;
        Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    /// The keyring; never makes a key (see [`Config::keyring_for_setup`]).
    pub fn keyring(&self) -> anyhow::Result<crate::crypto::Keyring> {
        crate::crypto::Keyring::load(self.secret_key.as_deref(), &self.data_dir, self.embedded())
    }

    /// The keyring for a command that may set up a new database (`serve`, `demo`, `migrate`,
    /// `gen`): on SQLite a database not made yet gets a new `secret.key`. One that exists does
    /// not: whatever it holds was sealed and keyed with a key that is missing, not with a new
    /// one, and a new key would make every MAC look forged.
    pub fn keyring_for_setup(&self) -> anyhow::Result<crate::crypto::Keyring> {
        match self.keyring() {
            Err(e) if e.is::<crate::crypto::NoKey>() => {
                let db = self.sqlite_path().unwrap_or_default();
                if std::fs::metadata(&db).is_ok_and(|m| m.len() > 0) {
                    bail!(
                        "no secret key for the existing database {}: put the key it was made with in {} or LINLI_SECRET_KEY (a new key would open nothing it holds)",
                        db.display(),
                        self.data_dir.join("secret.key").display()
                    );
                }
                crate::crypto::Keyring::create(&self.data_dir)
            }
            other => other,
        }
    }
}

pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl ConfigArgs {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("linli-data"));
        let database_url = self
            .database_url
            .clone()
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("linli.db").display()));
        if !["sqlite://", "postgres://", "postgresql://"].iter().any(|s| database_url.starts_with(s)) {
            bail!("unknown database URL scheme in {}; use sqlite://PATH or postgres://…", redact_url(&database_url));
        }
        let sync = self
            .sqlite_synchronous
            .clone()
            .or(file.sqlite_synchronous)
            .unwrap_or_else(|| "FULL".into())
            .to_ascii_uppercase();
        if sync != "FULL" && sync != "NORMAL" {
            bail!("sqlite_synchronous must be FULL or NORMAL, not {sync}");
        }
        let log_format = self.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
        let log_color = match self.log_color.clone().or(file.log_color).as_deref().map(str::trim) {
            None | Some("" | "auto") => LogColor::Auto,
            Some("always") => LogColor::Always,
            Some("never") => LogColor::Never,
            Some(other) => bail!("log_color must be auto, always or never, not {other:?}"),
        };
        let base_path = parse_base_path(&self.base_path.clone().or(file.base_path).unwrap_or_default())
            .map_err(anyhow::Error::msg)?;
        let mut deprecations = Vec::new();
        let trusted_proxies = match (
            self.trusted_proxies.or(file.trusted_proxies),
            self.trust_forwarded_for.or(file.trust_forwarded_for),
        ) {
            (Some(n), Some(trust)) if trust != (n > 0) => bail!(
                "trust_forwarded_for={trust} contradicts trusted_proxies={n}; drop trust_forwarded_for (it is replaced by trusted_proxies)"
            ),
            (Some(n), _) => n,
            (None, Some(trust)) => {
                deprecations.push(format!(
                    "LINLI_TRUST_FORWARDED_FOR / trust_forwarded_for is deprecated: set LINLI_TRUSTED_PROXIES / trusted_proxies={} instead",
                    u8::from(trust)
                ));
                u8::from(trust)
            }
            (None, None) => 0,
        };
        let map_tiles = match self.map_tile_url.clone().or(file.map_tile_url).filter(|u| !u.trim().is_empty()) {
            Some(u) => Some(TileSource::parse(
                u.trim(),
                self.map_attribution.clone().or(file.map_attribution).unwrap_or_default(),
            )?),
            None => None,
        };
        Ok(Config {
            data_dir,
            database_url,
            listen: self.listen.clone().or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".into()),
            session_idle: Duration::from_secs(
                60 * self.session_idle_minutes.or(file.session_idle_minutes).unwrap_or(30),
            ),
            session_max: Duration::from_secs(3600 * self.session_max_hours.or(file.session_max_hours).unwrap_or(12)),
            secure_cookies: self.secure_cookies.or(file.secure_cookies).unwrap_or(false),
            sqlite_synchronous: sync,
            login_rate_per_minute: self.login_rate_per_minute.or(file.login_rate_per_minute).unwrap_or(30),
            open311_posts_per_minute: self
                .open311_posts_per_minute
                .or(file.open311_posts_per_minute)
                .unwrap_or(120)
                .clamp(1, 100_000),
            max_body_bytes: 1024 * self.max_body_kb.or(file.max_body_kb).unwrap_or(2048),
            max_import_bytes: 1024 * self.max_import_kb.or(file.max_import_kb).unwrap_or(65536),
            import_inline_rows: 2_000,
            sqlite_cache_mb: self.sqlite_cache_mb.or(file.sqlite_cache_mb).unwrap_or(32),
            db_pool: self.db_pool.or(file.db_pool).unwrap_or(10),
            export_max_people: self.export_max_people.or(file.export_max_people).unwrap_or(500),
            duplicate_days: self.duplicate_days.or(file.duplicate_days).unwrap_or(7).clamp(1, 365),
            log_json: log_format == "json",
            log_color,
            base_path,
            trusted_proxies,
            secret_key: self.secret_key.clone().or(file.secret_key),
            object_store_url: self.object_store_url.clone().or(file.object_store_url),
            max_upload_bytes: 1024 * 1024 * self.max_upload_mb.or(file.max_upload_mb).unwrap_or(20).clamp(1, 200),
            map_tiles,
            idempotency_lease: Duration::from_secs(5),
            header_timeout: Duration::from_secs(
                self.header_timeout_secs.or(file.header_timeout_secs).unwrap_or(10).clamp(1, 3600),
            ),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(1024).max(1),
            max_in_flight: self.max_in_flight.or(file.max_in_flight).unwrap_or(64).max(1),
            max_queued: self.max_queued.or(file.max_queued).unwrap_or(448).max(1),
            max_queue_wait: Duration::from_secs(
                self.max_queue_wait_secs.or(file.max_queue_wait_secs).unwrap_or(10).clamp(1, 600),
            ),
            body_timeout: Duration::from_secs(
                self.body_timeout_secs.or(file.body_timeout_secs).unwrap_or(30).clamp(1, 3600),
            ),
            max_open311_bytes: 1024 * self.max_open311_kb.or(file.max_open311_kb).unwrap_or(10240).max(1),
            upload_budget_bytes: 1024 * 1024 * self.upload_budget_mb.or(file.upload_budget_mb).unwrap_or(256).max(1),
            metrics_listen: self.metrics_listen.clone().or(file.metrics_listen).filter(|a| !a.trim().is_empty()),
            demo: false,
            deprecations,
        })
    }
}

/// Where map tiles come from: `{z}`, `{x}` and `{y}` are filled in per tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileSource {
    pub template: String,
    /// `scheme://host[:port]`, allowed as an image source on the map page only.
    pub origin: String,
    pub attribution: String,
}

impl TileSource {
    pub fn parse(template: &str, attribution: String) -> anyhow::Result<TileSource> {
        let probe = template.replace("{z}", "1").replace("{x}", "1").replace("{y}", "1");
        let url = url::Url::parse(&probe).with_context(|| format!("map_tile_url {template} is not a URL"))?;
        if !matches!(url.scheme(), "https" | "http") || !["{z}", "{x}", "{y}"].iter().all(|p| template.contains(p)) {
            bail!("map_tile_url must be an http(s) URL with {{z}}, {{x}} and {{y}}, not {template}");
        }
        let host = url.host_str().context("map_tile_url has no host")?;
        let origin = match url.port() {
            Some(p) => format!("{}://{host}:{p}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(TileSource { template: template.to_string(), origin, attribution })
    }
    pub fn tile(&self, z: u32, x: i64, y: i64) -> String {
        self.template.replace("{z}", &z.to_string()).replace("{x}", &x.to_string()).replace("{y}", &y.to_string())
    }
}

/// Checks a configured base path: empty (served at the root), or `/segment[/segment…]` of
/// URL-safe characters with no trailing slash.
pub fn parse_base_path(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let ok = trimmed.starts_with('/')
        && trimmed[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    if ok {
        Ok(trimmed.to_string())
    } else {
        Err(format!("base_path must look like /linli (segments of letters, digits, - . _ ~), not {raw:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::ConfigArgs;

    #[test]
    fn trusted_proxies_and_the_old_switch() {
        let hops = |proxies: Option<u8>, trust: Option<bool>| {
            ConfigArgs { trusted_proxies: proxies, trust_forwarded_for: trust, ..Default::default() }
                .resolve()
                .map(|c| (c.trusted_proxies, c.deprecations.len()))
                .map_err(|e| e.to_string())
        };
        assert_eq!(hops(None, None), Ok((0, 0)), "the header is ignored unless told");
        assert_eq!(hops(Some(2), None), Ok((2, 0)));
        assert_eq!(hops(None, Some(true)), Ok((1, 1)), "the old switch is one proxy, with a warning");
        assert_eq!(hops(None, Some(false)), Ok((0, 1)));
        assert_eq!(hops(Some(1), Some(true)), Ok((1, 0)));
        assert!(hops(Some(0), Some(true)).is_err_and(|e| e.contains("contradicts")));
        assert!(hops(Some(2), Some(false)).is_err());
    }

    #[test]
    fn log_colour_and_base_path_settings() {
        use super::LogColor;
        let colour = |v: Option<&str>| {
            ConfigArgs { log_color: v.map(str::to_string), ..Default::default() }.resolve().map(|c| c.log_color)
        };
        assert_eq!(colour(None).unwrap(), LogColor::Auto);
        assert_eq!(colour(Some("never")).unwrap(), LogColor::Never);
        assert_eq!(colour(Some("always")).unwrap(), LogColor::Always);
        assert!(colour(Some("yes")).is_err());
        assert!(!LogColor::Auto.colour(false) && LogColor::Auto.colour(true) && LogColor::Always.colour(false));
        let base = |v: &str| {
            ConfigArgs { base_path: Some(v.to_string()), ..Default::default() }.resolve().map(|c| c.base_path)
        };
        assert_eq!(base("/linli/").unwrap(), "/linli");
        assert_eq!(base("").unwrap(), "");
        assert!(base("linli").is_err());
    }
}
