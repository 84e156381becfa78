//! The log file destination (`-l`, `log_file`) with size-based rotation
//! (`log_size_limit`), backup pruning (`logfile_max_num`) and reopen.
//!
//! Matches nats-server's file logger (checked with 2.15.1):
//!
//! * the file is opened append-only and created with mode 0640 (2.15; 2.9
//!   used 0660);
//! * the size check runs after a line is written: the line that crosses the
//!   limit stays in the old file, which is then renamed to
//!   `<file>.YYYY.MM.DD.HH.MM.SS.nnnnnnnnn` (local time) and a new file is
//!   started with `[INF] Rotated log, backup saved as "<backup path>"`;
//! * with `logfile_max_num = N > 0` it keeps N files in all: the live one
//!   and the N-1 newest backups (nats-server's arithmetic), logging
//!   `[INF] Purged log file "<name>"` for each removal;
//! * the lines the rotation writes itself end in `\r\n`, as nats-server's do;
//! * opening an existing file already over the limit logs
//!   `Rotating logfile...`, which triggers the rotation at once.
//!
//! Deliberate differences: a failed rename or re-open is logged and retried
//! at twice the size (nats-server ignores the rename error and panics on the
//! re-open), and the rotation lines honour `logtime_utc`.
//!
//! Lives on the writer thread only; writes go through a `BufWriter` that the
//! writer flushes whenever its queue is empty.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::format::{backup_suffix, is_backup_suffix, Ending, LineStyle};
use super::quote::go_quote;
use super::{Level, LogError};

const LOG_FILE_MODE: u32 = 0o640;

pub(crate) struct FileSink {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    limit: u64,
    orig_limit: u64,
    max_num: u64,
    scratch: Vec<u8>,
}

fn open_append(path: &Path) -> io::Result<(File, u64)> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(LOG_FILE_MODE)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// Go's wording for the common open errors, so `error opening file: open
/// <path>: no such file or directory` reads as nats-server's does.
pub(crate) fn go_io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::IsADirectory => "is a directory".into(),
        io::ErrorKind::NotADirectory => "not a directory".into(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        _ => e.to_string(),
    }
}

impl FileSink {
    pub(crate) fn open(path: &Path, limit: u64, max_num: u64) -> Result<FileSink, LogError> {
        let (file, size) = open_append(path).map_err(|e| {
            LogError::OpenFile(format!("open {}: {}", path.display(), go_io_reason(&e)))
        })?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(16 * 1024, file),
            size,
            limit,
            orig_limit: limit,
            max_num,
            scratch: Vec::with_capacity(256),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the rotation settings of an open file (reload).
    pub(crate) fn set_limits(&mut self, limit: u64, max_num: u64) {
        self.limit = limit;
        self.orig_limit = limit;
        self.max_num = max_num;
    }

    /// True when the file is already over the limit (nats-server then logs
    /// `Rotating logfile...`).
    pub(crate) fn over_limit(&self) -> bool {
        self.limit > 0 && self.size > self.limit
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Writes one rendered line and rotates when it crossed the limit.
    pub(crate) fn write_line(&mut self, line: &[u8], style: &LineStyle) -> io::Result<()> {
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        if self.limit > 0 && self.size > self.limit {
            self.rotate(style);
        }
        Ok(())
    }

    /// Writes a line of the rotation's own (`\r\n`-terminated) and returns
    /// its length.
    fn write_direct(&mut self, style: &LineStyle, level: Level, msg: &str) -> u64 {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        style.render(&mut line, level, SystemTime::now(), msg, Ending::CrLf);
        let n = line.len() as u64;
        let _ = self.file.write_all(&line);
        self.scratch = line;
        n
    }

    fn retry_later(&mut self, style: &LineStyle, what: &str, err: &dyn std::fmt::Display) {
        self.limit = self.limit.saturating_mul(2);
        let msg = format!(
            "{what} ({err}), will attempt next rotation at size {}",
            self.limit
        );
        self.write_direct(style, Level::Error, &msg);
    }

    fn rotate(&mut self, style: &LineStyle) {
        if let Err(e) = self.file.flush() {
            self.retry_later(style, "Unable to close logfile for rotation", &e);
            return;
        }
        let mut backup = self.path.clone().into_os_string();
        backup.push(".");
        backup.push(backup_suffix(SystemTime::now()));
        let backup = PathBuf::from(backup);
        if let Err(e) = std::fs::rename(&self.path, &backup) {
            self.retry_later(style, "Unable to rename logfile for rotation", &e);
            return;
        }
        let (file, _) = match open_append(&self.path) {
            Ok(f) => f,
            Err(e) => {
                // Keep writing to the renamed file rather than losing lines.
                let what = format!(
                    "Unable to re-open the logfile {} after rotation",
                    go_quote(self.path.as_os_str().as_encoded_bytes())
                );
                self.retry_later(style, &what, &e);
                return;
            }
        };
        self.file = BufWriter::with_capacity(16 * 1024, file);
        let msg = format!(
            "Rotated log, backup saved as {}",
            go_quote(backup.as_os_str().as_encoded_bytes())
        );
        self.size = self.write_direct(style, Level::Info, &msg);
        self.limit = self.orig_limit;
        if self.max_num > 0 {
            self.purge(style);
        }
    }

    /// Removes the oldest backups so that at most `max_num - 1` remain.
    fn purge(&mut self, style: &LineStyle) {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(base) = self.path.file_name().and_then(|b| b.to_str()) else {
            return;
        };
        let stem = format!("{base}.");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                let msg = format!(
                    "Unable to read directory {} for log purge ({e}), will attempt next rotation",
                    go_quote(dir.as_os_str().as_encoded_bytes())
                );
                self.write_direct(style, Level::Error, &msg);
                return;
            }
        };
        let mut backups: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.strip_prefix(&stem).is_some_and(is_backup_suffix))
            .collect();
        // Timestamped names sort oldest first.
        backups.sort();
        let keep = usize::try_from(self.max_num - 1).unwrap_or(usize::MAX);
        let excess = backups.len().saturating_sub(keep);
        for name in &backups[..excess] {
            let quoted = go_quote(name.as_bytes());
            match std::fs::remove_file(dir.join(name)) {
                Ok(()) => {
                    self.write_direct(style, Level::Info, &format!("Purged log file {quoted}"));
                }
                Err(e) => {
                    let msg = format!(
                        "Unable to remove backup log file {quoted} ({e}), will attempt next rotation"
                    );
                    self.write_direct(style, Level::Error, &msg);
                    return;
                }
            }
        }
    }
}
