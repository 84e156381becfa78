//! Syslog destinations: the local `/dev/log` socket (`syslog: true`, `-s`)
//! and remote `udp://`, `tcp://` and `unix://` servers (`remote_syslog`,
//! `-r`).
//!
//! nats-server uses Go's `log/syslog`, and we send the same bytes it does
//! (captured from nats-server 2.9.10 and 2.15.1):
//!
//! * local socket and `unix://` (Go treats both as "local"):
//!   `<PRI>Nov 27 00:06:08 <tag>[<pid>]: <message>\n`
//!   (`time.Stamp`, day space-padded, no hostname);
//! * `udp://` and `tcp://`:
//!   `<PRI>2026-11-27T08:46:47+09:00 <hostname> <tag>[<pid>]: <message>\n`
//!   (RFC 3339 local time, `Z` for UTC); TCP has no octet counting, only the
//!   newline;
//! * the message carries no pid, timestamp or level label of its own;
//! * `tag` is the executable's file name (`argv[0]` basename);
//! * severities: INF and TRC notice(5), WRN warning(4), ERR err(3),
//!   FTL crit(2), DBG debug(7). The local logger uses facility daemon
//!   (`<29>` for a notice); the remote one facility 0 (kern, `<5>`), because
//!   nats-server opens it with priority `LOG_DEBUG` and Go takes the
//!   facility from that. We keep that quirk so existing syslog filters match.
//!
//! Like Go, a failed send reconnects once and retries; after that the line is
//! dropped. Network sockets get a write timeout so a dead TCP peer cannot
//! wedge the writer thread for long (it never wedges a caller either way).

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::format::{syslog_local_stamp, syslog_network_stamp};
use super::{Level, LogError};

/// Paths Go's `log/syslog` tries for the local daemon, in order.
pub const DEFAULT_LOCAL_PATHS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];

const FACILITY_KERN: u8 = 0;
const FACILITY_DAEMON: u8 = 3 << 3;
const NET_TIMEOUT: Duration = Duration::from_secs(5);

/// Where syslog lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    /// The local daemon, through the first of these sockets that accepts.
    Local(Vec<PathBuf>),
    Udp(String),
    Tcp(String),
    /// A stream socket (`unix:///path`), as Go dials it.
    Unix(PathBuf),
}

impl SyslogTarget {
    /// Parses a `remote_syslog` URL the way nats-server does:
    /// `udp://host:port`, `tcp://host:port`, `unix:///path`.
    pub fn parse_remote(url: &str) -> Result<SyslogTarget, LogError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            return Err(LogError::InvalidNetwork(scheme.to_string()));
        };
        match scheme {
            "udp" | "tcp" => {
                // The URL's host part: drop any path and user info.
                let host = rest.split('/').next().unwrap_or("");
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                Ok(if scheme == "udp" {
                    SyslogTarget::Udp(host.to_string())
                } else {
                    SyslogTarget::Tcp(host.to_string())
                })
            }
            "unix" => {
                let path = match rest.find('/') {
                    Some(i) => &rest[i..],
                    None => "",
                };
                Ok(SyslogTarget::Unix(PathBuf::from(path)))
            }
            other => Err(LogError::InvalidNetwork(other.to_string())),
        }
    }

    fn is_local_format(&self) -> bool {
        matches!(self, SyslogTarget::Local(_) | SyslogTarget::Unix(_))
    }

    fn facility(&self) -> u8 {
        match self {
            SyslogTarget::Local(_) => FACILITY_DAEMON,
            _ => FACILITY_KERN,
        }
    }
}

enum Conn {
    Datagram(UnixDatagram),
    Stream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self {
            Conn::Datagram(s) => s.send(packet).map(drop),
            Conn::Udp(s) => s.send(packet).map(drop),
            Conn::Stream(s) => s.write_all(packet),
            Conn::Tcp(s) => s.write_all(packet),
        }
    }
}

fn connect(target: &SyslogTarget) -> Result<Conn, LogError> {
    let err = |e: String| LogError::Syslog(e);
    match target {
        SyslogTarget::Local(paths) => {
            for path in paths {
                if let Ok(s) = UnixDatagram::unbound() {
                    if s.connect(path).is_ok() {
                        return Ok(Conn::Datagram(s));
                    }
                }
                if let Ok(s) = UnixStream::connect(path) {
                    return Ok(Conn::Stream(s));
                }
            }
            Err(err("Unix syslog delivery error".to_string()))
        }
        SyslogTarget::Udp(addr) => {
            let dial = |e: io::Error| err(format!("dial udp {addr}: {e}"));
            let remote = addr
                .to_socket_addrs()
                .map_err(dial)?
                .next()
                .ok_or_else(|| err(format!("dial udp {addr}: no address")))?;
            let local = if remote.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(local).map_err(dial)?;
            s.connect(remote).map_err(dial)?;
            Ok(Conn::Udp(s))
        }
        SyslogTarget::Tcp(addr) => {
            let dial = |e: io::Error| err(format!("dial tcp {addr}: {e}"));
            let mut last = None;
            for remote in addr.to_socket_addrs().map_err(dial)? {
                match TcpStream::connect_timeout(&remote, NET_TIMEOUT) {
                    Ok(s) => {
                        let _ = s.set_write_timeout(Some(NET_TIMEOUT));
                        return Ok(Conn::Tcp(s));
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(dial(last.unwrap_or_else(|| io::Error::other("no address"))))
        }
        SyslogTarget::Unix(path) => {
            let s = UnixStream::connect(path)
                .map_err(|e| err(format!("dial unix {}: {e}", path.display())))?;
            let _ = s.set_write_timeout(Some(NET_TIMEOUT));
            Ok(Conn::Stream(s))
        }
    }
}

/// An open syslog destination. Lives on the writer thread.
pub(crate) struct SyslogSink {
    target: SyslogTarget,
    conn: Option<Conn>,
    tag: String,
    hostname: String,
    pid: u32,
    packet: Vec<u8>,
}

impl SyslogSink {
    /// Connects now, so that configuration errors surface to the caller of
    /// `init`/`reconfigure` (nats-server exits with
    /// `error connecting to syslog: "…"`).
    pub(crate) fn open(
        target: SyslogTarget,
        tag: String,
        hostname: String,
        pid: u32,
    ) -> Result<SyslogSink, LogError> {
        let conn = connect(&target)?;
        Ok(SyslogSink {
            target,
            conn: Some(conn),
            tag,
            hostname,
            pid,
            packet: Vec::with_capacity(256),
        })
    }

    /// Builds the packet for one message (exposed for tests of the framing).
    pub(crate) fn frame(&mut self, level: Level, time: SystemTime, msg: &str) {
        let pri = self.target.facility() | level.syslog_severity();
        self.packet.clear();
        let header = if self.target.is_local_format() {
            format!(
                "<{pri}>{} {}[{}]: ",
                syslog_local_stamp(time),
                self.tag,
                self.pid
            )
        } else {
            format!(
                "<{pri}>{} {} {}[{}]: ",
                syslog_network_stamp(time),
                self.hostname,
                self.tag,
                self.pid
            )
        };
        self.packet.extend_from_slice(header.as_bytes());
        self.packet.extend_from_slice(msg.as_bytes());
        if !msg.ends_with('\n') {
            self.packet.push(b'\n');
        }
    }

    /// Sends one message; reconnects and retries once on failure, as Go's
    /// writer does. Returns false when the line was lost.
    pub(crate) fn write(&mut self, level: Level, time: SystemTime, msg: &str) -> bool {
        self.frame(level, time, msg);
        if let Some(conn) = self.conn.as_mut() {
            if conn.send(&self.packet).is_ok() {
                return true;
            }
        }
        self.conn = None;
        match connect(&self.target) {
            Ok(mut conn) => {
                let ok = conn.send(&self.packet).is_ok();
                if ok {
                    self.conn = Some(conn);
                }
                ok
            }
            Err(_) => false,
        }
    }
}

/// The syslog tag nats-server uses: the executable's file name as invoked.
pub fn default_tag() -> String {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "nats-server".to_string())
}

/// The host name sent in network syslog headers (Go: `os.Hostname()`).
pub fn default_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_remote_urls() {
        assert_eq!(
            SyslogTarget::parse_remote("udp://127.0.0.1:514").unwrap(),
            SyslogTarget::Udp("127.0.0.1:514".into())
        );
        assert_eq!(
            SyslogTarget::parse_remote("tcp://logs.example:601/x").unwrap(),
            SyslogTarget::Tcp("logs.example:601".into())
        );
        assert_eq!(
            SyslogTarget::parse_remote("unix:///var/run/syslog.sock").unwrap(),
            SyslogTarget::Unix("/var/run/syslog.sock".into())
        );
        let e = SyslogTarget::parse_remote("http://x:1").unwrap_err();
        assert_eq!(e.to_string(), "error invalid network type: \"http\"");
    }

    #[test]
    fn missing_local_socket_is_go_error() {
        let e = connect(&SyslogTarget::Local(vec!["/nonexistent/log".into()]))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "error connecting to syslog: \"Unix syslog delivery error\""
        );
    }
}
