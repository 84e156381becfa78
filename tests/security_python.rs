//! A second real client library, nats-py (Python), over TLS with
//! user/password, token and nkey authentication. The interpreter comes from
//! `NATS_PY_PYTHON`, `.ci/venv` (made by `.ci/run`) or /opt/natsvenv; the
//! test is ignored when none has `nats` and `nkeys` installed (failed under
//! CI; see `tests/support/mod.rs`).

mod support;

use std::path::Path;
use std::process::Command;

use nats_server::config::{Options, TlsConfig, User};
use nats_server::process::start;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A mode, how to configure the server for it, good and bad credentials.
type Case = (&'static str, Box<dyn Fn(&mut Options)>, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_nats_py, ignore = "needs a Python with nats-py and nkeys")]
async fn nats_py_over_tls_with_user_token_and_nkey() {
    let py = support::nats_py("nats_py_over_tls_with_user_token_and_nkey");
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "py ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let (ca_file, cert_file, key_file) = (
        write("ca.pem", ca.pem()),
        write("s.pem", cert.pem()),
        write("s.key", key.serialize_pem()),
    );
    let tls = TlsConfig {
        cert_file: cert_file.display().to_string(),
        key_file: key_file.display().to_string(),
        ..TlsConfig::default()
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/secure_clients.py");
    let nkey = nkeys::KeyPair::new_user();
    let stranger = nkeys::KeyPair::new_user();
    let cases: Vec<Case> = vec![
        (
            "user",
            Box::new(|o: &mut Options| {
                o.authorization.user = Some("alice".into());
                o.authorization.password = Some("s3cret".into());
            }),
            "alice:s3cret".into(),
            "alice:wrong".into(),
        ),
        (
            "token",
            Box::new(|o: &mut Options| o.authorization.token = Some("t0k3n".into())),
            "t0k3n".into(),
            "nope".into(),
        ),
        (
            "nkey",
            Box::new({
                let public = nkey.public_key();
                move |o: &mut Options| {
                    o.authorization.users = Some(vec![User {
                        nkey: public.clone(),
                        ..User::default()
                    }])
                }
            }),
            nkey.seed().unwrap(),
            stranger.seed().unwrap(),
        ),
    ];
    for (mode, configure, good, bad) in cases {
        let mut o = Options {
            host: "127.0.0.1".into(),
            port: 0,
            tls: Some(tls.clone()),
            ..Options::default()
        };
        configure(&mut o);
        let s = start(o).await.unwrap();
        let url = format!("tls://localhost:{}", s.addr.port());
        let out = tokio::task::spawn_blocking({
            let (py, script, ca_file) = (py.clone(), script.clone(), ca_file.clone());
            move || {
                Command::new(py)
                    .arg(script)
                    .args([
                        url.as_str(),
                        ca_file.to_str().unwrap(),
                        mode,
                        good.as_str(),
                        bad.as_str(),
                    ])
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "nats-py {mode}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        s.stop().await;
    }
}
