//! The typed server options ([`Options`] and its blocks) with nats-server's
//! defaults.
//!
//! Owns the shape and the defaults only. Filling it from a file is
//! `apply.rs` (+ `auth.rs`, `cluster.rs`, `tls.rs`), from flags `process/cli/`,
//! cross-field checks `validate.rs`. Nothing here reads files or the
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use super::url::RouteUrl;

/// Default client port.
pub const DEFAULT_PORT: i32 = 4222;
/// Default bind address.
pub const DEFAULT_HOST: &str = "0.0.0.0";
/// Default maximum payload (1 MiB).
pub const MAX_PAYLOAD_SIZE: u32 = 1024 * 1024;
/// Default per-connection pending bytes before slow consumer (64 MiB).
pub const MAX_PENDING_SIZE: u64 = 64 * 1024 * 1024;
/// Default maximum control line.
pub const MAX_CONTROL_LINE_SIZE: u32 = 4096;
/// Default maximum connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64 * 1024;
/// Default ping interval.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(120);
/// Default outstanding pings before a connection is stale.
pub const DEFAULT_PING_MAX_OUT: u32 = 2;
/// Default write deadline.
pub const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// Default lame duck duration.
pub const DEFAULT_LAME_DUCK_DURATION: Duration = Duration::from_secs(120);
/// Default lame duck grace period.
pub const DEFAULT_LAME_DUCK_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// Default number of closed connections remembered for `/connz?state=closed`.
pub const DEFAULT_MAX_CLOSED_CLIENTS: usize = 10_000;
/// Default TLS handshake timeout.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(2);
/// Default authentication timeout (without TLS).
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Default connect error report interval (in attempts).
pub const DEFAULT_CONNECT_ERROR_REPORTS: u32 = 3600;
/// Default reconnect error report interval (in attempts).
pub const DEFAULT_RECONNECT_ERROR_REPORTS: u32 = 1;
/// Default route pool size (2.10+).
pub const DEFAULT_ROUTE_POOL_SIZE: i32 = 3;
/// Default response permission: messages allowed per request.
pub const DEFAULT_ALLOW_RESPONSE_MAX_MSGS: i64 = 1;
/// Default response permission: how long a reply subject stays allowed.
pub const DEFAULT_ALLOW_RESPONSE_EXPIRATION: Duration = Duration::from_secs(120);

/// Everything the server can be configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The `-c` file, as given.
    pub config_file: Option<String>,
    /// `server_name`; empty means "use the server id".
    pub server_name: String,
    /// Client bind host (`host`, `net`, `listen`, `-a`).
    pub host: String,
    /// Client port; `-1` asks for a random port.
    pub port: i32,
    /// `client_advertise`: the `host[:port]` put in connect_urls.
    pub client_advertise: String,

    /// Monitoring bind host; `None` means the client `host`.
    pub http_host: Option<String>,
    /// `http_port`/`monitor_port`/`http`: 0 = off, -1 = random.
    pub http_port: i32,
    /// `https_port`/`https`: 0 = off.
    pub https_port: i32,
    /// `http_base_path`, normalised (`/` when unset).
    pub http_base_path: String,

    pub authorization: Authorization,
    /// `no_auth_user`: user (from `users`) assumed for clients without credentials.
    pub no_auth_user: String,

    pub cluster: ClusterOpts,
    /// Client TLS (`tls {}` or the `--tls*` flags).
    pub tls: Option<TlsConfig>,
    pub allow_non_tls: bool,

    pub max_payload: u32,
    pub max_pending: u64,
    pub max_control_line: u32,
    /// `max_connections`/`max_conn`; `0` rejects every client.
    pub max_connections: usize,
    /// `max_subscriptions`/`max_subs` per connection; 0 = unlimited.
    pub max_subscriptions: usize,
    /// `max_sub_tokens`; 0 = unlimited.
    pub max_sub_tokens: u8,
    pub ping_interval: Duration,
    pub ping_max: u32,
    pub write_deadline: Duration,
    pub lame_duck_duration: Duration,
    pub lame_duck_grace_period: Duration,

    pub debug: bool,
    pub trace: bool,
    pub trace_verbose: bool,
    pub logtime: bool,
    pub logtime_utc: bool,
    pub log_file: Option<PathBuf>,
    pub log_size_limit: u64,
    pub log_max_files: u64,
    pub syslog: bool,
    pub remote_syslog: String,
    pub pid_file: Option<PathBuf>,
    pub ports_file_dir: Option<PathBuf>,
    pub max_traced_msg_len: usize,
    pub connect_error_reports: u32,
    pub reconnect_error_reports: u32,
    /// `prof_port`/`--profile`: 0 = off.
    pub prof_port: i32,
    pub max_closed_clients: usize,
    pub disable_sublist_cache: bool,
    pub no_header_support: bool,
    /// `store_dir` (file, also inside a disabled `jetstream {}`) or
    /// `-sd`/`--store_dir`: accepted and unused, as nats-server does with
    /// JetStream off (this server has no JetStream); empty when unset.
    pub store_dir: String,
    /// `accounts {}`, in file order (`$G` and the system account are not
    /// listed unless the file declares the system account).
    pub accounts: Vec<crate::config::AccountConfig>,
    /// `system_account` (alias `system`); `None` = `$SYS`.
    pub system_account: Option<String>,
    /// `no_sys_acc` (aliases `no_system_account`, `no_system`).
    pub no_sys_acc: bool,
    /// Top-level `mappings {}` (alias `maps`): the global account's.
    pub mappings: Vec<crate::config::MappingConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_file: None,
            server_name: String::new(),
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            client_advertise: String::new(),
            http_host: None,
            http_port: 0,
            https_port: 0,
            http_base_path: "/".to_string(),
            authorization: Authorization::default(),
            no_auth_user: String::new(),
            cluster: ClusterOpts::default(),
            tls: None,
            allow_non_tls: false,
            max_payload: MAX_PAYLOAD_SIZE,
            max_pending: MAX_PENDING_SIZE,
            max_control_line: MAX_CONTROL_LINE_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_subscriptions: 0,
            max_sub_tokens: 0,
            ping_interval: DEFAULT_PING_INTERVAL,
            ping_max: DEFAULT_PING_MAX_OUT,
            write_deadline: DEFAULT_WRITE_DEADLINE,
            lame_duck_duration: DEFAULT_LAME_DUCK_DURATION,
            lame_duck_grace_period: DEFAULT_LAME_DUCK_GRACE_PERIOD,
            debug: false,
            trace: false,
            trace_verbose: false,
            logtime: true,
            logtime_utc: false,
            log_file: None,
            log_size_limit: 0,
            log_max_files: 0,
            syslog: false,
            remote_syslog: String::new(),
            pid_file: None,
            ports_file_dir: None,
            max_traced_msg_len: 0,
            connect_error_reports: DEFAULT_CONNECT_ERROR_REPORTS,
            reconnect_error_reports: DEFAULT_RECONNECT_ERROR_REPORTS,
            prof_port: 0,
            max_closed_clients: DEFAULT_MAX_CLOSED_CLIENTS,
            disable_sublist_cache: false,
            no_header_support: false,
            store_dir: String::new(),
            accounts: Vec::new(),
            system_account: None,
            no_sys_acc: false,
            mappings: Vec::new(),
        }
    }
}

impl Options {
    /// The monitoring bind host (`http_host`, else the client host).
    pub fn monitor_host(&self) -> &str {
        self.http_host.as_deref().unwrap_or(&self.host)
    }

    /// True when any password in the configuration is not a bcrypt hash:
    /// the server then logs `[WRN] Plaintext passwords detected, use nkeys or bcrypt`.
    pub fn has_plaintext_passwords(&self) -> bool {
        let auth = &self.authorization;
        let single = auth
            .password
            .as_deref()
            .is_some_and(|p| !p.is_empty() && !is_bcrypt(p));
        let users = auth
            .users
            .iter()
            .flatten()
            .any(|u| !u.password.is_empty() && !is_bcrypt(&u.password));
        single || users
    }
}

/// True for a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$` followed by a
/// two-digit cost and `$`): such passwords are compared with bcrypt.
pub fn is_bcrypt(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// The top-level `authorization` block (plus `--user/--pass/--auth`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Authorization {
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// `timeout`; `None` = the default (2 s, or TLS timeout + 1 s with TLS).
    pub timeout: Option<Duration>,
    /// `users: [...]`; `Some(vec![])` for an explicit empty list.
    pub users: Option<Vec<User>>,
    /// `permissions`/`default_permissions`, already applied to users that
    /// have none of their own.
    pub default_permissions: Option<Permissions>,
}

impl Authorization {
    /// The effective authentication timeout for clients.
    pub fn effective_timeout(&self, tls: Option<&TlsConfig>) -> Duration {
        match (self.timeout, tls) {
            (Some(t), _) => t,
            (None, Some(tls)) => tls.timeout + Duration::from_secs(1),
            (None, None) => AUTH_TIMEOUT,
        }
    }
}

/// One entry of `authorization.users`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    pub username: String,
    /// An nkey user's public key (`U…`); then `username` may be empty.
    pub nkey: String,
    /// Plain text or a bcrypt hash (see [`is_bcrypt`]).
    pub password: String,
    pub permissions: Option<Permissions>,
    /// `allowed_connection_types`, upper-cased (`STANDARD`, `WEBSOCKET`, …).
    pub allowed_connection_types: Option<Vec<String>>,
}

/// Publish/subscribe permissions of a user (or route import/export).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Permissions {
    pub publish: Option<SubjectPermission>,
    pub subscribe: Option<SubjectPermission>,
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists; `None` means "not given" (allow everything).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectPermission {
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
}

/// `allow_responses`: reply subjects a user may publish to after receiving a
/// request.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePermission {
    /// Replies allowed per request; negative = unlimited.
    pub max_msgs: i64,
    /// How long the reply stays allowed; `None` = forever (negative in file).
    pub expires: Option<Duration>,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max_msgs: DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
            expires: Some(DEFAULT_ALLOW_RESPONSE_EXPIRATION),
        }
    }
}

/// The `cluster` block (plus `--cluster`, `--routes`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOpts {
    /// `name`; empty = generated at start.
    pub name: String,
    /// Route bind host; empty until a port is set (then `0.0.0.0`).
    pub host: String,
    /// Route port: 0 = clustering off, -1 = random.
    pub port: i32,
    pub username: String,
    pub password: String,
    /// `authorization.timeout`; `None` = default (2 s, TLS timeout + 1 s with TLS).
    pub auth_timeout: Option<Duration>,
    pub tls: Option<TlsConfig>,
    /// `advertise`/`cluster_advertise`.
    pub advertise: String,
    pub no_advertise: bool,
    pub connect_retries: u32,
    pub connect_backoff: bool,
    pub permissions: Option<RoutePermissions>,
    /// Routes to solicit, in file order.
    pub routes: Vec<RouteUrl>,
    /// 2.10+: connections per peer; -1 disables pooling.
    pub pool_size: i32,
    /// 2.10+: accounts with dedicated routes.
    pub accounts: Vec<String>,
    /// 2.10+: `accept` (default), `off`, `s2_auto`, `s2_fast`, … (stored as given).
    pub compression: String,
    /// 2.10+: per-route overrides of the top-level values.
    pub ping_interval: Option<Duration>,
    pub ping_max: Option<u32>,
    pub write_deadline: Option<Duration>,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            name: String::new(),
            host: String::new(),
            port: 0,
            username: String::new(),
            password: String::new(),
            auth_timeout: None,
            tls: None,
            advertise: String::new(),
            no_advertise: false,
            connect_retries: 0,
            connect_backoff: false,
            permissions: None,
            routes: Vec::new(),
            pool_size: DEFAULT_ROUTE_POOL_SIZE,
            accounts: Vec::new(),
            compression: String::new(),
            ping_interval: None,
            ping_max: None,
            write_deadline: None,
        }
    }
}

impl ClusterOpts {
    /// Clustering is on when a route port is configured.
    pub fn enabled(&self) -> bool {
        self.port != 0
    }

    /// The route bind host (`0.0.0.0` when unset).
    pub fn bind_host(&self) -> &str {
        if self.host.is_empty() {
            DEFAULT_HOST
        } else {
            &self.host
        }
    }
}

/// Route permissions: `import` (what we subscribe to from peers) and
/// `export` (what peers may subscribe to here).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoutePermissions {
    pub import: Option<SubjectPermission>,
    pub export: Option<SubjectPermission>,
}

/// A `tls {}` block.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    pub cert_file: String,
    pub key_file: String,
    pub ca_file: String,
    /// Require and verify client certificates.
    pub verify: bool,
    /// `verify_and_map`: also map the certificate subject to a user.
    pub map: bool,
    pub insecure: bool,
    /// Handshake timeout (default 2 s).
    pub timeout: Duration,
    /// Cipher suite names as Go spells them; empty = defaults.
    pub cipher_suites: Vec<String>,
    /// Curve names (`CurveP256`, `X25519`, …); empty = defaults.
    pub curve_preferences: Vec<String>,
    /// Lower-case hex SHA-256 of SubjectPublicKeyInfo.
    pub pinned_certs: Vec<String>,
    /// `handshake_first`/`first`/`immediate`: the TLS handshake before INFO.
    pub handshake_first: bool,
    /// With `handshake_first`: how long to wait for the client's handshake
    /// before serving it the classic way (`auto` = 50 ms, or a duration);
    /// `None` (also for `0s` or a negative duration) = no fallback.
    pub handshake_first_fallback: Option<Duration>,
    /// `min_version` (`1.2`, `1.3`).
    pub min_version: String,
    pub connection_rate_limit: i64,
    pub verify_cert_and_check_known_urls: bool,
    pub allow_insecure_cipher_suites: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            ca_file: String::new(),
            verify: false,
            map: false,
            insecure: false,
            timeout: TLS_TIMEOUT,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            pinned_certs: Vec::new(),
            handshake_first: false,
            handshake_first_fallback: None,
            min_version: String::new(),
            connection_rate_limit: 0,
            verify_cert_and_check_known_urls: false,
            allow_insecure_cipher_suites: false,
        }
    }
}
