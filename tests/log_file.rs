//! File destination: creation and append, size rotation with nats-server's
//! backup names and `\r\n` notices, `logfile_max_num` pruning, reopen after
//! logrotate moved the file, reconfiguration and open errors.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nats_server::log::{Level, LogConfig, LogError, Logger};
use regex::Regex;

fn file_config(path: &Path) -> LogConfig {
    LogConfig {
        log_file: Some(path.to_path_buf()),
        ..LogConfig::default()
    }
}

fn read(path: &Path) -> String {
    String::from_utf8(fs::read(path).unwrap()).unwrap()
}

/// Backups of `base` in `dir`, sorted (oldest first).
fn backups(dir: &Path, base: &str) -> Vec<PathBuf> {
    let re = Regex::new(&format!(
        r"^{}\.\d{{4}}\.\d\d\.\d\d\.\d\d\.\d\d\.\d\d\.\d{{9}}$",
        regex::escape(base)
    ))
    .unwrap();
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| re.is_match(p.file_name().unwrap().to_str().unwrap()))
        .collect();
    v.sort();
    v
}

fn ts() -> &'static str {
    r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}"
}

#[test]
fn creates_with_0640_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nats.log");
    fs::write(&path, "old line\n").unwrap();
    let l = Logger::new(file_config(&path)).unwrap();
    l.log(Level::Info, format_args!("Server is ready"));
    l.flush().unwrap();
    let pid = std::process::id();
    let re = Regex::new(&format!(
        r"^old line\n\[{pid}\] {} \[INF\] Server is ready\n$",
        ts()
    ))
    .unwrap();
    assert!(re.is_match(&read(&path)), "{}", read(&path));

    let fresh = dir.path().join("fresh.log");
    let l2 = Logger::new(file_config(&fresh)).unwrap();
    l2.log(Level::Warn, format_args!("w"));
    l2.flush().unwrap();
    // 0640 before the umask; a umask never adds bits.
    let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & !0o640, 0, "mode {mode:o}");
    assert!(mode & 0o600 == 0o600);
}

#[test]
fn file_lines_have_no_colour_even_with_timestamps_off() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    let l = Logger::new(LogConfig {
        logtime: false,
        ..file_config(&path)
    })
    .unwrap();
    l.log(Level::Error, format_args!("e"));
    l.flush().unwrap();
    assert_eq!(read(&path), format!("[{}] [ERR] e\n", std::process::id()));
}

#[test]
fn rotates_by_size_with_nats_backup_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    let l = Logger::new(LogConfig {
        log_size_limit: 200,
        logtime: false,
        ..file_config(&path)
    })
    .unwrap();
    let pid = std::process::id();
    // Each line is "[pid] [INF] line NN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".
    for i in 0..4 {
        l.log(Level::Info, format_args!("line {i:02} {}", "x".repeat(40)));
    }
    l.flush().unwrap();
    let b = backups(dir.path(), "n.log");
    assert_eq!(b.len(), 1, "{b:?}");
    // The line that crossed the limit stays in the backup.
    let old = read(&b[0]);
    assert!(
        old.len() > 200 && old.ends_with(&format!("line 03 {}\n", "x".repeat(40))),
        "{old}"
    );
    assert_eq!(old.lines().count(), 4);
    // The new file starts with nats-server's notice, CRLF-terminated.
    let new = read(&path);
    assert_eq!(
        new,
        format!(
            "[{pid}] [INF] Rotated log, backup saved as \"{}\"\r\n",
            b[0].display()
        )
    );
    l.log(Level::Info, format_args!("after"));
    l.flush().unwrap();
    assert!(read(&path).ends_with(&format!("\r\n[{pid}] [INF] after\n")));
}

#[test]
fn max_num_keeps_that_many_files_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    let l = Logger::new(LogConfig {
        log_size_limit: 100,
        log_max_num: 3,
        ..file_config(&path)
    })
    .unwrap();
    // A stray file with the prefix but no timestamp is never purged.
    fs::write(dir.path().join("n.log.keep"), "").unwrap();
    let mut seen = Vec::new();
    for i in 0..8 {
        l.log(
            Level::Info,
            format_args!("rotation {i} {}", "y".repeat(120)),
        );
        l.flush().unwrap();
        seen.extend(backups(dir.path(), "n.log"));
        // Backup names carry nanoseconds; keep them distinct.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    seen.sort();
    seen.dedup();
    let left = backups(dir.path(), "n.log");
    // nats-server arithmetic: logfile_max_num 3 = live file + 2 backups.
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left, seen[seen.len() - 2..].to_vec(), "newest survive");
    assert!(dir.path().join("n.log.keep").exists());
    // The last rotation logged its purge right after the rotation notice.
    let live = read(&path);
    let purged = &seen[seen.len() - 3];
    let want = format!(
        "[INF] Purged log file \"{}\"\r\n",
        purged.file_name().unwrap().to_str().unwrap()
    );
    assert!(live.contains(&want), "{live}");
    let first = live.lines().next().unwrap();
    assert!(
        first.contains("[INF] Rotated log, backup saved as "),
        "{first}"
    );
}

#[test]
fn opening_an_oversized_file_rotates_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    fs::write(&path, "z".repeat(500)).unwrap();
    let l = Logger::new(LogConfig {
        log_size_limit: 100,
        logtime: false,
        ..file_config(&path)
    })
    .unwrap();
    l.flush().unwrap();
    let b = backups(dir.path(), "big.log");
    assert_eq!(b.len(), 1);
    let pid = std::process::id();
    assert_eq!(
        read(&b[0]),
        format!("{}[{pid}] [INF] Rotating logfile...\n", "z".repeat(500))
    );
    assert!(read(&path).starts_with(&format!("[{pid}] [INF] Rotated log, backup saved as ")));
}

#[test]
fn reopen_after_logrotate_moved_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    let moved = dir.path().join("n.log.1");
    let l = Logger::new(LogConfig {
        logtime: false,
        ..file_config(&path)
    })
    .unwrap();
    let pid = std::process::id();
    l.log(Level::Info, format_args!("before"));
    l.flush().unwrap();
    fs::rename(&path, &moved).unwrap();
    // Still writing to the moved file until told to reopen.
    l.log(Level::Info, format_args!("still old"));
    l.reopen().unwrap();
    l.log(Level::Info, format_args!("after"));
    l.flush().unwrap();
    assert_eq!(
        read(&moved),
        format!("[{pid}] [INF] before\n[{pid}] [INF] still old\n")
    );
    assert_eq!(
        read(&path),
        format!("[{pid}] [INF] File log re-opened\n[{pid}] [INF] after\n")
    );
}

#[test]
fn reopen_without_a_file_says_so() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let cap = Capture::default();
    let l = Logger::builder(LogConfig {
        logtime: false,
        ..LogConfig::default()
    })
    .writer(cap.clone())
    .build()
    .unwrap();
    l.reopen().unwrap();
    l.flush().unwrap();
    assert_eq!(
        String::from_utf8(cap.0.lock().unwrap().clone()).unwrap(),
        format!(
            "[{}] [INF] File log re-open ignored, not a file logger\n",
            std::process::id()
        )
    );
}

#[test]
fn reconfigure_moves_to_another_file_or_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let cfg = LogConfig {
        logtime: false,
        ..file_config(&a)
    };
    let l = Logger::new(cfg.clone()).unwrap();
    l.log(Level::Info, format_args!("in a"));
    l.reconfigure(LogConfig {
        log_file: Some(b.clone()),
        ..cfg.clone()
    })
    .unwrap();
    l.log(Level::Info, format_args!("in b"));
    let bad = l.reconfigure(LogConfig {
        log_file: Some(dir.path().join("missing/dir/c.log")),
        ..cfg.clone()
    });
    let expected = format!(
        "error opening file: open {}: no such file or directory",
        dir.path().join("missing/dir/c.log").display()
    );
    assert_eq!(bad.unwrap_err().to_string(), expected);
    l.log(Level::Info, format_args!("still b"));
    l.flush().unwrap();
    let pid = std::process::id();
    assert_eq!(read(&a), format!("[{pid}] [INF] in a\n"));
    assert_eq!(
        read(&b),
        format!("[{pid}] [INF] in b\n[{pid}] [INF] still b\n")
    );
}

#[test]
fn open_error_text_is_nats_servers() {
    let err = Logger::new(file_config(Path::new("/nonexistent-dir/x.log")))
        .err()
        .unwrap();
    assert!(matches!(err, LogError::OpenFile(_)));
    assert_eq!(
        err.to_string(),
        "error opening file: open /nonexistent-dir/x.log: no such file or directory"
    );
}

#[test]
fn file_wins_over_syslog_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    // The syslog targets do not exist: if they were used, build would fail.
    let l = Logger::builder(LogConfig {
        syslog: true,
        remote_syslog: Some("unix:///nonexistent/syslog.sock".into()),
        logtime: false,
        ..file_config(&path)
    })
    .local_syslog_paths(vec!["/nonexistent/log".into()])
    .build()
    .unwrap();
    l.log(Level::Info, format_args!("to file"));
    l.flush().unwrap();
    assert!(read(&path).ends_with("[INF] to file\n"));
}

#[test]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
fn same_file_bytes_as_the_real_nats_server() {
    let bin = support::real_2_9("same_file_bytes_as_the_real_nats_server");
    let dir = tempfile::tempdir().unwrap();
    let theirs_path = dir.path().join("theirs.log");
    let mut child = std::process::Command::new(&bin)
        .args(["-p", "-1", "-T=false", "-l"])
        .arg(&theirs_path)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !fs::read_to_string(&theirs_path).is_ok_and(|s| s.contains("Server is ready"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let theirs = read(&theirs_path);
    let first = theirs.split_inclusive('\n').next().unwrap();

    let ours_path = dir.path().join("ours.log");
    let l = Logger::new(LogConfig {
        logtime: false,
        ..file_config(&ours_path)
    })
    .unwrap();
    l.log(Level::Info, format_args!("Starting nats-server"));
    l.flush().unwrap();
    let pid_re = Regex::new(r"^\[\d+\] ").unwrap();
    assert_eq!(
        pid_re.replace(&read(&ours_path), "[PID] "),
        pid_re.replace(first, "[PID] ")
    );
    assert_eq!(
        fs::metadata(&ours_path).unwrap().permissions().mode() & 0o777 & 0o640,
        0o640
    );
}

#[test]
fn reconfigure_from_file_back_to_console_prints_each_line_once() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.log");
    let console = LogConfig {
        logtime: false,
        ..LogConfig::default()
    };
    let cap = Capture::default();
    let l = Logger::builder(console.clone())
        .writer(cap.clone())
        .build()
        .unwrap();
    l.log(Level::Info, format_args!("console 1"));
    l.reconfigure(LogConfig {
        log_file: Some(path.clone()),
        ..console.clone()
    })
    .unwrap();
    l.log(Level::Info, format_args!("file only"));
    l.reconfigure(console).unwrap();
    l.log(Level::Info, format_args!("console 2"));
    l.flush().unwrap();
    let pid = std::process::id();
    assert_eq!(
        String::from_utf8(cap.0.lock().unwrap().clone()).unwrap(),
        format!("[{pid}] [INF] console 1\n[{pid}] [INF] console 2\n")
    );
    assert_eq!(read(&path), format!("[{pid}] [INF] file only\n"));
}
