//! Groups from LDAP (the original's `auth_ldap_server` / `auth_ldap_groups`,
//! odcs-api.md §8.2): for each configured `(base, filter)`, a one-level
//! search with `{}` in the filter replaced by the escaped user name; every
//! `cn` found is a group. Answers are kept for `cache_seconds`.
//!
//! A server that cannot be reached gives the groups last seen for the user,
//! however old, or none (as in the original, where LDAP down meant no
//! groups), and a warning; it never fails the request by itself — the
//! policy then decides with what is known.
//!
//! Only `ldap://` (no TLS): the `ldap3` crate's TLS brings a second X.509
//! stack; a site whose LDAP needs TLS is a reason to turn it on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use crate::config::auth::LdapConfig;

pub struct LdapGroups {
    cfg: LdapConfig,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl LdapGroups {
    pub fn new(cfg: &LdapConfig) -> LdapGroups {
        LdapGroups {
            cfg: cfg.clone(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, user: &str, fresh_only: bool) -> Option<Vec<String>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let max_age = Duration::from_secs(self.cfg.cache_seconds);
        cache
            .get(user)
            .filter(|(at, _)| !fresh_only || at.elapsed() < max_age)
            .map(|(_, g)| g.clone())
    }

    /// The user's groups.
    pub async fn groups(&self, user: &str) -> Vec<String> {
        if let Some(g) = self.cached(user, true) {
            return g;
        }
        let timeout = Duration::from_secs(self.cfg.timeout_seconds.max(1));
        let looked_up = tokio::time::timeout(timeout, self.search(user, timeout)).await;
        match looked_up {
            Ok(Ok(groups)) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                // a user per request at most: the cache stays as large as the
                // set of users, cleared of old entries when it grows
                if cache.len() > 10_000 {
                    let max_age = Duration::from_secs(self.cfg.cache_seconds);
                    cache.retain(|_, (at, _)| at.elapsed() < max_age);
                }
                cache.insert(user.to_owned(), (Instant::now(), groups.clone()));
                groups
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {}s", timeout.as_secs()),
                };
                let last = self.cached(user, false);
                tracing::warn!(
                    "auth: the groups of {user} could not be read from {} ({why}); using {}",
                    self.cfg.url,
                    if last.is_some() {
                        "the groups last read"
                    } else {
                        "none"
                    }
                );
                last.unwrap_or_default()
            }
        }
    }

    async fn search(&self, user: &str, timeout: Duration) -> Result<Vec<String>, ldap3::LdapError> {
        let settings = LdapConnSettings::new().set_conn_timeout(timeout);
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.cfg.url).await?;
        ldap3::drive!(conn);
        let escaped = ldap3::ldap_escape(user);
        let mut groups = Vec::new();
        for g in &self.cfg.groups {
            let mut filter = g.filter.replace("{}", &escaped);
            if !filter.starts_with('(') {
                filter = format!("({filter})");
            }
            let (entries, _) = ldap
                .search(&g.base, Scope::OneLevel, &filter, vec!["cn"])
                .await?
                .success()?;
            for e in entries {
                let entry = SearchEntry::construct(e);
                groups.extend(entry.attrs.get("cn").into_iter().flatten().cloned());
            }
        }
        let _ = ldap.unbind().await;
        groups.sort();
        groups.dedup();
        Ok(groups)
    }
}
