//! Client authentication: deciding whether a CONNECT's credentials are good,
//! and which permissions the connection then has.
//!
//! Built from the options once (and again on reload); checked once per
//! CONNECT, never on the message path. Covers every core form of
//! nats-server's `authorization` block: a single user/password (`--user
//! --pass`), a token (`--auth`), a `users` list with per-user permissions,
//! nkey users (a nonce in INFO, the client signs it), `no_auth_user`, and
//! bcrypt hashes for passwords and tokens. Plain comparisons are constant
//! time. Must never log or return a secret.

pub mod permissions;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;

use crate::auth::permissions::Permissions;
use crate::client::connect::ConnectOptions;
use crate::config::{is_bcrypt, Options};

/// A configured secret: plain text or a bcrypt hash.
#[derive(Clone)]
struct Secret(String);

impl Secret {
    fn verify(&self, given: &str) -> bool {
        if is_bcrypt(&self.0) {
            bcrypt_verify(given, &self.0)
        } else {
            ct_eq(given, &self.0)
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// bcrypt is deliberately slow (tens of milliseconds): on a multi-threaded
/// runtime, let the other tasks of this worker move elsewhere meanwhile.
fn bcrypt_verify(given: &str, hash: &str) -> bool {
    let verify = || bcrypt::verify(given, hash).unwrap_or(false);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(verify)
        }
        _ => verify(),
    }
}

/// One entry of `users`.
#[derive(Clone, Debug)]
struct UserEntry {
    name: String,
    /// The account the user logs in to; `None` = `$G`.
    account: Option<Arc<str>>,
    password: Option<Secret>,
    permissions: Option<Arc<Permissions>>,
}

impl std::fmt::Debug for Permissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permissions")
    }
}

/// The configured client authentication.
#[derive(Debug, Default)]
pub struct Auth {
    mode: Mode,
    /// `no_auth_user`: who a client without credentials is.
    no_auth_user: Option<UserEntry>,
}

#[derive(Debug, Default)]
enum Mode {
    /// Anyone may connect.
    #[default]
    None,
    /// `authorization { token }` / `--auth`.
    Token(Secret),
    /// `authorization { user, password }` / `--user --pass`.
    User { user: String, password: Secret },
    /// `authorization { users = [...] }`, by name and by nkey.
    Users {
        by_name: HashMap<String, UserEntry>,
        by_nkey: HashMap<String, UserEntry>,
    },
}

/// The verdict on one CONNECT.
#[derive(Debug)]
pub enum AuthOutcome {
    /// Accepted: the user name shown in /connz and logs, and the
    /// permissions the connection gets (none = unrestricted).
    Allowed {
        user: Option<Arc<str>>,
        permissions: Option<Arc<Permissions>>,
        /// The user's account; `None` = the global account `$G`.
        account: Option<Arc<str>>,
    },
    /// Refused; the user name the client claimed, for the log line.
    Denied { user: Option<Arc<str>> },
}

/// Credentials a connection authenticated with, kept so that a reload can
/// check them again against the new configuration. The routing core holds
/// them behind this trait (`ConnShared`) and never names the `CONNECT` they
/// came from.
pub trait Credentials: Send + Sync {
    /// [`Auth::check`] of these credentials against `auth`.
    fn recheck(&self, auth: &Auth, nonce: Option<&str>) -> AuthOutcome;
}

impl Credentials for ConnectOptions {
    fn recheck(&self, auth: &Auth, nonce: Option<&str>) -> AuthOutcome {
        auth.check(self, nonce)
    }
}

impl Auth {
    pub fn from_options(opts: &Options) -> Auth {
        let mode = mode(opts);
        let no_auth_user = match &mode {
            Mode::Users { by_name, .. } if !opts.no_auth_user.is_empty() => {
                by_name.get(&opts.no_auth_user).cloned()
            }
            _ => None,
        };
        Auth { mode, no_auth_user }
    }

    /// Whether a client must authenticate (false when `no_auth_user` lets
    /// credential-less clients in, as nats-server's INFO says).
    pub fn required(&self) -> bool {
        !matches!(self.mode, Mode::None) && self.no_auth_user.is_none()
    }

    /// Whether clients authenticate with a token (monitoring shows that a
    /// token was used, never the token).
    pub fn is_token(&self) -> bool {
        matches!(self.mode, Mode::Token(_))
    }

    /// Whether clients must sign a nonce (nkey users exist): INFO then
    /// carries one.
    pub fn needs_nonce(&self) -> bool {
        matches!(&self.mode, Mode::Users { by_nkey, .. } if !by_nkey.is_empty())
    }

    /// Checks a CONNECT; `nonce` is what this connection's INFO carried.
    pub fn check(&self, connect: &ConnectOptions, nonce: Option<&str>) -> AuthOutcome {
        let claimed = connect.user.clone();
        let denied = AuthOutcome::Denied {
            user: claimed.clone(),
        };
        let no_credentials = connect.user.is_none()
            && connect.pass.is_none()
            && connect.auth_token.is_none()
            && connect.nkey.is_none();
        if no_credentials {
            if let Some(u) = &self.no_auth_user {
                return allowed(u);
            }
        }
        match &self.mode {
            Mode::None => AuthOutcome::Allowed {
                user: None,
                permissions: None,
                account: None,
            },
            Mode::Token(token) => match connect.auth_token.as_deref() {
                Some(t) if token.verify(t) => AuthOutcome::Allowed {
                    user: None,
                    permissions: None,
                    account: None,
                },
                _ => AuthOutcome::Denied { user: None },
            },
            Mode::User { user, password } => {
                let ok = connect.user.as_deref().is_some_and(|u| ct_eq(u, user))
                    && connect.pass.as_deref().is_some_and(|p| password.verify(p));
                if ok {
                    AuthOutcome::Allowed {
                        user: claimed,
                        permissions: None,
                        account: None,
                    }
                } else {
                    denied
                }
            }
            Mode::Users { by_name, by_nkey } => {
                if let Some(nkey) = connect.nkey.as_deref() {
                    return match (by_nkey.get(nkey), nonce, connect.sig.as_deref()) {
                        (Some(u), Some(nonce), Some(sig)) if nkey_signed(nkey, nonce, sig) => {
                            allowed(u)
                        }
                        _ => AuthOutcome::Denied {
                            user: Some(nkey.into()),
                        },
                    };
                }
                match (
                    connect.user.as_deref().and_then(|u| by_name.get(u)),
                    connect.pass.as_deref(),
                ) {
                    (Some(u), Some(p)) if u.password.as_ref().is_some_and(|s| s.verify(p)) => {
                        allowed(u)
                    }
                    _ => denied,
                }
            }
        }
    }
}

fn allowed(u: &UserEntry) -> AuthOutcome {
    AuthOutcome::Allowed {
        user: Some(u.name.as_str().into()),
        permissions: u.permissions.clone(),
        account: u.account.clone(),
    }
}

fn mode(opts: &Options) -> Mode {
    let a = &opts.authorization;
    let in_accounts = opts.accounts.iter().any(|acc| !acc.users.is_empty());
    if a.users.is_some() || in_accounts {
        let mut by_name = HashMap::new();
        let mut by_nkey = HashMap::new();
        let global = a.users.iter().flatten().map(|u| (u, None, None));
        let accounts = opts.accounts.iter().flat_map(|acc| {
            let name: Arc<str> = acc.name.as_str().into();
            acc.users
                .iter()
                .map(move |u| (u, Some(name.clone()), acc.default_permissions.as_ref()))
        });
        for (u, account, defaults) in global.chain(accounts) {
            let permissions = u
                .permissions
                .as_ref()
                .or(defaults)
                .or(a.default_permissions.as_ref())
                .map(Permissions::compile);
            if !u.nkey.is_empty() {
                let entry = UserEntry {
                    name: u.nkey.clone(),
                    account: account.clone(),
                    password: None,
                    permissions: permissions.clone(),
                };
                by_nkey.insert(u.nkey.clone(), entry);
            }
            if !u.username.is_empty() {
                let entry = UserEntry {
                    name: u.username.clone(),
                    account,
                    password: Some(Secret(u.password.clone())),
                    permissions,
                };
                by_name.insert(u.username.clone(), entry);
            }
        }
        return Mode::Users { by_name, by_nkey };
    }
    if let Some(token) = a.token.as_ref().filter(|t| !t.is_empty()) {
        return Mode::Token(Secret(token.clone()));
    }
    match (&a.user, &a.password) {
        (Some(user), password) if !user.is_empty() => Mode::User {
            user: user.clone(),
            password: Secret(password.clone().unwrap_or_default()),
        },
        _ => Mode::None,
    }
}

/// A fresh nonce for an INFO (nkey users sign it).
pub fn new_nonce() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Did the owner of `nkey` sign `nonce`? The signature is base64 (URL-safe
/// without padding, as the clients send it; standard accepted too).
fn nkey_signed(nkey: &str, nonce: &str, sig: &str) -> bool {
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(sig));
    let (Ok(sig), Ok(key)) = (sig, nkeys::KeyPair::from_public_key(nkey)) else {
        return false;
    };
    key.verify(nonce.as_bytes(), &sig).is_ok()
}

/// Constant-time string equality (length leaks, content does not).
fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::User;

    fn connect(user: Option<&str>, pass: Option<&str>, token: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            user: user.map(Into::into),
            pass: pass.map(Into::into),
            auth_token: token.map(Into::into),
            ..ConnectOptions::default()
        }
    }

    fn auth(f: impl FnOnce(&mut Options)) -> Auth {
        let mut o = Options::default();
        f(&mut o);
        Auth::from_options(&o)
    }

    fn ok(o: AuthOutcome) -> bool {
        matches!(o, AuthOutcome::Allowed { .. })
    }

    #[test]
    fn user_password_plain_and_bcrypt() {
        let a = auth(|o| {
            o.authorization.user = Some("alice".into());
            o.authorization.password = Some("s3cret".into());
        });
        assert!(a.required());
        assert!(ok(
            a.check(&connect(Some("alice"), Some("s3cret"), None), None)
        ));
        assert!(!ok(
            a.check(&connect(Some("alice"), Some("nope"), None), None)
        ));
        assert!(!ok(a.check(&connect(None, None, None), None)));

        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let b = auth(|o| {
            o.authorization.user = Some("alice".into());
            o.authorization.password = Some(hash);
        });
        assert!(ok(
            b.check(&connect(Some("alice"), Some("s3cret"), None), None)
        ));
        assert!(!ok(
            b.check(&connect(Some("alice"), Some("s3cre"), None), None)
        ));
    }

    #[test]
    fn token_and_none() {
        let a = auth(|o| o.authorization.token = Some("t0k3n".into()));
        assert!(ok(a.check(&connect(None, None, Some("t0k3n")), None)));
        assert!(!ok(a.check(&connect(None, None, Some("t0k3")), None)));
        assert!(!auth(|_| {}).required());
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }

    #[test]
    fn users_nkeys_and_no_auth_user() {
        let kp = nkeys::KeyPair::new_user();
        let a = auth(|o| {
            o.authorization.users = Some(vec![
                User {
                    username: "bob".into(),
                    password: "pw".into(),
                    ..User::default()
                },
                User {
                    nkey: kp.public_key(),
                    ..User::default()
                },
            ]);
            o.no_auth_user = "bob".into();
        });
        assert!(a.needs_nonce());
        assert!(
            !a.required(),
            "no_auth_user lets clients in without credentials"
        );
        match a.check(&connect(None, None, None), None) {
            AuthOutcome::Allowed { user, .. } => assert_eq!(user.as_deref(), Some("bob")),
            other => panic!("{other:?}"),
        }
        assert!(!ok(
            a.check(&connect(Some("bob"), Some("wrong"), None), None)
        ));

        let nonce = new_nonce();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(kp.sign(nonce.as_bytes()).unwrap());
        let signed = ConnectOptions {
            nkey: Some(kp.public_key().into()),
            sig: Some(sig.as_str().into()),
            ..ConnectOptions::default()
        };
        assert!(ok(a.check(&signed, Some(&nonce))));
        assert!(
            !ok(a.check(&signed, Some(&new_nonce()))),
            "a signature over another nonce"
        );
        let stranger = nkeys::KeyPair::new_user();
        let forged = ConnectOptions {
            nkey: Some(stranger.public_key().into()),
            sig: Some(sig.into()),
            ..ConnectOptions::default()
        };
        assert!(!ok(a.check(&forged, Some(&nonce))));
    }
}
