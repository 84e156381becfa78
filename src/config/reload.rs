//! Which option changes a running server can take on a reload (SIGHUP), and
//! the list of changes to log (nats-server `diffOptions`).
//!
//! Owns the reloadable set (`docs/operations.md#reload`) and the texts
//! `config reload not supported for <Field>: old=…, new=…` and
//! `Reloaded: <option> = <value>`. Values are compared after normalising
//! (effective bind hosts, effective timeouts), so an unchanged block never
//! counts as a change (nats-server#1509, #2273). It never applies anything.

use std::fmt;
use std::path::PathBuf;

use super::go::{format_duration, format_float};
use super::options::{ClusterOpts, Options};

/// One accepted change, printed as `Reloaded: <option> = <value>` (or
/// `Reloaded: <option>` when there is no value to show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub option: String,
    pub value: Option<String>,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "Reloaded: {} = {v}", self.option),
            None => write!(f, "Reloaded: {}", self.option),
        }
    }
}

/// Why a reload is refused as a whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReloadError {
    /// `config reload not supported for Port: old=4222, new=4223`.
    #[error("config reload not supported for {field}: old={old}, new={new}")]
    NotSupported {
        field: String,
        old: String,
        new: String,
    },
    /// The new file itself is invalid.
    #[error("{0}")]
    Config(#[from] super::error::ConfigError),
    /// Reload requested without `-c`.
    #[error("can only reload config when a file is provided using -c or --config")]
    NoConfigFile,
}

fn path(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Compares the running options with the new ones.
pub fn diff(old: &Options, new: &Options) -> Result<Vec<Change>, ReloadError> {
    let mut out = Vec::new();
    let fixed = |field: &str, o: String, n: String| -> Result<(), ReloadError> {
        if o != n {
            return Err(ReloadError::NotSupported {
                field: field.to_string(),
                old: o,
                new: n,
            });
        }
        Ok(())
    };
    // Not reloadable (nats-server's field names).
    fixed("Host", old.host.clone(), new.host.clone())?;
    if new.port != 0 && new.port != -1 {
        fixed("Port", old.port.to_string(), new.port.to_string())?;
    }
    fixed(
        "ServerName",
        old.server_name.clone(),
        new.server_name.clone(),
    )?;
    fixed(
        "HTTPHost",
        old.monitor_host().to_string(),
        new.monitor_host().to_string(),
    )?;
    fixed(
        "HTTPPort",
        old.http_port.to_string(),
        new.http_port.to_string(),
    )?;
    fixed(
        "HTTPSPort",
        old.https_port.to_string(),
        new.https_port.to_string(),
    )?;
    fixed(
        "HTTPBasePath",
        old.http_base_path.clone(),
        new.http_base_path.clone(),
    )?;
    fixed(
        "AllowNonTLS",
        old.allow_non_tls.to_string(),
        new.allow_non_tls.to_string(),
    )?;
    fixed(
        "MaxPending",
        old.max_pending.to_string(),
        new.max_pending.to_string(),
    )?;
    fixed(
        "MaxSubs",
        old.max_subscriptions.to_string(),
        new.max_subscriptions.to_string(),
    )?;
    fixed(
        "MaxSubTokens",
        old.max_sub_tokens.to_string(),
        new.max_sub_tokens.to_string(),
    )?;
    fixed(
        "LameDuckDuration",
        format_duration(old.lame_duck_duration),
        format_duration(new.lame_duck_duration),
    )?;
    fixed(
        "LameDuckGracePeriod",
        format_duration(old.lame_duck_grace_period),
        format_duration(new.lame_duck_grace_period),
    )?;
    fixed(
        "LogSizeLimit",
        old.log_size_limit.to_string(),
        new.log_size_limit.to_string(),
    )?;
    fixed(
        "LogMaxFiles",
        old.log_max_files.to_string(),
        new.log_max_files.to_string(),
    )?;
    fixed(
        "ProfPort",
        old.prof_port.to_string(),
        new.prof_port.to_string(),
    )?;
    fixed(
        "MaxClosedClients",
        old.max_closed_clients.to_string(),
        new.max_closed_clients.to_string(),
    )?;
    fixed(
        "NoSublistCache",
        old.disable_sublist_cache.to_string(),
        new.disable_sublist_cache.to_string(),
    )?;
    fixed(
        "NoHeaderSupport",
        old.no_header_support.to_string(),
        new.no_header_support.to_string(),
    )?;
    no_auth_user(old, new)?;
    cluster_fixed(&old.cluster, &new.cluster)?;
    system_account(old, new)?;
    fixed(
        "NoSystemAccount",
        old.no_sys_acc.to_string(),
        new.no_sys_acc.to_string(),
    )?;

    let mut push = |changed: bool, option: &str, value: Option<String>| {
        if changed {
            out.push(Change {
                option: option.to_string(),
                value,
            });
        }
    };
    let b = |v: bool| Some(v.to_string());
    push(
        old.trace_verbose != new.trace_verbose,
        "trace_verbose",
        b(new.trace_verbose),
    );
    push(old.trace != new.trace, "trace", b(new.trace));
    push(old.debug != new.debug, "debug", b(new.debug));
    push(old.logtime != new.logtime, "logtime", b(new.logtime));
    push(
        old.logtime_utc != new.logtime_utc,
        "logtime_utc",
        b(new.logtime_utc),
    );
    push(
        old.log_file != new.log_file,
        "log_file",
        Some(path(&new.log_file)),
    );
    push(old.syslog != new.syslog, "syslog", b(new.syslog));
    push(
        old.remote_syslog != new.remote_syslog,
        "remote_syslog",
        Some(new.remote_syslog.clone()),
    );
    let tls_state = if new.tls.is_some() {
        "enabled"
    } else {
        "disabled"
    };
    push(old.tls != new.tls, "tls", Some(tls_state.to_string()));
    let (oa, na) = (&old.authorization, &new.authorization);
    push(oa.user != na.user, "authorization username", None);
    push(oa.password != na.password, "authorization password", None);
    push(oa.token != na.token, "authorization token", None);
    let (ot, nt) = (
        oa.effective_timeout(old.tls.as_ref()),
        na.effective_timeout(new.tls.as_ref()),
    );
    push(
        ot != nt,
        "authorization timeout",
        Some(format_float(nt.as_secs_f64())),
    );
    push(
        oa.users != na.users || oa.default_permissions != na.default_permissions,
        "authorization users",
        None,
    );
    // nats-server reloads accounts (and the global account's mappings,
    // which it keeps as an account) as one option.
    push(
        old.accounts != new.accounts || old.mappings != new.mappings,
        ACCOUNTS_CHANGE,
        None,
    );
    let strip = |c: &ClusterOpts| ClusterOpts {
        routes: Vec::new(),
        host: String::new(),
        ..c.clone()
    };
    push(strip(&old.cluster) != strip(&new.cluster), "cluster", None);
    push(
        old.cluster.routes != new.cluster.routes,
        "cluster routes",
        None,
    );
    push(
        old.max_connections != new.max_connections,
        "max_connections",
        Some(new.max_connections.to_string()),
    );
    push(
        old.pid_file != new.pid_file,
        "pid_file",
        Some(path(&new.pid_file)),
    );
    push(
        old.ports_file_dir != new.ports_file_dir,
        "ports_file_dir",
        Some(path(&new.ports_file_dir)),
    );
    push(
        old.max_control_line != new.max_control_line,
        "max_control_line",
        Some(new.max_control_line.to_string()),
    );
    push(
        old.max_payload != new.max_payload,
        "max_payload",
        Some(new.max_payload.to_string()),
    );
    push(
        old.ping_interval != new.ping_interval,
        "ping_interval",
        Some(format_duration(new.ping_interval)),
    );
    push(
        old.ping_max != new.ping_max,
        "ping_max",
        Some(new.ping_max.to_string()),
    );
    push(
        old.write_deadline != new.write_deadline,
        "write_deadline",
        Some(format_duration(new.write_deadline)),
    );
    push(
        old.client_advertise != new.client_advertise,
        "client_advertise",
        Some(new.client_advertise.clone()),
    );
    push(
        old.max_traced_msg_len != new.max_traced_msg_len,
        "max_traced_msg_len",
        Some(new.max_traced_msg_len.to_string()),
    );
    push(
        old.connect_error_reports != new.connect_error_reports,
        "connect_error_reports",
        Some(new.connect_error_reports.to_string()),
    );
    push(
        old.reconnect_error_reports != new.reconnect_error_reports,
        "reconnect_error_reports",
        Some(new.reconnect_error_reports.to_string()),
    );
    Ok(out)
}

/// The option of the [`Change`] made when `accounts {}` or the top-level
/// `mappings {}` differ: `Reloaded: accounts`. The server rebuilds its
/// accounts (users, imports, exports, mappings, limits) on it.
pub const ACCOUNTS_CHANGE: &str = "accounts";

/// `system_account` cannot change, except from the default to unset (as
/// nats-server, whose running value of an unset one is `$SYS`).
fn system_account(old: &Options, new: &Options) -> Result<(), ReloadError> {
    let o = old
        .system_account
        .clone()
        .unwrap_or_else(|| super::DEFAULT_SYSTEM_ACCOUNT.to_string());
    let n = new.system_account.clone().unwrap_or_default();
    if o == n || (o == super::DEFAULT_SYSTEM_ACCOUNT && n.is_empty()) {
        return Ok(());
    }
    Err(ReloadError::NotSupported {
        field: "SystemAccount".into(),
        old: o,
        new: n,
    })
}

/// `no_auth_user` may only be removed, and only together with its user.
fn no_auth_user(old: &Options, new: &Options) -> Result<(), ReloadError> {
    let (o, n) = (&old.no_auth_user, &new.no_auth_user);
    if o == n {
        return Ok(());
    }
    let account_users = new.accounts.iter().flat_map(|a| &a.users);
    let still_a_user = new
        .authorization
        .users
        .iter()
        .flatten()
        .chain(account_users)
        .any(|u| &u.username == o);
    if !o.is_empty() && n.is_empty() && !still_a_user {
        return Ok(());
    }
    Err(ReloadError::NotSupported {
        field: "NoAuthUser".into(),
        old: o.clone(),
        new: n.clone(),
    })
}

/// Route listen host and port cannot change.
fn cluster_fixed(old: &ClusterOpts, new: &ClusterOpts) -> Result<(), ReloadError> {
    let (oh, nh) = (effective_host(old), effective_host(new));
    if oh != nh {
        return Err(ReloadError::NotSupported {
            field: "cluster host".into(),
            old: oh,
            new: nh,
        });
    }
    if old.port != new.port {
        return Err(ReloadError::NotSupported {
            field: "cluster port".into(),
            old: old.port.to_string(),
            new: new.port.to_string(),
        });
    }
    Ok(())
}

fn effective_host(c: &ClusterOpts) -> String {
    if c.enabled() {
        c.bind_host().to_string()
    } else {
        String::new()
    }
}
