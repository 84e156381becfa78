//! The flag table (every flag nats-server defines, with its aliases) and
//! parsing arguments with Go `flag` rules ([`Cli::parse`]): `-name` and
//! `--name` alike, booleans take a value only with `=`, parsing stops at the
//! first non-flag argument, integers as Go's `strconv.ParseInt(s, 0, 64)`.
//!
//! **Must never:** interpret a flag's meaning (that is `merge.rs`), or
//! reorder the flags given (the last of several aliases wins).

use std::fmt;

use super::CliError;

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

    pub(super) fn last(&self, id: FlagId) -> Option<&FlagValue> {
        self.flags
            .iter()
            .rev()
            .find(|f| f.id == id)
            .map(|f| &f.value)
    }

    pub(super) fn last_bool(&self, id: FlagId) -> bool {
        matches!(self.last(id), Some(FlagValue::Bool(true)))
    }

    pub(super) fn last_str(&self, id: FlagId) -> Option<&str> {
        match self.last(id) {
            Some(FlagValue::Str(s)) => Some(s),
            _ => None,
        }
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
