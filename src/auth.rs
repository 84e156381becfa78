//! Client authentication: deciding whether a CONNECT's credentials are good.
//!
//! Built from the options once (and again on reload); checked once per
//! CONNECT, never on the message path. Covers the single user/password and
//! token forms (`--user/--pass`, `--auth`, `authorization {user, password}` /
//! `{token}`) and the `users` list with plain passwords; bcrypt hashes, nkeys
//! and permissions slot in here (the security issue). Comparisons are
//! constant-time. Must never log or return a secret.

use std::collections::HashMap;

use crate::config::{Authorization, Options};
use crate::connect::ConnectOptions;

/// The configured client authentication.
#[derive(Debug, Default)]
pub enum Auth {
    /// Anyone may connect.
    #[default]
    None,
    /// `authorization { token }` / `--auth`.
    Token(String),
    /// `authorization { user, password }` / `--user --pass`.
    User { user: String, password: String },
    /// `authorization { users = [...] }`.
    Users(HashMap<String, String>),
}

/// The verdict on one CONNECT.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Accepted; the user name shown in /connz and logs, if any.
    Allowed { user: Option<String> },
    /// Refused; the user name the client claimed, for the log line.
    Denied { user: Option<String> },
}

impl Auth {
    pub fn from_options(opts: &Options) -> Auth {
        from_authorization(&opts.authorization)
    }

    /// Whether clients must send CONNECT with credentials first.
    pub fn required(&self) -> bool {
        !matches!(self, Auth::None)
    }

    pub fn check(&self, connect: &ConnectOptions) -> AuthOutcome {
        let claimed = connect.user.clone();
        let ok = match self {
            Auth::None => return AuthOutcome::Allowed { user: None },
            Auth::Token(token) => connect
                .auth_token
                .as_deref()
                .is_some_and(|t| ct_eq(t, token)),
            Auth::User { user, password } => {
                connect.user.as_deref().is_some_and(|u| ct_eq(u, user))
                    && connect.pass.as_deref().is_some_and(|p| ct_eq(p, password))
            }
            Auth::Users(users) => match (connect.user.as_deref(), connect.pass.as_deref()) {
                (Some(u), Some(p)) => users.get(u).is_some_and(|password| ct_eq(p, password)),
                _ => false,
            },
        };
        if ok {
            AuthOutcome::Allowed {
                user: claimed.filter(|_| !matches!(self, Auth::Token(_))),
            }
        } else {
            AuthOutcome::Denied {
                user: claimed.filter(|_| matches!(self, Auth::Users(_))),
            }
        }
    }
}

fn from_authorization(a: &Authorization) -> Auth {
    if let Some(users) = &a.users {
        return Auth::Users(
            users
                .iter()
                .map(|u| (u.username.clone(), u.password.clone()))
                .collect(),
        );
    }
    if let Some(token) = a.token.as_ref().filter(|t| !t.is_empty()) {
        return Auth::Token(token.clone());
    }
    match (&a.user, &a.password) {
        (Some(user), password) if !user.is_empty() => Auth::User {
            user: user.clone(),
            password: password.clone().unwrap_or_default(),
        },
        _ => Auth::None,
    }
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

    fn connect(user: Option<&str>, pass: Option<&str>, token: Option<&str>) -> ConnectOptions {
        ConnectOptions {
            user: user.map(Into::into),
            pass: pass.map(Into::into),
            auth_token: token.map(Into::into),
            ..ConnectOptions::default()
        }
    }

    #[test]
    fn user_password() {
        let auth = Auth::User {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        assert!(auth.required());
        assert_eq!(
            auth.check(&connect(Some("alice"), Some("s3cret"), None)),
            AuthOutcome::Allowed {
                user: Some("alice".into())
            }
        );
        assert!(matches!(
            auth.check(&connect(Some("alice"), Some("nope"), None)),
            AuthOutcome::Denied { .. }
        ));
        assert!(matches!(
            auth.check(&connect(None, None, None)),
            AuthOutcome::Denied { .. }
        ));
    }

    #[test]
    fn token_and_none() {
        let auth = Auth::Token("t0k3n".into());
        assert!(matches!(
            auth.check(&connect(None, None, Some("t0k3n"))),
            AuthOutcome::Allowed { .. }
        ));
        assert!(matches!(
            auth.check(&connect(None, None, Some("t0k3"))),
            AuthOutcome::Denied { .. }
        ));
        assert!(!Auth::None.required());
        assert!(ct_eq("abc", "abc") && !ct_eq("abc", "abd") && !ct_eq("abc", "ab"));
    }
}
