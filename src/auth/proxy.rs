//! `proxy_header`: a front server (httpd with mod_auth_gssapi or
//! mod_auth_openidc, an OIDC proxy) authenticates and puts the user, and
//! optionally the groups, in headers. They are believed only from the
//! configured proxies; from any other peer they are refused and logged, since
//! anybody can write a header.

use std::net::IpAddr;

use axum::http::HeaderMap;

use super::{AuthError, Identity};
use crate::config::auth::ProxyHeaderConfig;

/// An address or a network (`10.0.0.0/24`, `fd00::/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(s: &str) -> Result<Network, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {bits}"))?,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // an IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let mask = |bits: u32, len: u8| -> u128 {
            if self.prefix == 0 {
                0
            } else {
                (!0u128 << (bits - u32::from(self.prefix))) & (!0u128 >> (128 - len))
            }
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = mask(32, 32);
                u128::from(u32::from(n)) & m == u128::from(u32::from(a)) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = mask(128, 128);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

pub struct ProxyHeader {
    trusted: Vec<Network>,
    user_header: String,
    groups_header: Option<String>,
    separator: String,
}

impl ProxyHeader {
    pub fn new(cfg: &ProxyHeaderConfig) -> Result<ProxyHeader, String> {
        Ok(ProxyHeader {
            trusted: cfg
                .trusted_proxies
                .iter()
                .map(|n| Network::parse(n))
                .collect::<Result<_, _>>()?,
            user_header: cfg.user_header.clone(),
            groups_header: cfg.groups_header.clone(),
            separator: cfg.groups_separator.clone(),
        })
    }

    /// The identity in the headers: `None` when the user header is absent;
    /// refused when it came from a peer that is not a trusted proxy.
    pub fn identify(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<Identity>, AuthError> {
        let Some(user) = headers.get(self.user_header.as_str()) else {
            return Ok(None);
        };
        let trusted = peer.is_some_and(|ip| self.trusted.iter().any(|n| n.contains(ip)));
        if !trusted {
            let from = peer.map_or_else(|| "an unknown peer".to_owned(), |ip| ip.to_string());
            tracing::warn!(
                "auth: refused a {} header from {from}, which is not a trusted proxy (auth.proxy_header.trusted_proxies)",
                self.user_header
            );
            return Err(AuthError::Forbidden(format!(
                "the {} header is only accepted from the configured proxies, not from {from}",
                self.user_header
            )));
        }
        let user = user
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                AuthError::Unauthenticated(format!(
                    "the {} header set by the proxy is empty or not text",
                    self.user_header
                ))
            })?;
        let groups = self
            .groups_header
            .as_ref()
            .and_then(|h| headers.get(h.as_str()))
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(self.separator.as_str())
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        Ok(Some(Identity::new(user, groups, "proxy_header")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let n = Network::parse("10.1.0.0/16").unwrap();
        assert!(n.contains(ip("10.1.200.3")));
        assert!(!n.contains(ip("10.2.0.1")));
        assert!(n.contains(ip("::ffff:10.1.0.9")));
        assert!(
            Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.1"))
        );
        assert!(
            !Network::parse("127.0.0.1")
                .unwrap()
                .contains(ip("127.0.0.2"))
        );
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Network::parse("fd00::/8").unwrap().contains(ip("fe80::1")));
        assert!(Network::parse("::1").unwrap().contains(ip("::1")));
        for bad in ["10.0.0.0/33", "nope", "::/129", "1.2.3.4/x"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }
}
