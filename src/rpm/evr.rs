//! Version comparison as rpm (≥ 4.15) and libsolv do it: `rpmvercmp` segment by
//! segment with `~` (sorts before everything, even the end) and `^` (after the end,
//! before anything else), and epoch:version-release ordering on top of it.
//!
//! Gather (#3) compares candidates and matches versioned dependencies with these
//! functions, so they follow rpm's rules exactly rather than approximately; the
//! tests below carry rpm's own table of ordering cases.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Compare two version (or release) strings the way rpm's `rpmvercmp` does.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let mut a = a.as_bytes();
    let mut b = b.as_bytes();
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';

    while !a.is_empty() || !b.is_empty() {
        while let Some((&c, rest)) = a.split_first() {
            if !is_sep(c) {
                break;
            }
            a = rest;
        }
        while let Some((&c, rest)) = b.split_first() {
            if !is_sep(c) {
                break;
            }
            b = rest;
        }

        // Tilde sorts before everything, the end of the string included.
        if a.first() == Some(&b'~') || b.first() == Some(&b'~') {
            if a.first() != Some(&b'~') {
                return Ordering::Greater;
            }
            if b.first() != Some(&b'~') {
                return Ordering::Less;
            }
            a = &a[1..];
            b = &b[1..];
            continue;
        }

        // Caret sorts after the end of the string but before anything else.
        if a.first() == Some(&b'^') || b.first() == Some(&b'^') {
            if a.is_empty() {
                return Ordering::Less;
            }
            if b.is_empty() {
                return Ordering::Greater;
            }
            if a[0] != b'^' {
                return Ordering::Greater;
            }
            if b[0] != b'^' {
                return Ordering::Less;
            }
            a = &a[1..];
            b = &b[1..];
            continue;
        }

        if a.is_empty() || b.is_empty() {
            break;
        }

        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (take(a), take(b));
        let (sa, sb) = (&a[..la], &b[..lb]);
        a = &a[la..];
        b = &b[lb..];

        if sb.is_empty() {
            // Segments of different kinds: a numeric segment is newer than an alpha one.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }

        let ord = if numeric {
            let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
            let (sa, sb) = (&sa[strip(sa)..], &sb[strip(sb)..]);
            sa.len().cmp(&sb.len()).then_with(|| sa.cmp(sb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }

    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

/// An epoch:version-release triple. A missing epoch counts as 0; a missing release
/// (`None`) is what a dependency like `foo >= 1.0` carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evr {
    pub epoch: Option<u64>,
    pub version: String,
    pub release: Option<String>,
}

/// Why a dependency's version string could not be split into E:V-R.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid epoch in version {evr:?}: epoch must be a number")]
pub struct EvrError {
    pub evr: String,
}

impl Evr {
    pub fn new(epoch: Option<u64>, version: impl Into<String>, release: Option<String>) -> Self {
        Evr {
            epoch,
            version: version.into(),
            release,
        }
    }

    /// Split `[E:]V[-R]` as createrepo_c does: at the first `:` (the epoch must be
    /// numeric) and at the first `-` after it.
    pub fn parse(s: &str) -> Result<Evr, EvrError> {
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => {
                let epoch = if e.is_empty() {
                    None
                } else {
                    Some(
                        e.parse::<u64>()
                            .map_err(|_| EvrError { evr: s.to_owned() })?,
                    )
                };
                (epoch, rest)
            }
            None => (None, s),
        };
        let (version, release) = match rest.split_once('-') {
            Some((v, r)) => (v, Some(r.to_owned())),
            None => (rest, None),
        };
        Ok(Evr {
            epoch,
            version: version.to_owned(),
            release,
        })
    }

    /// Would [`Evr::parse`] take `s`? Its one refusal is an epoch that is
    /// not a number; this asks without building the parts.
    pub fn parses(s: &str) -> bool {
        s.split_once(':')
            .is_none_or(|(e, _)| e.is_empty() || e.parse::<u64>().is_ok())
    }

    pub fn epoch_or_zero(&self) -> u64 {
        self.epoch.unwrap_or(0)
    }

    /// Package ordering (rpm's `labelCompare`): epochs as numbers, then versions,
    /// then releases; a missing release sorts below any release.
    pub fn cmp_package(&self, other: &Evr) -> Ordering {
        self.epoch_or_zero()
            .cmp(&other.epoch_or_zero())
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
            })
    }

    /// Dependency ordering (rpm's `rpmdsCompare`): the release is compared only
    /// when both sides have one.
    pub fn cmp_dependency(&self, other: &Evr) -> Ordering {
        self.epoch_or_zero()
            .cmp(&other.epoch_or_zero())
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(a), Some(b)) => rpmvercmp(a, b),
                _ => Ordering::Equal,
            })
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(e) = self.epoch {
            write!(f, "{e}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(r) = &self.release {
            write!(f, "-{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// rpm 4.18 `labelCompare` results, from formats.md §6.1 (checked with real rpm).
    #[test]
    fn rpmvercmp_matches_rpms_own_ordering_table() {
        let cases = [
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1", "1.0~rc1", Greater),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("2.0.1", "2.0", Greater),
            ("xyz", "xyz.1", Less),
            ("1.01", "1.1", Equal),
            ("1.10", "1.9", Greater),
            ("a", "1", Less),
            ("1.a", "1.1", Less),
            ("1_0", "1.0", Equal),
            ("1..0", "1.0", Equal),
            ("fc4", "fc.4", Equal),
            ("5.5p1", "5.5p10", Less),
            ("10b2", "10a1", Greater),
            ("1.0", "1.0.0", Less),
            ("1.0.", "1.0", Equal),
            ("1.0+", "1.0", Equal),
            ("1.0a", "1.0.a", Equal),
            // rpm's own test suite (rpmvercmp.at), a selection
            ("1.0", "1.0", Equal),
            ("2.0", "1.0", Greater),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p2", "5.6p1", Less),
            ("6.0.rc1", "6.0", Greater),
            ("10abc", "10.1abc", Less),
            ("1.0aa", "1.0a", Greater),
            ("10.0001", "10.1", Equal),
            ("10.0001", "10.0039", Less),
            ("4.999.9", "5.0", Less),
            ("20101121", "20101122", Less),
            ("2_0", "2_0", Equal),
            ("2.0", "2_0", Equal),
            ("a+", "a_", Equal),
            ("+a", "_a", Equal),
            ("+_", "_+", Equal),
            ("1.0~rc1", "1.0~rc1", Equal),
            ("1.0~rc1", "1.0arc1", Less),
            ("1.0^20160101", "1.0^20160101", Equal),
            ("1.0^20160101", "1.0^20160102", Less),
            ("1.0^20160101^git1", "1.0^20160101", Greater),
            ("1.0^20160102", "1.0^20160101^git1", Greater),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.0^git1~pre", "1.0^git1", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "rpmvercmp({a:?}, {b:?})");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "rpmvercmp({b:?}, {a:?})");
        }
    }

    #[test]
    fn package_evr_orders_by_epoch_first_and_missing_release_lowest() {
        let e = |s: &str| Evr::parse(s).unwrap();
        assert_eq!(e("1:1.0-1").cmp_package(&e("2.0-1")), Greater);
        assert_eq!(e("0:2.0-1").cmp_package(&e("2.0-1")), Equal);
        assert_eq!(e("1.0").cmp_package(&e("1.0-1")), Less);
        assert_eq!(e("1.0-2").cmp_package(&e("1.0-10")), Less);
        // dependency comparison ignores a one-sided release
        assert_eq!(e("1.0").cmp_dependency(&e("1.0-5")), Equal);
    }

    #[test]
    fn evr_parse_splits_at_first_colon_and_first_dash() {
        let evr = Evr::parse("2:1.0^git1-3.fc40-x").unwrap();
        assert_eq!(evr.epoch, Some(2));
        assert_eq!(evr.version, "1.0^git1");
        assert_eq!(evr.release.as_deref(), Some("3.fc40-x"));
        assert_eq!(evr.to_string(), "2:1.0^git1-3.fc40-x");
        assert!(Evr::parse("x:1.0").is_err());
        assert_eq!(Evr::parse("3").unwrap(), Evr::new(None, "3", None));
    }

    #[test]
    fn parses_says_what_parse_takes() {
        for s in [
            "", "3", "1.0-1", ":1.0", "0:1.0-1", "12:1:2", "x:1.0", "-1:2", "1.5:2", "a-b:c",
        ] {
            assert_eq!(Evr::parses(s), Evr::parse(s).is_ok(), "{s:?}");
        }
        assert!(!Evr::parses("x:1.0"));
    }
}
