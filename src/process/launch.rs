//! From a command line to a running server: what `main` does, kept out of
//! `main.rs` so that it can be read (and tested) as a library function.
//!
//! Owns the process-level behaviour nats-server users rely on: the help,
//! version, `-t` and `--signal` actions with their texts and exit codes, the
//! logger set-up, the startup banner, the pid file, the monitoring and client
//! listeners, and the signals (SIGINT/SIGTERM stop, SIGUSR1 reopens the log
//! file). Must never contain protocol or routing logic.

use std::io::Write;
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Options, VERSION};
use crate::log::{self, LogConfig};
use crate::process::cli::{self, Action, Cli, CliError};
use crate::server::Server;

/// Runs the process with `args` (without the program name) and returns the
/// exit status.
pub fn main(args: Vec<String>) -> i32 {
    let cli = match Cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) => return cli_error(e),
    };
    let action = match cli.action() {
        Ok(action) => action,
        Err(e) => return cli_error(e),
    };
    match action {
        Action::Help => {
            print!("{}", cli::USAGE);
            0
        }
        Action::Version => {
            println!("{}", cli::version_line());
            0
        }
        Action::HelpTls => {
            print!("{}", cli::tls_help());
            0
        }
        Action::Signal(request) => match request.send() {
            Ok(()) => 0,
            Err(e) => cli_error(e),
        },
        Action::Check => match cli::load(&args) {
            Ok(loaded) => {
                let file = loaded.cli.config_file().unwrap_or_default().to_string();
                eprintln!("{}", cli::config_valid_line(&file));
                0
            }
            Err(e) => cli_error(e),
        },
        Action::Run => match cli::load(&args) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                run(loaded.cli, loaded.options)
            }
            Err(e) => cli_error(e),
        },
    }
}

fn cli_error(e: CliError) -> i32 {
    let mut err = std::io::stderr();
    if e.prints_usage() {
        let _ = writeln!(err, "{e}");
        print!("{}", cli::USAGE);
    } else {
        let _ = writeln!(err, "nats-server: {e}");
    }
    e.exit_code()
}

/// The logger settings from the options.
pub fn log_config(o: &Options) -> LogConfig {
    LogConfig {
        debug: o.debug,
        trace: o.trace,
        logtime: o.logtime,
        logtime_utc: o.logtime_utc,
        log_file: o.log_file.clone(),
        log_size_limit: o.log_size_limit,
        log_max_num: o.log_max_files,
        syslog: o.syslog,
        remote_syslog: (!o.remote_syslog.is_empty()).then(|| o.remote_syslog.clone()),
        max_traced_msg_len: o.max_traced_msg_len,
        ..LogConfig::default()
    }
}

fn run(cli: Cli, opts: Options) -> i32 {
    if let Err(e) = log::init(log_config(&opts)) {
        eprintln!("nats-server: {e}");
        return 1;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => log::fatal!("Error creating runtime: {e}"),
    };
    let code = runtime.block_on(serve(cli, opts));
    log::flush();
    code
}

async fn serve(cli: Cli, opts: Options) -> i32 {
    let port = if opts.port < 0 { 0 } else { opts.port as u16 };
    let bind = format!("{}:{}", opts.host, port);
    let listener = match crate::listen::bind(&opts.host, port).await {
        Ok(l) => l,
        Err(e) => log::fatal!("Error listening on port: {bind}, {:?}", e.to_string()),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => log::fatal!("Error listening on port: {bind}, {:?}", e.to_string()),
    };
    let server = match Server::new(opts.clone(), addr) {
        Ok(server) => server,
        Err(e) => log::fatal!("{e}"),
    };
    banner(&server, &cli, &opts);
    if opts.system_account.is_none() {
        if let Some(name) = server.accounts.system_name() {
            log::debug!("Created system account: {name:?}");
        }
    }
    if let Some(pid_file) = &opts.pid_file {
        if let Err(e) = std::fs::write(pid_file, std::process::id().to_string()) {
            log::fatal!("Could not write pidfile: {e}");
        }
    }
    // nats-server starts the monitor (and logs it) before the client listener.
    if let Err(e) = crate::monitor::start_configured(&server).await {
        log::fatal!("Can't start monitoring: {e}");
    }
    log::notice!(
        "Listening for client connections on {}:{}",
        opts.host,
        addr.port()
    );
    // Handlers first: whoever signals us on seeing "Server is ready" (log
    // rotation sends SIGUSR1) must find them, or the default action kills us.
    let stop = signals(server.clone(), cli);
    log::notice!("Server is ready");
    if let Err(e) = server.start_cluster().await {
        let cluster = &opts.cluster;
        log::fatal!(
            "Error listening on router port: {}:{} - {e}",
            cluster.bind_host(),
            cluster.port
        );
    }

    write_ports_file(&server, &opts);
    server.serve(listener, stop).await;
    log::notice!("Server Exiting..");
    0
}

fn banner(server: &Server, cli: &Cli, opts: &Options) {
    log::notice!("Starting nats-server");
    log::notice!("  Version:  {VERSION}");
    log::notice!("  Git:      [not set]");
    log::debug!("  Go build: {}", crate::client::info::TOOLCHAIN);
    if opts.cluster.enabled() && !opts.cluster.name.is_empty() {
        log::notice!("  Cluster:  {}", opts.cluster.name);
    }
    log::notice!("  Name:     {}", server.name);
    log::notice!("  ID:       {}", server.id);
    if opts.has_plaintext_passwords() {
        log::warn!("Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some(file) = cli.config_file() {
        log::notice!("Using configuration file: {file}");
    }
}

/// Handles the process signals until one asks to stop: SIGINT and SIGTERM
/// stop (SIGTERM is ignored in lame duck mode, which ends by itself), SIGHUP
/// reloads the configuration, SIGUSR1 reopens the log file, SIGUSR2 enters
/// lame duck mode. The handlers are installed when this is called (a plain
/// `fn`: an `async fn` would install them only when first polled); the
/// returned future handles what arrives.
fn signals(server: Arc<Server>, cli: Cli) -> impl std::future::Future<Output = ()> {
    let installed = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    );
    async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup), Ok(mut usr1), Ok(mut usr2)) = installed else {
            log::error!("Could not install signal handlers");
            return std::future::pending().await;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {
                    log::notice!("Trapped \"interrupt\" signal");
                    break;
                }
                _ = term.recv() => {
                    log::notice!("Trapped \"terminated\" signal");
                    if server.is_lame_duck() {
                        continue;
                    }
                    break;
                }
                _ = hup.recv() => {
                    log::notice!("Trapped \"hangup\" signal");
                    match server.reload(&cli) {
                        Ok(changes) => {
                            for change in changes {
                                log::notice!("{change}");
                            }
                            log::notice!("Reloaded server configuration");
                        }
                        Err(e) => log::error!("Failed to reload server configuration: {e}"),
                    }
                }
                _ = usr1.recv() => {
                    log::notice!("Trapped \"user defined signal 1\" signal");
                    match log::reopen() {
                        Ok(()) => {}
                        Err(e) => log::error!("Error reopening log file: {e}"),
                    }
                }
                _ = usr2.recv() => {
                    log::notice!("Trapped \"user defined signal 2\" signal");
                    server.enter_lame_duck();
                }
            }
        }
        log::notice!("Initiating Shutdown...");
        server.shutdown();
    }
}

/// `--ports_file_dir`: `<dir>/<exe>_<pid>.ports` with the bound ports, as
/// nats-server writes it for tooling that starts servers on random ports.
fn write_ports_file(server: &Server, opts: &Options) {
    let Some(dir) = &opts.ports_file_dir else {
        return;
    };
    let host = |h: &str| {
        if h.is_empty() {
            "0.0.0.0".to_string()
        } else {
            h.to_string()
        }
    };
    let mut ports = serde_json::Map::new();
    ports.insert(
        "nats".into(),
        vec![format!(
            "nats://{}:{}",
            host(&opts.host),
            server.client_addr.port()
        )]
        .into(),
    );
    if let Some(cluster) = server.cluster.listen_addr() {
        ports.insert(
            "cluster".into(),
            vec![format!(
                "nats://{}:{}",
                opts.cluster.bind_host(),
                cluster.port()
            )]
            .into(),
        );
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "nats-server".into());
    let path = dir.join(format!("{exe}_{}.ports", std::process::id()));
    if let Err(e) = std::fs::write(&path, serde_json::Value::Object(ports).to_string()) {
        log::error!("Error writing ports file ({}): {e}", path.display());
    }
}
