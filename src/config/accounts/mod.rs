//! The typed form of `accounts {}`, `system_account`, `no_sys_acc` and
//! `mappings {}` (top level and per account): what the routing core builds
//! its accounts, imports, exports and subject mappings from.
//!
//! **Must never:** build runtime state (sublists, transforms): this is the
//! configuration's shape only; the routing core compiles it.

use std::time::Duration;

pub(super) mod apply;
pub(super) mod mappings;
mod parse;
mod validate;

pub use validate::MAX_CYCLE_SEARCH_DEPTH;

use crate::config::options::{Permissions, User};

/// The global account: users outside any account land here.
pub const GLOBAL_ACCOUNT: &str = "$G";
/// The default system account's name.
pub const DEFAULT_SYSTEM_ACCOUNT: &str = "$SYS";
/// Default `response_threshold` of a service export.
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);

/// One account of `accounts {}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountConfig {
    pub name: String,
    /// The account's public nkey (`A…`), when given.
    pub nkey: String,
    /// Users and nkey users that log in to this account.
    pub users: Vec<User>,
    /// Permissions of the account's users that have none of their own.
    pub default_permissions: Option<Permissions>,
    pub limits: AccountLimits,
    pub exports: Vec<ExportConfig>,
    pub imports: Vec<ImportConfig>,
    /// The account's own subject mappings, in file order.
    pub mappings: Vec<MappingConfig>,
}

/// `limits {}` of an account; `-1` means unlimited (nats-server's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    pub max_connections: i64,
    pub max_subscriptions: i64,
    pub max_payload: i64,
    pub max_leafnodes: i64,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            max_connections: -1,
            max_subscriptions: -1,
            max_payload: -1,
            max_leafnodes: -1,
        }
    }
}

/// A stream (one-way) or a service (request/reply) export or import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportKind {
    #[default]
    Stream,
    Service,
}

/// How many responses a service import's reply mapping lives for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    #[default]
    Singleton,
    Stream,
    Chunked,
}

impl ResponseType {
    /// The name `/accountz` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Singleton => "Singleton",
            ResponseType::Stream => "Streamed",
            ResponseType::Chunked => "Chunked",
        }
    }
}

/// `latency {}` of a service export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Percentage of requests sampled, 1–100 (`0` = headers-triggered).
    pub sampling: u8,
    /// Where the latency results are published, in the exporting account.
    pub subject: String,
}

/// One entry of an account's `exports`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportConfig {
    pub kind: ExportKind,
    pub subject: String,
    /// `accounts: [...]`: only these may import; `None` = public.
    pub accounts: Option<Vec<String>>,
    /// `account_token_position`: 1-based token that must equal the importer's
    /// name; 0 = not set.
    pub token_position: u8,
    pub response_type: ResponseType,
    pub response_threshold: Duration,
    pub latency: Option<LatencyConfig>,
    pub allow_trace: bool,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            kind: ExportKind::Stream,
            subject: String::new(),
            accounts: None,
            token_position: 0,
            response_type: ResponseType::Singleton,
            response_threshold: DEFAULT_RESPONSE_THRESHOLD,
            latency: None,
            allow_trace: false,
        }
    }
}

/// One entry of an account's `imports`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportConfig {
    pub kind: ExportKind,
    /// The exporting account.
    pub account: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// `to`: the local subject (may use `$N` / `{{wildcard(N)}}`).
    pub to: Option<String>,
    /// `prefix` (streams): the local subject is `<prefix>.<subject>`.
    pub prefix: Option<String>,
    /// `share` (services): pass the requester's full client info.
    pub share: bool,
}

/// One source of `mappings {}` and its destinations.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MappingConfig {
    pub source: String,
    pub destinations: Vec<MapDest>,
}

/// One destination of a mapping: a plain string is weight 100.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapDest {
    pub subject: String,
    /// Percent, 0–100.
    pub weight: u8,
    /// `cluster`: used only when this server's cluster has this name.
    pub cluster: Option<String>,
}

impl crate::config::Options {
    /// The permissions of `user` (a name or an nkey) in `account`: its own,
    /// else its account's `default_permissions`, else the top level's
    /// (`$G` users).
    pub fn user_permissions(&self, account: &str, user: &str) -> Option<&Permissions> {
        let named = |u: &&User| u.username == user || (!u.nkey.is_empty() && u.nkey == user);
        if account == GLOBAL_ACCOUNT {
            let auth = &self.authorization;
            let u = auth.users.iter().flatten().find(named)?;
            return u.permissions.as_ref().or(auth.default_permissions.as_ref());
        }
        let acc = self.accounts.iter().find(|a| a.name == account)?;
        let u = acc.users.iter().find(named)?;
        u.permissions.as_ref().or(acc.default_permissions.as_ref())
    }
}
