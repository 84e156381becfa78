//! The command line of nats-server 2.x: every flag, Go `flag` syntax, the
//! usage text, and the precedence defaults → flags → file → flags again
//! (kept on reload).
//!
//! Owns argument parsing ([`Cli::parse`]), what the process should do
//! ([`Cli::action`]), building [`Options`] ([`options`], [`load`]),
//! reloading ([`reload`]) and `--signal` ([`SignalRequest`]). It never
//! starts a server, never prints and never exits: `main` does, with the
//! texts and exit codes carried by [`CliError`].
//!
//! Why not clap: Go's `flag` package accepts `-name` and `--name` alike,
//! has multi-letter single-dash flags that are not bundles (`-DV` is its
//! own flag, so `-DV=false` works), lets booleans take a value only with
//! `=`, stops at the first non-flag argument, lets the last of several
//! aliases win, and prints fixed texts (`flag provided but not defined:
//! -bogus`). Expressing that in clap needs a pre-parser that does the whole
//! job anyway, so the flag table below is hand-written.
//!
//! Deliberate differences: `-js`/`--jetstream` is refused (`JetStream is
//! not supported by this server (core NATS only)`), while `-sd`/
//! `--store_dir` alone is accepted and unused, as nats-server does with
//! JetStream off; a `--routes` entry that is not a URL is an error instead
//! of a crash later.

use std::fmt;

use crate::config::{
    self, go, ConfigError, Options, ReloadError, RouteUrl, TlsConfig, Warning, VERSION,
};

/// The usage text (nats-server 2.9.10's, which starts with a newline;
/// `main` prints it followed by a newline).
pub const USAGE: &str = r#"
Usage: nats-server [options]

Server Options:
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
    -m, --http_port <port>           Use port for http monitoring
    -ms,--https_port <port>          Use port for https monitoring
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to nats-server process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/nats-server.pid)
        --client_advertise <string>  Client URL to advertise to other servers
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -s, --syslog                     Log to syslog or windows event log
    -r, --remote_syslog <addr>       Syslog server addr (udp://localhost:514)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -VV                              Verbose trace (traces system account as well)
    -DV                              Debug and trace
    -DVV                             Debug and verbose trace (traces system account as well)
        --log_size_limit <limit>     Logfile size limit (default: auto)
        --max_traced_msg_len <len>   Maximum printable length for traced messages (default: unlimited)

JetStream Options:
    -js, --jetstream                 Enable JetStream functionality
    -sd, --store_dir <dir>           Set the storage directory

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries
        --cluster_listen <url>       Cluster url from which members can solicit routes

Profiling Options:
        --profile <port>             Profiling HTTP port

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
        --help_tls                   TLS help
"#;

/// `nats-server: v2.10.0`.
pub fn version_line() -> String {
    format!("nats-server: v{VERSION}")
}

/// The `--help_tls` text.
pub fn tls_help() -> String {
    let mut s = String::from(TLS_HELP);
    for c in config::CIPHER_SUITES {
        s.push_str(&format!("    {c}\n"));
    }
    s
}

const TLS_HELP: &str = "
TLS configuration is specified in the tls section of a configuration file:

e.g.

    tls {
        cert_file:      \"./certs/server-cert.pem\"
        key_file:       \"./certs/server-key.pem\"
        ca_file:        \"./certs/ca.pem\"
        verify:         true
        verify_and_map: true

        cipher_suites: [
            \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\",
            \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"
        ]
        curve_preferences: [
            \"CurveP256\",
            \"CurveP384\",
            \"CurveP521\"
        ]
    }

Available cipher suites include:
";

/// Which option a flag sets (aliases share one id, as they share one Go
/// variable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagId {
    Help,
    Port,
    ServerName,
    Addr,
    ClientAdvertise,
    Debug,
    Trace,
    /// `-VV`: trace, also the system account.
    TraceVerbose,
    /// `-DV`: debug and trace.
    DebugTrace,
    /// `-DVV`: debug and verbose trace.
    DebugTraceVerbose,
    Logtime,
    LogtimeUtc,
    User,
    Pass,
    Auth,
    HttpPort,
    HttpsPort,
    Config,
    CheckConfig,
    Signal,
    Pid,
    PortsFileDir,
    Log,
    LogSizeLimit,
    Syslog,
    RemoteSyslog,
    Version,
    Profile,
    Routes,
    ClusterListen,
    ClusterAdvertise,
    NoAdvertise,
    ConnectRetries,
    ClusterName,
    HelpTls,
    Tls,
    TlsVerify,
    TlsCert,
    TlsKey,
    TlsCaCert,
    MaxTracedMsgLen,
    JetStream,
    StoreDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    Str,
}

/// Every flag nats-server defines: (name, type, option).
const FLAGS: &[(&str, Ty, FlagId)] = {
    use FlagId::*;
    use Ty::*;
    &[
        ("h", Bool, Help),
        ("help", Bool, Help),
        ("port", Int, Port),
        ("p", Int, Port),
        ("n", Str, ServerName),
        ("name", Str, ServerName),
        ("server_name", Str, ServerName),
        ("addr", Str, Addr),
        ("a", Str, Addr),
        ("net", Str, Addr),
        ("client_advertise", Str, ClientAdvertise),
        ("D", Bool, Debug),
        ("debug", Bool, Debug),
        ("V", Bool, Trace),
        ("trace", Bool, Trace),
        ("VV", Bool, TraceVerbose),
        ("DV", Bool, DebugTrace),
        ("DVV", Bool, DebugTraceVerbose),
        ("T", Bool, Logtime),
        ("logtime", Bool, Logtime),
        ("logtime_utc", Bool, LogtimeUtc),
        ("user", Str, User),
        ("pass", Str, Pass),
        ("auth", Str, Auth),
        ("m", Int, HttpPort),
        ("http_port", Int, HttpPort),
        ("ms", Int, HttpsPort),
        ("https_port", Int, HttpsPort),
        ("c", Str, Config),
        ("config", Str, Config),
        ("t", Bool, CheckConfig),
        ("sl", Str, Signal),
        ("signal", Str, Signal),
        ("P", Str, Pid),
        ("pid", Str, Pid),
        ("ports_file_dir", Str, PortsFileDir),
        ("l", Str, Log),
        ("log", Str, Log),
        ("log_size_limit", Int, LogSizeLimit),
        ("s", Bool, Syslog),
        ("syslog", Bool, Syslog),
        ("r", Str, RemoteSyslog),
        ("remote_syslog", Str, RemoteSyslog),
        ("version", Bool, Version),
        ("v", Bool, Version),
        ("profile", Int, Profile),
        ("routes", Str, Routes),
        ("cluster", Str, ClusterListen),
        ("cluster_listen", Str, ClusterListen),
        ("cluster_advertise", Str, ClusterAdvertise),
        ("no_advertise", Bool, NoAdvertise),
        ("connect_retries", Int, ConnectRetries),
        ("cluster_name", Str, ClusterName),
        ("help_tls", Bool, HelpTls),
        ("tls", Bool, Tls),
        ("tlsverify", Bool, TlsVerify),
        ("tlscert", Str, TlsCert),
        ("tlskey", Str, TlsKey),
        ("tlscacert", Str, TlsCaCert),
        ("max_traced_msg_len", Int, MaxTracedMsgLen),
        ("js", Bool, JetStream),
        ("jetstream", Bool, JetStream),
        ("sd", Str, StoreDir),
        ("store_dir", Str, StoreDir),
    ]
};

/// A flag's parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

/// One flag as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetFlag {
    pub id: FlagId,
    /// The name used (`p`, `port`, `DV`…).
    pub name: String,
    pub value: FlagValue,
}

/// The parsed command line: the flags given, in order, so they can be
/// applied again over the configuration file (also after a reload).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cli {
    pub flags: Vec<SetFlag>,
    /// Arguments after the flags (`version`, `help`, or an error).
    pub positional: Vec<String>,
}

/// What the process is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Help,
    Version,
    HelpTls,
    Signal(SignalRequest),
    /// Check the configuration (`-t`) and exit.
    Check,
    Run,
}

/// Errors of the command line, with nats-server's texts.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CliError {
    /// A flag syntax error (`flag provided but not defined: -bogus`). Go
    /// prints it on stderr followed by the usage on stdout and exits 0.
    #[error("{0}")]
    Flag(String),
    #[error("unrecognized command: {0:?}")]
    UnrecognizedCommand(String),
    #[error("must specify [-c, --config] option to check configuration file syntax")]
    CheckWithoutConfig,
    #[error("solicited routes require cluster capabilities, e.g. --cluster")]
    RoutesWithoutCluster,
    /// `--cluster`, `--routes` or `--tls*` values that do not work.
    #[error("{0}")]
    Invalid(String),
    #[error("JetStream is not supported by this server (core NATS only)")]
    JetStreamUnsupported,
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Signal(String),
}

impl CliError {
    /// The exit code nats-server uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Flag(_) => 0,
            _ => 1,
        }
    }

    /// True when the usage text follows the message (flag syntax errors).
    pub fn prints_usage(&self) -> bool {
        matches!(self, CliError::Flag(_))
    }
}

impl Cli {
    /// Parses arguments (without the program name) with Go `flag` rules.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Cli, CliError> {
        let mut cli = Cli::default();
        let mut i = 0;
        while i < args.len() {
            let s = args[i].as_ref();
            if s.len() < 2 || !s.starts_with('-') {
                break;
            }
            let dashes = if s.as_bytes()[1] == b'-' { 2 } else { 1 };
            if s == "--" {
                i += 1;
                break;
            }
            let name_val = &s[dashes..];
            if name_val.is_empty() || name_val.starts_with('-') || name_val.starts_with('=') {
                return Err(CliError::Flag(format!("bad flag syntax: {s}")));
            }
            let (name, value) = match name_val.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (name_val, None),
            };
            let Some(&(_, ty, id)) = FLAGS.iter().find(|(n, _, _)| *n == name) else {
                return Err(CliError::Flag(format!(
                    "flag provided but not defined: -{name}"
                )));
            };
            i += 1;
            let value = match (ty, value) {
                (Ty::Bool, None) => FlagValue::Bool(true),
                (Ty::Bool, Some(v)) => FlagValue::Bool(parse_bool(v).ok_or_else(|| {
                    CliError::Flag(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    ))
                })?),
                (_, v) => {
                    let v = match v {
                        Some(v) => v.to_string(),
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].as_ref().to_string()
                        }
                        None => {
                            return Err(CliError::Flag(format!("flag needs an argument: -{name}")))
                        }
                    };
                    if ty == Ty::Str {
                        FlagValue::Str(v)
                    } else {
                        FlagValue::Int(parse_int(&v).map_err(|e| {
                            CliError::Flag(format!("invalid value {v:?} for flag -{name}: {e}"))
                        })?)
                    }
                }
            };
            cli.flags.push(SetFlag {
                id,
                name: name.to_string(),
                value,
            });
        }
        cli.positional = args[i..].iter().map(|s| s.as_ref().to_string()).collect();
        Ok(cli)
    }

    fn last(&self, id: FlagId) -> Option<&FlagValue> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.id == id)
            .map(|f| &f.value)
    }

    fn last_bool(&self, id: FlagId) -> bool {
        matches!(self.last(id), Some(FlagValue::Bool(true)))
    }

    fn last_str(&self, id: FlagId) -> Option<&str> {
        match self.last(id) {
            Some(FlagValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The `-c` file, if any.
    pub fn config_file(&self) -> Option<&str> {
        self.last_str(FlagId::Config).filter(|s| !s.is_empty())
    }

    /// True when `-t` was given.
    pub fn check_config(&self) -> bool {
        self.last_bool(FlagId::CheckConfig)
    }

    /// What to do, in nats-server's order: version, help, TLS help, the
    /// positional command, signal, check, run.
    pub fn action(&self) -> Result<Action, CliError> {
        if self.last_bool(FlagId::Version) {
            return Ok(Action::Version);
        }
        if self.last_bool(FlagId::Help) {
            return Ok(Action::Help);
        }
        if self.last_bool(FlagId::HelpTls) {
            return Ok(Action::HelpTls);
        }
        if let Some(arg) = self.positional.first() {
            return match arg.to_lowercase().as_str() {
                "version" => Ok(Action::Version),
                "help" => Ok(Action::Help),
                _ => Err(CliError::UnrecognizedCommand(arg.clone())),
            };
        }
        if let Some(sig) = self.last_str(FlagId::Signal).filter(|s| !s.is_empty()) {
            return Ok(Action::Signal(SignalRequest::parse(sig)?));
        }
        if self.check_config() {
            return Ok(Action::Check);
        }
        Ok(Action::Run)
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, `0x`/`0o`/`0b`/leading-0 octal.
fn parse_int(s: &str) -> Result<i64, &'static str> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err("parse error");
    }
    let mag = u64::from_str_radix(&digits, radix).map_err(|_| "value out of range")?;
    if neg {
        if mag > i64::MAX as u64 + 1 {
            return Err("value out of range");
        }
        Ok((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).map_err(|_| "value out of range")
    }
}

impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagValue::Bool(b) => write!(f, "{b}"),
            FlagValue::Int(n) => write!(f, "{n}"),
            FlagValue::Str(s) => f.write_str(s),
        }
    }
}

// ---- options: defaults → flags → file → flags again ----

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

// ---- --signal ----

/// A `--signal` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalCommand {
    /// SIGKILL
    Stop,
    /// SIGINT
    Quit,
    /// SIGTERM
    Term,
    /// SIGUSR1: reopen the log file
    Reopen,
    /// SIGHUP: reload the configuration
    Reload,
    /// SIGUSR2: lame duck mode
    Ldm,
    /// Not a command: nats-server reports `unknown signal "x"` only after
    /// it has found the process, so the error waits for [`SignalRequest::send`].
    Unknown(String),
}

impl SignalCommand {
    pub fn name(&self) -> &str {
        match self {
            SignalCommand::Stop => "stop",
            SignalCommand::Quit => "quit",
            SignalCommand::Term => "term",
            SignalCommand::Reopen => "reopen",
            SignalCommand::Reload => "reload",
            SignalCommand::Ldm => "ldm",
            SignalCommand::Unknown(s) => s,
        }
    }

    fn signal(&self) -> Result<rustix::process::Signal, CliError> {
        use rustix::process::Signal;
        Ok(match self {
            SignalCommand::Stop => Signal::KILL,
            SignalCommand::Quit => Signal::INT,
            SignalCommand::Term => Signal::TERM,
            SignalCommand::Reopen => Signal::USR1,
            SignalCommand::Reload => Signal::HUP,
            SignalCommand::Ldm => Signal::USR2,
            SignalCommand::Unknown(s) => {
                return Err(CliError::Signal(format!("unknown signal {s:?}")))
            }
        })
    }
}

/// `--signal <cmd>[=<pid|pidfile>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRequest {
    pub command: SignalCommand,
    /// A pid or a pid file path; `None` means the one process named
    /// `nats-server` (an error if there are none or several).
    pub target: Option<String>,
}

impl SignalRequest {
    pub fn parse(s: &str) -> Result<SignalRequest, CliError> {
        let parts: Vec<&str> = s.split('=').collect();
        if parts.len() > 2 {
            return Err(CliError::Signal(format!(
                "invalid signal parameters: [{}]",
                parts[2..].join(" ")
            )));
        }
        let command = match parts[0] {
            "stop" => SignalCommand::Stop,
            "quit" => SignalCommand::Quit,
            "term" => SignalCommand::Term,
            "reopen" => SignalCommand::Reopen,
            "reload" => SignalCommand::Reload,
            "ldm" => SignalCommand::Ldm,
            other => SignalCommand::Unknown(other.to_string()),
        };
        Ok(SignalRequest {
            command,
            target: parts.get(1).map(|p| p.to_string()),
        })
    }

    /// Sends the signal (nats-server 2.9's `ProcessSignal`): the target is
    /// read as a pid file if such a file exists, else taken as a pid;
    /// without a target the single running `nats-server` is signalled.
    pub fn send(&self) -> Result<(), CliError> {
        let target = self
            .target
            .as_deref()
            .map(|t| std::fs::read_to_string(t).unwrap_or_else(|_| t.to_string()));
        let pid = match target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => go::atoi(t)
                .and_then(|p| i32::try_from(p).ok())
                .ok_or_else(|| CliError::Signal(format!("invalid pid: {t}")))?,
            None => {
                let pids = nats_server_pids();
                match pids.as_slice() {
                    [] => return Err(CliError::Signal("no nats-server processes running".into())),
                    [one] => *one,
                    many => {
                        let list: Vec<String> = many.iter().map(i32::to_string).collect();
                        return Err(CliError::Signal(format!(
                            "multiple nats-server processes running:\n{}",
                            list.join("\n")
                        )));
                    }
                }
            }
        };
        let signal = self.command.signal()?;
        rustix::process::Pid::from_raw(pid)
            .ok_or(rustix::io::Errno::SRCH)
            .and_then(|p| rustix::process::kill_process(p, signal))
            .map_err(|e| CliError::Signal(go::errno_text(&std::io::Error::from(e))))
    }
}

/// Pids of processes named `nats-server` other than this one (what
/// `pgrep nats-server` would list).
fn nats_server_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "nats-server")
        })
        .collect();
    pids.sort_unstable();
    pids
}
