//! Options built from files: values, defaults, aliases, warnings,
//! validation (`Options::validate`) and the reload diff (`config::diff`).

use std::time::Duration;

use nats_server::config::{self, ConfigError, DiagKind, Options, ReloadError};

const DIR: &str = "tests/data/conf";

fn load(name: &str) -> Options {
    std::env::set_var("NATS_RS_TEST_PORT", "4226");
    let (o, w) =
        Options::from_file(&format!("{DIR}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(w.is_empty(), "{name}: unexpected warnings {w:?}");
    o
}

fn from_text(text: &str) -> Result<(Options, Vec<config::Warning>), ConfigError> {
    let root = config::parse_str(text, "t.conf", config::Includes::Refuse)?;
    let mut o = Options::default();
    let w = o.apply_map(&root, "t.conf")?;
    Ok((o, w))
}

#[test]
fn defaults_are_nats_servers() {
    let o = Options::default();
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4222));
    assert_eq!(o.max_payload, 1_048_576);
    assert_eq!(o.max_pending, 64 * 1024 * 1024);
    assert_eq!(o.max_control_line, 4096);
    assert_eq!(o.max_connections, 65536);
    assert_eq!(o.ping_interval, Duration::from_secs(120));
    assert_eq!(o.ping_max, 2);
    assert_eq!(o.write_deadline, Duration::from_secs(10));
    assert_eq!(o.lame_duck_duration, Duration::from_secs(120));
    assert_eq!(o.lame_duck_grace_period, Duration::from_secs(10));
    assert_eq!(o.max_closed_clients, 10_000);
    assert_eq!(
        (o.connect_error_reports, o.reconnect_error_reports),
        (3600, 1)
    );
    assert!(o.logtime);
    assert_eq!(o.http_base_path, "/");
    assert_eq!(o.monitor_host(), "0.0.0.0");
    assert!(!o.cluster.enabled());
    assert_eq!(
        o.authorization.effective_timeout(None),
        Duration::from_secs(2)
    );
    assert_eq!(config::VERSION, "2.10.0");
}

#[test]
fn docker_gnatsd_0_6_8_file() {
    let o = load("docker-gnatsd-0.6.8.conf");
    assert_eq!(o.port, 4222);
    assert_eq!(o.http_port, 8222);
    assert_eq!(o.cluster.port, 6222);
    assert_eq!(o.cluster.bind_host(), "0.0.0.0");
    assert_eq!(o.cluster.username, "ruser");
    assert_eq!(o.cluster.password, "T0pS3cr3t");
    assert_eq!(o.cluster.auth_timeout, Some(Duration::from_millis(750)));
    assert!(o.cluster.routes.is_empty());
    assert!(o.cluster.name.is_empty());
    let o = load("docker-nats-server.conf");
    assert_eq!(o.cluster.name, "my_cluster");
    assert_eq!(o.cluster.auth_timeout, Some(Duration::from_secs(2)));
}

#[test]
fn every_core_key() {
    let o = load("ok-all-core-keys.conf");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 4223));
    assert_eq!(o.client_advertise, "nats.example.com:4222");
    assert_eq!(o.server_name, "core_keys");
    assert_eq!(o.http_port, 8223);
    assert_eq!(o.http_base_path, "/nats");
    assert_eq!(o.max_payload, 2 * 1024 * 1024);
    assert_eq!(o.max_pending, 64 * 1024 * 1024);
    assert_eq!(o.max_control_line, 2048);
    assert_eq!(o.max_connections, 1000);
    assert_eq!(o.max_subscriptions, 100);
    assert_eq!(o.max_sub_tokens, 16);
    assert_eq!(o.ping_interval, Duration::from_secs(30));
    assert_eq!(o.ping_max, 3);
    assert_eq!(o.write_deadline, Duration::from_secs(5));
    assert_eq!(o.lame_duck_duration, Duration::from_secs(60));
    assert_eq!(o.lame_duck_grace_period, Duration::from_secs(5));
    assert!(o.debug && !o.trace && !o.logtime);
    assert_eq!(
        o.log_file.as_deref(),
        Some(std::path::Path::new("/tmp/nats-rs-core.log"))
    );
    assert_eq!(o.log_size_limit, 10 * 1024 * 1024);
    assert_eq!(o.log_max_files, 3);
    assert_eq!(
        o.pid_file.as_deref(),
        Some(std::path::Path::new("/tmp/nats-rs-core.pid"))
    );
    assert_eq!(o.max_traced_msg_len, 128);
    assert_eq!(
        (o.connect_error_reports, o.reconnect_error_reports),
        (10, 5)
    );
    assert_eq!(o.prof_port, 6060);
    assert_eq!(o.max_closed_clients, 500);
    assert!(o.disable_sublist_cache);
    o.validate().unwrap();
}

#[test]
fn aliases_and_listen_forms() {
    let o = load("ok-aliases.conf");
    assert_eq!(o.http_port, 8222);
    assert_eq!(o.max_connections, 10);
    assert_eq!(o.max_subscriptions, 5);
    assert_eq!(o.log_max_files, 2);
    assert_eq!(o.log_size_limit, 1024);
    let o = load("ok-listen.conf");
    assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 5222));
    assert_eq!((o.monitor_host(), o.http_port), ("127.0.0.1", 8222));
    assert_eq!(
        (o.cluster.host.as_str(), o.cluster.port),
        ("127.0.0.1", 5244)
    );
    assert_eq!(o.cluster.routes.len(), 2);
    assert_eq!(o.cluster.routes[0].port, Some(5246));
    assert_eq!(o.cluster.routes[0].username.as_deref(), Some("ruser"));
    let o = load("ok-separators.conf");
    assert_eq!(o.port, 4225, "later PORT wins");
    assert!(o.debug && !o.trace);
    assert_eq!(o.max_payload, 1_000_000);
    let (o, _) = from_text("http: 8222\n").unwrap();
    assert_eq!((o.monitor_host(), o.http_port), ("0.0.0.0", 8222));
    let (o, _) = from_text("listen: 4333\n").unwrap();
    assert_eq!((o.host.as_str(), o.port), ("0.0.0.0", 4333));
}

#[test]
fn max_connections_zero_rejects_all() {
    assert_eq!(load("ok-max-conn-zero.conf").max_connections, 0);
}

#[test]
fn variables_includes_env() {
    let o = load("ok-variables.conf");
    assert_eq!(o.http_port, 8222);
    assert_eq!(o.authorization.token.as_deref(), Some("t0k3n"));
    assert_eq!(load("ok-env-variable.conf").port, 4226);
    assert_eq!(load("ok-nested-variables.conf").cluster.port, 6222);
    let o = load("ok-include.conf");
    assert_eq!(o.port, 4227);
    assert_eq!(o.authorization.user.as_deref(), Some("inc"));
    assert_eq!(
        (o.cluster.port, o.cluster.name.as_str()),
        (6229, "included")
    );
}

#[test]
fn users_permissions_and_plaintext_detection() {
    let o = load("ok-users-permissions.conf");
    let users = o.authorization.users.as_ref().unwrap();
    assert_eq!(users.len(), 5);
    let alice = &users[0];
    assert_eq!(alice.username, "alice");
    let ap = alice.permissions.as_ref().unwrap();
    assert_eq!(
        ap.publish.as_ref().unwrap().allow.as_deref(),
        Some(&[">".to_string()][..])
    );
    let joe = &users[2];
    let jp = joe
        .permissions
        .as_ref()
        .expect("default permissions applied");
    assert_eq!(
        jp.publish.as_ref().unwrap().allow.as_deref(),
        Some(&["SANDBOX.*".to_string()][..])
    );
    let svc = users[3].permissions.as_ref().unwrap();
    assert_eq!(
        svc.publish.as_ref().unwrap().deny.as_deref(),
        Some(&["svc.secret".to_string()][..])
    );
    let sub = svc.subscribe.as_ref().unwrap().allow.as_ref().unwrap();
    assert_eq!(sub[1], "requests.* workers");
    let rp = svc.allow_responses.as_ref().unwrap();
    assert_eq!(
        (rp.max_msgs, rp.expires),
        (1, Some(Duration::from_secs(60)))
    );
    let rsp = users[4].permissions.as_ref().unwrap();
    assert!(rsp.allow_responses.is_some());
    assert_eq!(
        rsp.publish.as_ref().unwrap().allow.as_deref(),
        Some(&[][..]),
        "blanket allow off"
    );
    assert_eq!(o.authorization.timeout, Some(Duration::from_secs(3)));
    assert_eq!(o.no_auth_user, "joe");
    assert!(o.has_plaintext_passwords());
    o.validate().unwrap();

    let o = load("ok-bcrypt.conf");
    assert!(!o.has_plaintext_passwords());
    assert!(load("ok-user-pass.conf").has_plaintext_passwords());
}

#[test]
fn tls_block() {
    let o = load("ok-tls.conf");
    let t = o.tls.as_ref().unwrap();
    assert!(t.verify);
    assert_eq!(t.timeout, Duration::from_secs(2));
    assert_eq!(t.cipher_suites.len(), 2);
    assert_eq!(t.curve_preferences, ["CurveP256", "CurveP384"]);
    assert_eq!(o.https_port, 11522);
    assert_eq!(
        o.authorization.effective_timeout(o.tls.as_ref()),
        Duration::from_secs(3)
    );
}

#[test]
fn cluster_block_and_2_10_keys() {
    let o = load("ok-cluster-perms.conf");
    let p = o.cluster.permissions.as_ref().unwrap();
    assert_eq!(
        p.import.as_ref().unwrap().allow.as_deref(),
        Some(&["foo.>".to_string()][..])
    );
    assert_eq!(
        p.export.as_ref().unwrap().deny.as_deref(),
        Some(&["bar.secret".to_string()][..])
    );
    assert!(o.cluster.no_advertise);
    assert_eq!(o.cluster.connect_retries, 3);
    assert_eq!(o.cluster.advertise, "10.0.0.1:6222");
    let o = load("v210-cluster-keys.conf");
    assert_eq!(o.cluster.pool_size, 5);
    assert_eq!(o.cluster.accounts, ["A", "B"]);
    assert_eq!(o.cluster.compression, "s2_fast");
    assert_eq!(o.cluster.ping_interval, Some(Duration::from_secs(10)));
    assert_eq!(o.cluster.ping_max, Some(3));
    assert_eq!(o.cluster.write_deadline, Some(Duration::from_secs(3)));
    assert!(load("v210-logtime-utc.conf").logtime_utc);
}

#[test]
fn integer_durations_warn_and_count_seconds() {
    let (o, w) = from_text("ping_interval: 5\nwrite_deadline: 1m\n").unwrap();
    assert_eq!(o.ping_interval, Duration::from_secs(5));
    assert_eq!(
        o.write_deadline,
        Duration::from_secs(1_000_000),
        "unquoted 1m is a million"
    );
    assert_eq!(w.len(), 2);
    assert_eq!(
        w[0].to_string(),
        "t.conf:1:0: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"
    );
}

#[test]
fn high_auth_timeout_warns() {
    let (_, w) = from_text("authorization {\n  timeout: 120\n}\n").unwrap();
    assert_eq!(
        w[0].to_string(),
        "t.conf:2:3: invalid use of field \"timeout\": timeout of 120 (120.000000 seconds) is high, consider keeping it under 60 seconds. possibly caused by unquoted duration; use '1m' instead of 1m, for example"
    );
}

#[test]
fn unsupported_features_are_refused_clearly() {
    for key in ["jetstream", "leafnodes", "gateway", "websocket", "mqtt"] {
        let e = from_text(&format!("{key} {{}}\n")).unwrap_err();
        let ConfigError::Process { errors, .. } = &e else {
            panic!("{e}")
        };
        assert!(
            matches!(errors[0].kind, DiagKind::Unsupported(_)),
            "{key}: {e}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "t.conf:1:0: field \"{key}\" is not supported by this server (core NATS only)\n"
            )
        );
    }
}

#[test]
fn jetstream_that_stays_off_is_accepted() {
    for text in [
        "store_dir: /data/js\n",
        "storedir: \"/data/js\"\n",
        "jetstream: disabled\n",
        "jetstream: DISABLE\n",
        "jetstream: false\n",
        "jetstream: no\n",
        "jetstream { enabled: false }\n",
        "jetstream {\n  enable: false\n  store: /data/js\n  max_mem: 1G\n  strict: true\n  limits { max_ack_pending: 5 }\n}\n",
    ] {
        let (o, w) = from_text(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(w.is_empty(), "{text}");
        let want = if text.contains("/data/js") { "/data/js" } else { "" };
        assert_eq!(o.store_dir, want, "{text}");
    }
}

#[test]
fn jetstream_errors_have_nats_server_texts() {
    // Each text as nats-server 2.15.1 prints it for the same file.
    for (text, want) in [
        (
            "jetstream: foo\n",
            "t.conf:1:0: Expected 'enabled' or 'disabled' for string value, got 'foo'\n",
        ),
        (
            "jetstream: 5\n",
            "t.conf:1:0: Expected map, bool or string to define JetStream, got int64\n",
        ),
        (
            "store_dir: 5\n",
            "t.conf:1:0: interface conversion: interface {} is int64, not string\n",
        ),
        (
            "store_dir: /a\njetstream { enabled: false, store_dir: /b }\n",
            "t.conf:2:29: Duplicate 'store_dir' configuration\n",
        ),
        (
            "jetstream { enabled: \"false\" }\n",
            "t.conf:1:0: interface conversion: interface {} is string, not bool\n",
        ),
        (
            "port: 4222\njetstream {\n  enabled: false\n  store_dir: 5\n}\n",
            "t.conf:2:1: interface conversion: interface {} is int64, not string\n",
        ),
        (
            "port: 4222\njetstream {\n  enabled: false\n  strict: 5\n}\n",
            "t.conf:4:3: Expected 'true' or 'false' for bool value, got '%!s(int64=5)'\n",
        ),
        (
            "jetstream { enabled: false, bogus: 1 }\n",
            "t.conf:1:28: unknown field \"bogus\"\n",
        ),
        // Enabling forms: refused as before.
        (
            "jetstream: enabled\n",
            "t.conf:1:0: field \"jetstream\" is not supported by this server (core NATS only)\n",
        ),
        (
            "jetstream { store_dir: /a }\n",
            "t.conf:1:0: field \"jetstream\" is not supported by this server (core NATS only)\n",
        ),
    ] {
        let e = from_text(text).unwrap_err();
        assert_eq!(e.to_string(), want, "{text}");
    }
}

#[test]
fn several_errors_are_all_reported() {
    let e = from_text("foo: 1\nbar: 2\nport: \"x\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.conf:1:0: unknown field \"foo\"\nt.conf:2:1: unknown field \"bar\"\nt.conf:3:1: interface conversion: interface {} is string, not int64\n"
    );
}

#[test]
fn validation_texts() {
    let check = |text: &str, want: &str| {
        let (o, _) = from_text(text).unwrap();
        assert_eq!(o.validate().unwrap_err().to_string(), want, "{text}");
    };
    check(
        "max_payload: 2000000\nmax_pending: 1000000\n",
        "max_payload (2000000) cannot be higher than max_pending (1000000)",
    );
    check(
        "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"30s\"\n",
        "lame duck grace period (30s) should be strictly lower than lame duck duration (30s)",
    );
    check(
        "no_auth_user: bob\n",
        "no_auth_user: \"bob\" present, but users are not defined",
    );
    check(
        "no_auth_user: bob\nauthorization { users: [{user: alice, password: x}] }\n",
        "no_auth_user: \"bob\" not present as user in authorization block or account configuration",
    );
    check(
        "authorization { users: [{user: a, password: x, allowed_connection_types: [\"BOGUS\"]}] }\n",
        "unknown connection type \"BOGUS\"",
    );
    let o = Options {
        server_name: "a b".into(),
        ..Options::default()
    };
    assert_eq!(
        o.validate().unwrap_err().to_string(),
        "server name cannot contain spaces"
    );
}

#[test]
fn reload_diff_accepts_reloadable_changes() {
    let (old, _) =
        from_text("port: 4222\ndebug: false\nauthorization { user: a, password: b }\n").unwrap();
    let (new, _) = from_text(
        "port: 4222\ndebug: true\nauthorization { user: a, password: c }\nmax_payload: 2MB\nping_interval: \"1m\"\ncluster { port: 6222, routes: [\"nats://h:1\"] }\n",
    )
    .unwrap();
    // Enabling a cluster changes its listen address: refused.
    let e = config::diff(&old, &new).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for cluster host: old=, new=0.0.0.0"
    );

    let (new, _) = from_text(
        "port: 4222\ndebug: true\nauthorization { user: a, password: c }\nmax_payload: 2MB\nping_interval: \"1m\"\n",
    )
    .unwrap();
    let lines: Vec<String> = config::diff(&old, &new)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "Reloaded: debug = true",
            "Reloaded: authorization password",
            "Reloaded: max_payload = 2097152",
            "Reloaded: ping_interval = 1m0s",
        ]
    );
}

#[test]
fn reload_diff_refuses_fixed_options() {
    let base = "port: 4222\nhttp_port: 8222\ncluster { port: 6222 }\n";
    let (old, _) = from_text(base).unwrap();
    let cases = [
        (
            "port: 4223\nhttp_port: 8222\ncluster { port: 6222 }\n",
            "config reload not supported for Port: old=4222, new=4223",
        ),
        (
            "port: 4222\nhttp_port: 8223\ncluster { port: 6222 }\n",
            "config reload not supported for HTTPPort: old=8222, new=8223",
        ),
        (
            "port: 4222\nhttp_port: 8222\ncluster { port: 6223 }\n",
            "config reload not supported for cluster port: old=6222, new=6223",
        ),
        (
            "port: 4222\nhttp_port: 8222\ncluster { port: 6222 }\nmax_pending: 1MB\n",
            "config reload not supported for MaxPending: old=67108864, new=1048576",
        ),
        (
            "port: 4222\nhttp_port: 8222\ncluster { port: 6222 }\nlame_duck_duration: \"5m\"\n",
            "config reload not supported for LameDuckDuration: old=2m0s, new=5m0s",
        ),
        (
            "port: 4222\nhttp_port: 8222\ncluster { port: 6222 }\nlog_size_limit: 1000\n",
            "config reload not supported for LogSizeLimit: old=0, new=1000",
        ),
    ];
    for (text, want) in cases {
        let (new, _) = from_text(text).unwrap();
        assert_eq!(config::diff(&old, &new).unwrap_err().to_string(), want);
    }
}

#[test]
fn reload_of_unchanged_blocks_is_not_a_change() {
    // Same cluster, spelled differently (host given explicitly as the default).
    let (old, _) =
        from_text("cluster { port: 6222, authorization { user: a, password: b } }\n").unwrap();
    let (new, _) = from_text(
        "cluster {\n  host: 0.0.0.0\n  port: 6222\n  authorization { user: a, password: b }\n}\n",
    )
    .unwrap();
    assert!(config::diff(&old, &new).unwrap().is_empty());
    let (a, _) = from_text("authorization { timeout: 2 }\n").unwrap();
    let (b, _) = from_text("authorization { }\n").unwrap();
    assert!(config::diff(&a, &b).unwrap().is_empty());
    let (r2, _) =
        from_text("cluster { port: 6222, routes: [\"nats://a:1\", \"nats://b:2\"] }\n").unwrap();
    let (r1, _) = from_text("cluster { port: 6222, routes: [\"nats://a:1\"] }\n").unwrap();
    let changes: Vec<_> = config::diff(&r2, &r1)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(changes, ["Reloaded: cluster routes"]);
}

#[test]
fn reload_no_auth_user_rules() {
    let (old, _) =
        from_text("no_auth_user: a\nauthorization { users: [{user: a, password: x}] }\n").unwrap();
    let (gone, _) = from_text("authorization { users: [{user: b, password: x}] }\n").unwrap();
    assert!(
        config::diff(&old, &gone).is_ok(),
        "removing it with its user is fine"
    );
    let (kept_user, _) = from_text("authorization { users: [{user: a, password: x}] }\n").unwrap();
    assert!(matches!(
        config::diff(&old, &kept_user),
        Err(ReloadError::NotSupported { .. })
    ));
}
