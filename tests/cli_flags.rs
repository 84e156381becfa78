//! The command line: Go `flag` syntax, actions, precedence over the file
//! (also after reload), flag errors, usage text, and — when the real
//! nats-server 2.9.10 is installed — the same error texts and exit codes.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nats_server::cli::{self, Action, Cli, CliError, FlagId, FlagValue, SignalCommand};
use nats_server::config::{Options, ReloadError};

fn parse(args: &[&str]) -> Cli {
    Cli::parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn opts(args: &[&str]) -> Options {
    let cli = parse(args);
    cli::options(&cli)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .0
}

fn opts_err(args: &[&str]) -> CliError {
    match Cli::parse(args).and_then(|c| cli::options(&c)) {
        Ok(_) => panic!("{args:?} should fail"),
        Err(e) => e,
    }
}

#[test]
fn go_flag_forms_are_equivalent() {
    for args in [
        &["-p", "4333"][..],
        &["-p=4333"],
        &["--port", "4333"],
        &["--port=4333"],
        &["-port", "4333"],
    ] {
        assert_eq!(opts(args).port, 4333, "{args:?}");
    }
    assert_eq!(opts(&["-p", "0x10"]).port, 16, "Go accepts base prefixes");
}

#[test]
fn booleans_and_combined_debug_trace_flags() {
    let o = opts(&["-D"]);
    assert!(o.debug && !o.trace);
    let o = opts(&["-DV"]);
    assert!(o.debug && o.trace && !o.trace_verbose);
    let o = opts(&["-VV"]);
    assert!(!o.debug && o.trace && o.trace_verbose);
    let o = opts(&["-DVV"]);
    assert!(o.debug && o.trace && o.trace_verbose);
    let o = opts(&["--debug=true", "--debug=false"]);
    assert!(!o.debug, "last one wins");
    let o = opts(&["-T=false"]);
    assert!(!o.logtime);
    // -DV is applied after the plain flags, as Go visits it later.
    let o = opts(&["-DV=false", "-D"]);
    assert!(!o.debug && !o.trace);
    // A boolean does not take the next argument as its value.
    let cli = parse(&["-D", "false"]);
    assert_eq!(cli.positional, ["false"]);
    assert_eq!(
        cli.action().unwrap_err().to_string(),
        "unrecognized command: \"false\""
    );
}

#[test]
fn multi_letter_single_dash_flags() {
    let o = opts(&["-ms", "8443", "-m", "8222", "-n", "srv1", "-a", "127.0.0.1"]);
    assert_eq!((o.https_port, o.http_port), (8443, 8222));
    assert_eq!(o.server_name, "srv1");
    assert_eq!(o.host, "127.0.0.1");
    let cli = parse(&["-sl", "reload=123"]);
    assert_eq!(cli.flags[0].id, FlagId::Signal);
    let Action::Signal(req) = cli.action().unwrap() else {
        panic!()
    };
    assert_eq!(
        (req.command, req.target.as_deref()),
        (SignalCommand::Reload, Some("123"))
    );
    assert!(matches!(opts_err(&["-js"]), CliError::JetStreamUnsupported));
    assert_eq!(opts(&["-sd", "/tmp/x"]).store_dir, "/tmp/x");
}

#[test]
fn store_dir_without_jetstream_is_accepted() {
    assert_eq!(opts(&["--store_dir", "/tmp/x"]).store_dir, "/tmp/x");
    assert_eq!(opts(&["-sd=/tmp/y", "-js=false"]).store_dir, "/tmp/y");
    for args in [&["--jetstream"][..], &["-sd", "/tmp/x", "-js"]] {
        let e = opts_err(args);
        assert!(matches!(e, CliError::JetStreamUnsupported), "{args:?}");
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            (
                "JetStream is not supported by this server (core NATS only)",
                1
            )
        );
    }
    // As nats-server: the flag is set before the file is read, so a
    // store_dir in the file too is a duplicate.
    let conf = std::env::temp_dir().join(format!("cli-flags-sd-{}.conf", std::process::id()));
    std::fs::write(&conf, "store_dir: /tmp/z\n").unwrap();
    let c = conf.to_str().unwrap();
    assert_eq!(opts(&["-c", c]).store_dir, "/tmp/z");
    let e = opts_err(&["-c", c, "-sd", "/tmp/x"]);
    std::fs::remove_file(&conf).unwrap();
    assert_eq!(
        e.to_string(),
        format!("{c}:1:0: Duplicate 'store_dir' configuration\n")
    );
}

#[test]
fn every_plain_flag_sets_its_option() {
    let o = opts(&[
        "--net",
        "10.0.0.1",
        "--server_name",
        "s",
        "-P",
        "/tmp/p.pid",
        "--client_advertise",
        "a:1",
        "--ports_file_dir",
        "/tmp",
        "-l",
        "/tmp/l.log",
        "-s",
        "-r",
        "udp://localhost:514",
        "--log_size_limit",
        "1000",
        "--max_traced_msg_len",
        "64",
        "--user",
        "u",
        "--pass",
        "p",
        "--profile",
        "6060",
        "--cluster_name",
        "c",
        "--cluster_advertise",
        "h:6222",
        "--no_advertise",
        "--connect_retries",
        "5",
        "--logtime_utc",
    ]);
    assert_eq!(o.host, "10.0.0.1");
    assert_eq!(o.server_name, "s");
    assert_eq!(o.pid_file.as_deref(), Some(Path::new("/tmp/p.pid")));
    assert_eq!(o.client_advertise, "a:1");
    assert_eq!(o.ports_file_dir.as_deref(), Some(Path::new("/tmp")));
    assert_eq!(o.log_file.as_deref(), Some(Path::new("/tmp/l.log")));
    assert!(o.syslog && o.logtime_utc);
    assert_eq!(o.remote_syslog, "udp://localhost:514");
    assert_eq!((o.log_size_limit, o.max_traced_msg_len), (1000, 64));
    assert_eq!(o.authorization.user.as_deref(), Some("u"));
    assert_eq!(o.authorization.password.as_deref(), Some("p"));
    assert_eq!(o.prof_port, 6060);
    assert_eq!(o.cluster.name, "c");
    assert_eq!(o.cluster.advertise, "h:6222");
    assert!(o.cluster.no_advertise);
    assert_eq!(o.cluster.connect_retries, 5);
    assert_eq!(
        opts(&["--auth", "tok"]).authorization.token.as_deref(),
        Some("tok")
    );
}

#[test]
fn parsing_stops_at_the_first_non_flag() {
    let cli = parse(&["-p", "1", "version", "-D"]);
    assert_eq!(cli.positional, ["version", "-D"]);
    assert_eq!(cli.action().unwrap(), Action::Version);
    let cli = parse(&["--", "-D"]);
    assert!(cli.flags.is_empty());
    assert_eq!(parse(&["help"]).action().unwrap(), Action::Help);
}

#[test]
fn actions() {
    assert_eq!(parse(&["-v"]).action().unwrap(), Action::Version);
    assert_eq!(parse(&["--version"]).action().unwrap(), Action::Version);
    assert_eq!(parse(&["-h"]).action().unwrap(), Action::Help);
    assert_eq!(parse(&["--help_tls"]).action().unwrap(), Action::HelpTls);
    assert_eq!(parse(&["-t", "-c", "x"]).action().unwrap(), Action::Check);
    assert_eq!(parse(&[]).action().unwrap(), Action::Run);
    assert_eq!(cli::version_line(), "nats-server: v2.10.0");
}

#[test]
fn flag_errors_have_go_texts() {
    let cases = [
        (&["-bogus"][..], "flag provided but not defined: -bogus"),
        (&["--bogus=1"], "flag provided but not defined: -bogus"),
        (&["-p"], "flag needs an argument: -p"),
        (
            &["-p", "abc"],
            "invalid value \"abc\" for flag -p: parse error",
        ),
        (
            &["-p", "99999999999999999999"],
            "invalid value \"99999999999999999999\" for flag -p: value out of range",
        ),
        (&["-D=x"], "invalid boolean value \"x\" for -D: parse error"),
        (&["---x"], "bad flag syntax: ---x"),
    ];
    for (args, want) in cases {
        let e = Cli::parse(args).unwrap_err();
        assert_eq!(e.to_string(), want, "{args:?}");
        assert!(e.prints_usage());
        assert_eq!(e.exit_code(), 0, "nats-server exits 0 after usage");
    }
}

#[test]
fn semantic_errors() {
    assert_eq!(
        opts_err(&["-t"]).to_string(),
        "must specify [-c, --config] option to check configuration file syntax"
    );
    let e = opts_err(&["--routes", "nats://h:6222"]);
    assert_eq!(
        e.to_string(),
        "solicited routes require cluster capabilities, e.g. --cluster"
    );
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        opts_err(&["--cluster", "nats://u@0.0.0.0:6222"]).to_string(),
        "expected cluster password to be set"
    );
    assert_eq!(
        opts_err(&["--cluster", "0.0.0.0"]).to_string(),
        "missing port in address"
    );
    assert_eq!(
        opts_err(&["--tls"]).to_string(),
        "TLS Server certificate must be present and valid"
    );
    assert_eq!(
        opts_err(&["--tlscert", "x.pem"]).to_string(),
        "TLS Server private key must be present and valid"
    );
    let Action::Signal(req) = parse(&["--signal", "foo=1"]).action().unwrap() else {
        panic!()
    };
    assert_eq!(req.command, SignalCommand::Unknown("foo".into()));
    assert_eq!(
        req.send().unwrap_err().to_string(),
        "unknown signal \"foo\""
    );
    let Action::Signal(req) = parse(&["--signal", "ldm=nope"]).action().unwrap() else {
        panic!()
    };
    assert_eq!(req.send().unwrap_err().to_string(), "invalid pid: nope");
    assert_eq!(
        Cli::parse(&["--signal", "reload=1=2"])
            .unwrap()
            .action()
            .unwrap_err()
            .to_string(),
        "invalid signal parameters: [2]"
    );
}

#[test]
fn cluster_and_routes_flags() {
    let o = opts(&[
        "--cluster",
        "nats://ruser:T0pS3cr3t@127.0.0.1:6333",
        "--routes",
        "nats://a:1, nats://b:2",
    ]);
    assert_eq!(
        (o.cluster.host.as_str(), o.cluster.port),
        ("127.0.0.1", 6333)
    );
    assert_eq!(
        (o.cluster.username.as_str(), o.cluster.password.as_str()),
        ("ruser", "T0pS3cr3t")
    );
    assert_eq!(o.cluster.routes.len(), 2);
    assert_eq!(o.cluster.routes[1].host, "b");
    assert_eq!(
        opts(&["--cluster_listen", "nats://0.0.0.0:-1"])
            .cluster
            .port,
        -1
    );
    // Routes from the command line with the cluster from the file (Docker).
    let o = opts(&[
        "-c",
        "tests/data/conf/docker-gnatsd-0.6.8.conf",
        "--routes=nats-route://ruser:T0pS3cr3t@otherdockerhost:6222",
    ]);
    assert_eq!(o.cluster.port, 6222);
    assert_eq!(o.cluster.routes[0].host, "otherdockerhost");
    assert_eq!(o.cluster.username, "ruser", "file credentials kept");
    // --cluster without userinfo clears the file's credentials, as in Go.
    let o = opts(&[
        "-c",
        "tests/data/conf/docker-gnatsd-0.6.8.conf",
        "--cluster",
        "nats://0.0.0.0:7244",
    ]);
    assert_eq!((o.cluster.port, o.cluster.username.as_str()), (7244, ""));
    // An empty --routes clears the file's routes.
    let o = opts(&["-c", "tests/data/conf/ok-listen.conf", "--routes="]);
    assert!(o.cluster.routes.is_empty());
}

#[test]
fn tls_flags() {
    let o = opts(&[
        "--tls",
        "--tlscert",
        "tests/data/conf/certs/server-cert.pem",
        "--tlskey",
        "tests/data/conf/certs/server-key.pem",
        "--tlsverify",
        "--tlscacert",
        "tests/data/conf/certs/ca.pem",
    ]);
    let t = o.tls.unwrap();
    assert!(t.verify);
    assert_eq!(t.ca_file, "tests/data/conf/certs/ca.pem");
    // -tls=false disables TLS configured in the file.
    let o = opts(&[
        "-c",
        "tests/data/conf/ok-tls.conf",
        "-tls=false",
        "--tlscert",
        "x",
    ]);
    assert!(o.tls.is_none());
}

#[test]
fn flags_win_over_the_file() {
    let file = "tests/data/conf/docker-gnatsd-0.6.8.conf";
    let o = opts(&["-p", "5222", "-c", file, "-m", "9222", "-D"]);
    assert_eq!((o.port, o.http_port), (5222, 9222));
    assert!(o.debug);
    assert_eq!(o.config_file.as_deref(), Some(file));
    // Flags before and after -c alike.
    let o = opts(&[
        "-c",
        "tests/data/conf/ok-all-core-keys.conf",
        "-D=false",
        "-a",
        "0.0.0.0",
    ]);
    assert!(!o.debug, "file says debug: true, flag says false");
    assert_eq!(o.host, "0.0.0.0");
}

#[test]
fn check_mode_fails_on_warnings() {
    let e = opts_err(&["-c", "tests/data/conf/err-int-duration.conf", "-t"]);
    assert_eq!(
        e.to_string(),
        "tests/data/conf/err-int-duration.conf:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration\n"
    );
    // Without -t the same file loads, with the warning returned.
    let (o, w) = cli::options(&parse(&["-c", "tests/data/conf/err-int-duration.conf"])).unwrap();
    assert_eq!(o.ping_interval, Duration::from_secs(5));
    assert_eq!(w.len(), 1);
}

#[test]
fn reload_reapplies_flags() {
    let dir = std::env::temp_dir().join(format!("nats-rs-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("r.conf");
    let file_s = file.to_str().unwrap();
    std::fs::write(
        &file,
        "port: 4222\ndebug: false\ntrace: false\nmax_payload: 1MB\n",
    )
    .unwrap();
    let cli = parse(&["-c", file_s, "-D", "-p", "5555"]);
    let (running, _) = cli::options(&cli).unwrap();
    assert!(running.debug);
    assert_eq!(running.port, 5555);

    // The file changes port (flag wins: no change), debug (flag wins), trace and max_payload.
    std::fs::write(
        &file,
        "port: 4333\ndebug: false\ntrace: true\nmax_payload: 2MB\n",
    )
    .unwrap();
    let (new, changes) = cli::reload(&cli, &running).unwrap();
    assert!(new.debug, "-D survives the reload");
    assert_eq!(new.port, 5555, "-p survives the reload");
    let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        ["Reloaded: trace = true", "Reloaded: max_payload = 2097152"]
    );

    // A non-reloadable change is refused with nats-server's text.
    std::fs::write(&file, "port: 4333\nmax_pending: 1MB\n").unwrap();
    let e = cli::reload(&cli, &running).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for MaxPending: old=67108864, new=1048576"
    );

    // A broken file is refused as a whole.
    std::fs::write(&file, "port: 4333\nbogus: 1\n").unwrap();
    assert!(matches!(
        cli::reload(&cli, &running),
        Err(ReloadError::Config(_))
    ));
    // And without -c there is nothing to reload.
    assert_eq!(
        cli::reload(&parse(&["-D"]), &running)
            .unwrap_err()
            .to_string(),
        "can only reload config when a file is provided using -c or --config"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn load_returns_cli_options_and_warnings() {
    let loaded = cli::load(&[
        "-c",
        "tests/data/conf/docker-nats-server.conf",
        "--cluster_name",
        "other",
    ])
    .unwrap();
    assert_eq!(loaded.options.cluster.name, "other");
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.cli.flags.len(), 2);
    assert_eq!(loaded.cli.flags[1].value, FlagValue::Str("other".into()));
}

#[test]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
fn usage_matches_nats_server_2_9_10() {
    // 2.9.10 prints "pid> can be" (a typo fixed in later releases); we print "<pid>".
    let ours = format!("{}\n", cli::USAGE);
    assert!(ours.contains("-sl,--signal <signal>[=<pid>]"));
    let bin = support::real_2_9("usage_matches_nats_server_2_9_10");
    let out = Command::new(bin).arg("--help").output().unwrap();
    let theirs = String::from_utf8_lossy(&out.stdout).replace(" pid> can be", " <pid> can be");
    assert_eq!(ours, theirs);
}

#[test]
#[cfg_attr(
    missing_nats_server_2_9,
    ignore = "needs nats-server 2.9.10 at /usr/sbin/nats-server"
)]
fn error_texts_and_exit_codes_match_nats_server() {
    let bin = support::real_2_9("error_texts_and_exit_codes_match_nats_server");
    let cases: &[&[&str]] = &[
        &["-bogus"],
        &["--bogus"],
        &["-p"],
        &["-p", "abc"],
        &["-D=x"],
        &["---x"],
        &["-t"],
        &["--routes", "nats://h:6222"],
        &["--cluster", "nats://u@0.0.0.0:6222"],
        &["--tls"],
        &["foo"],
        &["--signal", "foo=1"],
        &["--signal", "reload=1=2"],
        &["-sl", "stop=nope"],
        &["-c", "tests/data/conf/err-unknown-top.conf", "-t"],
        &["-c", "/nonexistent/x.conf", "-t"],
    ];
    for args in cases {
        let out = Command::new(&bin).args(*args).output().unwrap();
        let theirs = String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let code = out.status.code().unwrap();
        let ours = match Cli::parse(args).and_then(|c| match c.action()? {
            Action::Signal(req) => req.send().map(|_| ()),
            _ => cli::options(&c).map(|_| ()),
        }) {
            Ok(()) => panic!("{args:?}: we accepted"),
            Err(e) => e,
        };
        let ours_line = if ours.prints_usage() {
            ours.to_string()
        } else {
            format!("nats-server: {ours}")
        };
        assert_eq!(ours_line.lines().next().unwrap(), theirs, "{args:?}");
        assert_eq!(ours.exit_code(), code, "{args:?}");
    }
    let out = Command::new(bin).arg("-v").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "nats-server: v2.9.10\n"
    );
    assert_eq!(
        format!("{}\n", cli::version_line()),
        "nats-server: v2.10.0\n"
    );
}

#[test]
fn signal_is_sent_by_pid_and_by_pid_file() {
    use std::os::unix::process::ExitStatusExt;
    for via_file in [false, true] {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id().to_string();
        let pid_file =
            std::env::temp_dir().join(format!("nats-rs-sig-{}-{via_file}.pid", std::process::id()));
        let target = if via_file {
            std::fs::write(&pid_file, &pid).unwrap();
            pid_file.to_str().unwrap().to_string()
        } else {
            pid.clone()
        };
        let Action::Signal(req) = parse(&["--signal", &format!("term={target}")])
            .action()
            .unwrap()
        else {
            panic!()
        };
        req.send().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(15),
            "SIGTERM delivered (via_file={via_file})"
        );
        let _ = std::fs::remove_file(&pid_file);
    }
}

#[test]
fn load_validates_but_check_mode_does_not() {
    let file = "tests/data/conf/ok-minimal.conf";
    let e = cli::load(&["-c", file, "--server_name", "a b"]).unwrap_err();
    assert_eq!(e.to_string(), "server name cannot contain spaces");
    assert!(cli::load(&["-c", file, "--server_name", "a b", "-t"]).is_ok());
    assert_eq!(
        cli::config_valid_line(file),
        "nats-server: configuration file tests/data/conf/ok-minimal.conf is valid"
    );
}
