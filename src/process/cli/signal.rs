//! `--signal <cmd>[=<pid|pidfile>]`: which signal a command means, and
//! finding and signalling the running server as nats-server 2.9 does.
//!
//! **Must never:** signal this process itself, or anything not named
//! `nats-server` when no target is given.

use crate::config::go;

use super::CliError;

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
