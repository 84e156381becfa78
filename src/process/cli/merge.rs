//! Turning the command line into [`Options`]: defaults, then flags, then
//! the `-c` file, then flags again (so flags win over the file, also after a
//! reload), then the flags with effects across options (`-DV`, `--cluster`,
//! `--routes`, `--tls*`).
//!
//! **Must never:** start anything or validate across options for `-t`
//! (nats-server checks that when creating the server).

use crate::config::{self, ConfigError, Options, ReloadError, RouteUrl, TlsConfig, Warning};

use super::{Cli, CliError, FlagId, FlagValue, SetFlag};

/// Parsed command line plus the options built from it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub cli: Cli,
    pub options: Options,
    /// Configuration warnings (printed, startup continues).
    pub warnings: Vec<Warning>,
}

/// What `-t` prints (on stderr) for a valid file, as nats-server 2.9.10.
pub fn config_valid_line(file: &str) -> String {
    format!("nats-server: configuration file {file} is valid")
}

/// Parses `args`, builds the options and (unless `-t`) validates them as
/// nats-server does before starting, whatever [`Cli::action`] says.
pub fn load<S: AsRef<str>>(args: &[S]) -> Result<Loaded, CliError> {
    let cli = Cli::parse(args)?;
    let (options, warnings) = options(&cli)?;
    if !cli.check_config() {
        options.validate()?;
    }
    Ok(Loaded {
        cli,
        options,
        warnings,
    })
}

/// Builds options: defaults, then flags, then the `-c` file, then flags
/// again, then the flags with cross-option effects (`-DV`, `-VV`, `-DVV`,
/// `--cluster`, `--routes`, `--tls*`, in Go's lexicographic visiting
/// order). With `-t`, warnings are errors and flags are not re-applied.
///
/// Cross-field validation ([`Options::validate`]) is left to the caller
/// ([`load`] and [`reload`] run it): nats-server runs it when creating the
/// server, not under `-t`.
pub fn options(cli: &Cli) -> Result<(Options, Vec<Warning>), CliError> {
    let mut o = Options::default();
    apply_flags(cli, &mut o)?;
    let mut warnings = Vec::new();
    match cli.config_file() {
        Some(file) => {
            warnings = o.apply_file(file)?;
            if cli.check_config() {
                if !warnings.is_empty() {
                    return Err(ConfigError::Process {
                        warnings,
                        errors: Vec::new(),
                    }
                    .into());
                }
                return Ok((o, warnings));
            }
            apply_flags(cli, &mut o)?;
        }
        None if cli.check_config() => return Err(CliError::CheckWithoutConfig),
        None => {}
    }
    apply_special(cli, &mut o)?;
    Ok((o, warnings))
}

/// Re-reads the configuration file for a reload (SIGHUP), re-applies the
/// command line on top and diffs against the running options.
pub fn reload(cli: &Cli, old: &Options) -> Result<(Options, Vec<config::Change>), ReloadError> {
    if cli.config_file().is_none() {
        return Err(ReloadError::NoConfigFile);
    }
    let (new, _warnings) = options(cli).map_err(|e| match e {
        CliError::Config(c) => ReloadError::Config(c),
        other => ReloadError::Config(ConfigError::Invalid(other.to_string())),
    })?;
    new.validate()?;
    let changes = config::diff(old, &new)?;
    Ok((new, changes))
}

fn int_in<T: TryFrom<i64>>(f: &SetFlag, n: i64) -> Result<T, CliError> {
    T::try_from(n).map_err(|_| {
        CliError::Flag(format!(
            "invalid value \"{n}\" for flag -{}: value out of range",
            f.name
        ))
    })
}

/// The plain flags: each sets its option (last one wins).
fn apply_flags(cli: &Cli, o: &mut Options) -> Result<(), CliError> {
    use FlagId::*;
    for f in &cli.flags {
        match (&f.value, f.id) {
            (FlagValue::Int(n), Port) => o.port = port(f, *n)?,
            (FlagValue::Int(n), HttpPort) => o.http_port = port(f, *n)?,
            (FlagValue::Int(n), HttpsPort) => o.https_port = port(f, *n)?,
            (FlagValue::Int(n), Profile) => o.prof_port = port(f, *n)?,
            (FlagValue::Int(n), LogSizeLimit) => o.log_size_limit = int_in(f, *n)?,
            (FlagValue::Int(n), ConnectRetries) => o.cluster.connect_retries = int_in(f, *n)?,
            (FlagValue::Int(n), MaxTracedMsgLen) => o.max_traced_msg_len = int_in(f, *n)?,
            (FlagValue::Str(s), ServerName) => o.server_name = s.clone(),
            (FlagValue::Str(s), Addr) => o.host = s.clone(),
            (FlagValue::Str(s), ClientAdvertise) => o.client_advertise = s.clone(),
            (FlagValue::Str(s), User) => o.authorization.user = Some(s.clone()),
            (FlagValue::Str(s), Pass) => o.authorization.password = Some(s.clone()),
            (FlagValue::Str(s), Auth) => o.authorization.token = Some(s.clone()),
            (FlagValue::Str(s), Pid) => o.pid_file = non_empty(s).map(Into::into),
            (FlagValue::Str(s), PortsFileDir) => o.ports_file_dir = non_empty(s).map(Into::into),
            (FlagValue::Str(s), Log) => o.log_file = non_empty(s).map(Into::into),
            (FlagValue::Str(s), RemoteSyslog) => o.remote_syslog = s.clone(),
            (FlagValue::Str(s), ClusterAdvertise) => o.cluster.advertise = s.clone(),
            (FlagValue::Str(s), ClusterName) => o.cluster.name = s.clone(),
            (FlagValue::Bool(b), Debug) => o.debug = *b,
            (FlagValue::Bool(b), Trace) => o.trace = *b,
            (FlagValue::Bool(b), Logtime) => o.logtime = *b,
            (FlagValue::Bool(b), LogtimeUtc) => o.logtime_utc = *b,
            (FlagValue::Bool(b), Syslog) => o.syslog = *b,
            (FlagValue::Bool(b), NoAdvertise) => o.cluster.no_advertise = *b,
            (FlagValue::Bool(true), JetStream) => return Err(CliError::JetStreamUnsupported),
            (FlagValue::Str(s), StoreDir) => o.store_dir = s.clone(),
            _ => {}
        }
    }
    Ok(())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn port(f: &SetFlag, n: i64) -> Result<i32, CliError> {
    if (-1..=65535).contains(&n) {
        Ok(n as i32)
    } else {
        Err(CliError::Flag(format!(
            "invalid value \"{n}\" for flag -{}: value out of range",
            f.name
        )))
    }
}

/// Flags with effects beyond one option, visited in Go's order (by name).
fn apply_special(cli: &Cli, o: &mut Options) -> Result<(), CliError> {
    use FlagId::*;
    let mut names: Vec<&SetFlag> = Vec::new();
    for f in &cli.flags {
        // Go visits each flag name once, with its final value.
        names.retain(|g| g.name != f.name);
        names.push(f);
    }
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let (mut tls_override, mut tls_disabled) = (false, false);
    for f in names {
        match (&f.value, f.id) {
            (FlagValue::Bool(b), TraceVerbose) => (o.trace, o.trace_verbose) = (*b, *b),
            (FlagValue::Bool(b), DebugTraceVerbose) => {
                (o.trace, o.debug, o.trace_verbose) = (*b, *b, *b)
            }
            (FlagValue::Bool(b), DebugTrace) => (o.trace, o.debug) = (*b, *b),
            (FlagValue::Str(s), ClusterListen) => override_cluster(o, s)?,
            (FlagValue::Str(s), Routes) => {
                o.cluster.routes = routes_from_str(s)?;
            }
            (FlagValue::Bool(b), Tls) => {
                if *b {
                    tls_override = true;
                } else {
                    o.tls = None;
                    tls_disabled = true;
                    tls_override = false;
                }
            }
            (_, TlsVerify | TlsCert | TlsKey | TlsCaCert) if !tls_disabled => tls_override = true,
            _ => {}
        }
    }
    if tls_override {
        o.tls = Some(override_tls(cli)?);
    }
    let routes_flag = cli.last_str(Routes).is_some_and(|s| !s.is_empty());
    let listen_flag = cli.last_str(ClusterListen).is_some_and(|s| !s.is_empty());
    if routes_flag && !listen_flag && o.cluster.host.is_empty() && o.cluster.port == 0 {
        return Err(CliError::RoutesWithoutCluster);
    }
    Ok(())
}

/// `--routes a,b`: comma-separated URLs; an empty string clears the routes.
fn routes_from_str(s: &str) -> Result<Vec<RouteUrl>, CliError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|r| {
            RouteUrl::parse(r)
                .map_err(|_| CliError::Invalid(format!("error parsing route url [{:?}]", r.trim())))
        })
        .collect()
}

/// `--cluster nats://[user:pass@]host:port` (port -1 = random; empty
/// string disables clustering).
fn override_cluster(o: &mut Options, listen: &str) -> Result<(), CliError> {
    if listen.is_empty() {
        o.cluster.port = 0;
        return Ok(());
    }
    let (text, random) = match listen.strip_suffix(":-1") {
        Some(prefix) => (format!("{prefix}:0"), true),
        None => (listen.to_string(), false),
    };
    let u =
        RouteUrl::parse(&text).map_err(|e| CliError::Invalid(format!("parse {text:?}: {e}")))?;
    let hostport = match u.port {
        Some(p) if u.host.contains(':') => format!("[{}]:{p}", u.host),
        Some(p) => format!("{}:{p}", u.host),
        None => u.host.clone(),
    };
    let Some(p) = u.port else {
        return Err(CliError::Invalid(if hostport.is_empty() {
            "missing port in address".to_string()
        } else {
            format!("address {hostport}: missing port in address")
        }));
    };
    o.cluster.host = u.host.clone();
    o.cluster.port = if random { -1 } else { i32::from(p) };
    match (&u.username, &u.password) {
        (Some(_), None) => {
            return Err(CliError::Invalid(
                "expected cluster password to be set".into(),
            ))
        }
        (Some(user), Some(pass)) => {
            o.cluster.username = user.clone();
            o.cluster.password = pass.clone();
        }
        _ => {
            o.cluster.username.clear();
            o.cluster.password.clear();
        }
    }
    Ok(())
}

/// `--tls --tlscert f --tlskey k [--tlscacert ca] [--tlsverify]`.
fn override_tls(cli: &Cli) -> Result<TlsConfig, CliError> {
    let cert = cli.last_str(FlagId::TlsCert).unwrap_or_default();
    let key = cli.last_str(FlagId::TlsKey).unwrap_or_default();
    if cert.is_empty() {
        return Err(CliError::Invalid(
            "TLS Server certificate must be present and valid".into(),
        ));
    }
    if key.is_empty() {
        return Err(CliError::Invalid(
            "TLS Server private key must be present and valid".into(),
        ));
    }
    let tc = TlsConfig {
        cert_file: cert.to_string(),
        key_file: key.to_string(),
        ca_file: cli
            .last_str(FlagId::TlsCaCert)
            .unwrap_or_default()
            .to_string(),
        verify: cli.last_bool(FlagId::TlsVerify),
        ..TlsConfig::default()
    };
    tc.check_files().map_err(CliError::Invalid)?;
    Ok(tc)
}
