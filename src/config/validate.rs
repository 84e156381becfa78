//! Cross-field checks run before the server starts (nats-server
//! `validateOptions`, which `-t` does not run): lame duck timings,
//! max_payload vs max_pending, names, `no_auth_user` (users of
//! `authorization` and of every account), connection types, and the
//! `system_account` naming a declared account.
//!
//! Owns only these checks and their texts; never changes the options.

use super::error::ConfigError;
use super::go::format_duration;
use super::options::Options;

/// Connection types a user may be restricted to.
pub const CONNECTION_TYPES: &[&str] = &[
    "STANDARD",
    "WEBSOCKET",
    "LEAFNODE",
    "LEAFNODE_WS",
    "MQTT",
    "MQTT_WS",
    "IN_PROCESS",
];

impl Options {
    /// Checks the rules nats-server applies when creating a server.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Invalid(s));
        if !self.lame_duck_duration.is_zero()
            && self.lame_duck_grace_period >= self.lame_duck_duration
        {
            return bad(format!(
                "lame duck grace period ({}) should be strictly lower than lame duck duration ({})",
                format_duration(self.lame_duck_grace_period),
                format_duration(self.lame_duck_duration)
            ));
        }
        if u64::from(self.max_payload) > self.max_pending {
            return bad(format!(
                "max_payload ({}) cannot be higher than max_pending ({})",
                self.max_payload, self.max_pending
            ));
        }
        if self.server_name.contains(' ') {
            return bad("server name cannot contain spaces".into());
        }
        let account_users = self.accounts.iter().flat_map(|a| &a.users);
        for u in self
            .authorization
            .users
            .iter()
            .flatten()
            .chain(account_users)
        {
            for ct in u.allowed_connection_types.iter().flatten() {
                if !CONNECTION_TYPES.contains(&ct.to_uppercase().as_str()) {
                    return bad(format!("unknown connection type {ct:?}"));
                }
            }
        }
        if !self.no_auth_user.is_empty() {
            let nau = &self.no_auth_user;
            // Users of `authorization` and of every account count.
            let account_users = self.accounts.iter().flat_map(|a| &a.users);
            let mut users = self
                .authorization
                .users
                .iter()
                .flatten()
                .chain(account_users);
            if self.authorization.users.is_none()
                && self.accounts.iter().all(|a| a.users.is_empty())
            {
                return bad(format!(
                    "no_auth_user: \"{nau}\" present, but users are not defined"
                ));
            }
            if !users.any(|u| &u.username == nau) {
                return bad(format!(
                    "no_auth_user: \"{nau}\" not present as user in authorization block or account configuration"
                ));
            }
        }
        if self.cluster.name.contains(' ') {
            return bad("cluster name cannot contain spaces".into());
        }
        // nats-server finds this when it sets up the system account, after
        // the checks above; `$G` always exists.
        if let Some(sa) = &self.system_account {
            if sa != super::GLOBAL_ACCOUNT && !self.accounts.iter().any(|a| &a.name == sa) {
                return bad("error resolving system account: account missing".into());
            }
        }
        Ok(())
    }
}
