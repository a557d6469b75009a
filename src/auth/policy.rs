//! Who may do what: the original's `admins` and `allowed_clients`
//! (odcs-api.md §8.3, §8.4), as a pure function of an [`Identity`] and the
//! values a request asks for.
//!
//! Departures from the original, on purpose:
//! - admins may do everything, creating composes included (the original
//!   refused an admin missing from `allowed_clients`);
//! - a key left out of an entry allows every value (the original fell back on
//!   global `allowed_*` lists); an empty list allows none;
//! - `sources` are patterns (`*`, `?`); `[""]` still allows every value;
//! - `flags` are the flags asked for: `no_flags` is not one of them (the
//!   original counted it, so `flags = ["no_deps"]` refused every request);
//! - `max_seconds_to_live` and `max_active_composes` are new.

use super::Identity;
use crate::config::auth::{AllowedClients, Constraints, Principals};

/// The values of a compose a policy entry is checked against.
#[derive(Clone, Debug, Default)]
pub struct Subject {
    pub source_type: String,
    /// The tokens of `source`.
    pub sources: Vec<String>,
    pub arches: Vec<String>,
    /// Names of the flags set (`no_deps`, …).
    pub flags: Vec<String>,
    /// Names of the results asked for (`repository`, …).
    pub results: Vec<String>,
    pub compose_type: String,
    /// The extra target directory named, `None` for the default one (always allowed).
    pub target_dir: Option<String>,
    /// The `raw_config` name (`name` of `name#commit`) of a raw_config compose.
    pub raw_config_key: Option<String>,
    pub seconds_to_live: i64,
}

/// What a request may do once allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Composes the user may have in `wait`/`generating`, this one included
    /// (`None`: no limit).
    pub max_active: Option<u32>,
}

/// A refusal: 403 with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub String);

pub struct Policy {
    pub admins: Principals,
    pub allowed: AllowedClients,
    pub renew_owner_only: bool,
    pub max_active_composes: u32,
}

impl Policy {
    pub fn is_admin(&self, id: &Identity) -> bool {
        id.anonymous_admin
            || self.admins.users.contains(&id.user)
            || self.admins.groups.iter().any(|g| id.groups.contains(g))
    }

    fn global_limit(&self) -> Option<u32> {
        (self.max_active_composes > 0).then_some(self.max_active_composes)
    }

    /// POST: the user's entry (only it, when there is one) or any entry of
    /// one of its groups must accept every value.
    pub fn check_create(&self, id: &Identity, s: &Subject) -> Result<Grant, Refused> {
        self.check(id, s, true)
    }

    /// PATCH of a compose owned by `owner`, checked with the old compose's
    /// values, its target directory aside.
    pub fn check_renew(&self, id: &Identity, owner: &str, s: &Subject) -> Result<Grant, Refused> {
        if self.renew_owner_only && !self.is_admin(id) && owner != id.user {
            return Err(Refused(format!(
                "User {} may not renew compose of {owner}: only its owner or an admin may renew it.",
                id.user
            )));
        }
        self.check(id, s, false)
    }

    /// DELETE of a compose owned by `owner`: its owner or an admin.
    pub fn check_delete(&self, id: &Identity, owner: &str) -> Result<(), Refused> {
        if self.is_admin(id) || owner == id.user {
            return Ok(());
        }
        Err(Refused(format!(
            "User {} may not delete compose of {owner}: only its owner or an admin may delete it.",
            id.user
        )))
    }

    fn check(&self, id: &Identity, s: &Subject, with_target_dir: bool) -> Result<Grant, Refused> {
        if self.is_admin(id) {
            return Ok(Grant {
                max_active: self.global_limit().filter(|_| !id.anonymous_admin),
            });
        }
        let entries: Vec<&Constraints> = match self.allowed.users.get(&id.user) {
            Some(entry) => vec![entry],
            None => self
                .allowed
                .groups
                .iter()
                .filter(|(g, _)| id.groups.contains(*g))
                .map(|(_, c)| c)
                .collect(),
        };
        if entries.is_empty() {
            return Err(Refused(format!(
                "User {} not allowed to operate with any compose.",
                id.user
            )));
        }
        let mut first_errors = None;
        for entry in entries {
            let errors = refusals(entry, s, with_target_dir);
            if errors.is_empty() {
                return Ok(Grant {
                    max_active: entry
                        .max_active_composes
                        .or(self.global_limit())
                        .filter(|n| *n > 0),
                });
            }
            first_errors.get_or_insert(errors);
        }
        let text = first_errors
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                format!(
                    "User {} not allowed to operate with compose with {e}.",
                    id.user
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        Err(Refused(text))
    }
}

/// `key=value` of every value `c` does not allow.
fn refusals(c: &Constraints, s: &Subject, with_target_dir: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut each = |key: &str, allowed: &Option<Vec<String>>, values: &[String]| {
        if let Some(allowed) = allowed {
            for v in values {
                if !allows(allowed, v) {
                    out.push(format!("{key}={v}"));
                }
            }
        }
    };
    each(
        "source_types",
        &c.source_types,
        std::slice::from_ref(&s.source_type),
    );
    each("sources", &c.sources, &s.sources);
    each("arches", &c.arches, &s.arches);
    each("flags", &c.flags, &s.flags);
    each("results", &c.results, &s.results);
    each(
        "compose_types",
        &c.compose_types,
        std::slice::from_ref(&s.compose_type),
    );
    if with_target_dir && let Some(dir) = &s.target_dir {
        each("target_dirs", &c.target_dirs, std::slice::from_ref(dir));
    }
    if let Some(key) = &s.raw_config_key {
        each(
            "raw_config_keys",
            &c.raw_config_keys,
            std::slice::from_ref(key),
        );
    }
    if let Some(max) = c.max_seconds_to_live
        && s.seconds_to_live > max
    {
        out.push(format!(
            "seconds_to_live={} (at most {max})",
            s.seconds_to_live
        ));
    }
    out
}

/// Whether a list of patterns allows `value`: `[""]` allows everything.
fn allows(allowed: &[String], value: &str) -> bool {
    allowed == [""] || allowed.iter().any(|p| glob(p, value))
}

/// `*` any run of characters, `?` one character, the rest literally.
pub fn glob(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    // the last `*` seen, and where in `value` it started matching
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, groups: &[&str]) -> Identity {
        Identity::new(user, groups.iter().map(|g| g.to_string()), "test")
    }

    fn subject() -> Subject {
        Subject {
            source_type: "tag".into(),
            sources: vec!["f40-build".into()],
            arches: vec!["x86_64".into()],
            flags: vec![],
            results: vec!["repository".into()],
            compose_type: "test".into(),
            target_dir: None,
            raw_config_key: None,
            seconds_to_live: 3600,
        }
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    fn policy(users: Vec<(&str, Constraints)>, groups: Vec<(&str, Constraints)>) -> Policy {
        Policy {
            admins: Principals {
                users: vec!["root".into()],
                groups: vec!["releng".into()],
            },
            allowed: AllowedClients {
                users: users.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                groups: groups.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            },
            renew_owner_only: false,
            max_active_composes: 0,
        }
    }

    #[test]
    fn globs() {
        for (p, v, m) in [
            ("f40-*", "f40-build", true),
            ("f40-*", "f41-build", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*-build", "f40-updates-build", true),
            ("*a*b", "xaxxab", true),
            ("*a*b", "xaxxa", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ] {
            assert_eq!(glob(p, v), m, "{p:?} ~ {v:?}");
        }
    }

    /// Every constraint, once allowing and once refusing, with the
    /// original's message for the refusal.
    #[test]
    fn each_constraint_allows_and_refuses() {
        type Set = fn(&mut Constraints, Option<Vec<String>>);
        type Ask = fn(&mut Subject, &str);
        let table: Vec<(&str, Set, Ask, &str, &str)> = vec![
            (
                "source_types",
                |c, v| c.source_types = v,
                |s, x| s.source_type = x.into(),
                "tag",
                "module",
            ),
            (
                "sources",
                |c, v| c.sources = v,
                |s, x| s.sources = vec![x.into()],
                "f40-build",
                "rawhide",
            ),
            (
                "arches",
                |c, v| c.arches = v,
                |s, x| s.arches = vec!["x86_64".into(), x.into()],
                "x86_64",
                "s390x",
            ),
            (
                "flags",
                |c, v| c.flags = v,
                |s, x| s.flags = vec![x.into()],
                "no_deps",
                "no_inheritance",
            ),
            (
                "results",
                |c, v| c.results = v,
                |s, x| s.results = vec![x.into()],
                "repository",
                "iso",
            ),
            (
                "compose_types",
                |c, v| c.compose_types = v,
                |s, x| s.compose_type = x.into(),
                "test",
                "production",
            ),
            (
                "target_dirs",
                |c, v| c.target_dirs = v,
                |s, x| s.target_dir = Some(x.into()),
                "private",
                "releng",
            ),
            (
                "raw_config_keys",
                |c, v| c.raw_config_keys = v,
                |s, x| s.raw_config_key = Some(x.into()),
                "cfg1",
                "cfg2",
            ),
        ];
        for (key, set, ask, good, bad) in table {
            let mut c = Constraints::default();
            set(&mut c, strings(&[good]));
            let p = policy(vec![("dev", c)], vec![]);
            let mut s = subject();
            ask(&mut s, good);
            assert_eq!(
                p.check_create(&id("dev", &[]), &s),
                Ok(Grant { max_active: None }),
                "{key} allows {good}"
            );
            ask(&mut s, bad);
            assert_eq!(
                p.check_create(&id("dev", &[]), &s),
                Err(Refused(format!(
                    "User dev not allowed to operate with compose with {key}={bad}."
                ))),
                "{key} refuses {bad}"
            );
            // left out: everything; empty: nothing; [""]: everything
            let open = policy(vec![("dev", Constraints::default())], vec![]);
            assert!(
                open.check_create(&id("dev", &[]), &s).is_ok(),
                "{key} left out"
            );
            let mut c = Constraints::default();
            set(&mut c, Some(vec![]));
            assert!(
                policy(vec![("dev", c)], vec![])
                    .check_create(&id("dev", &[]), &s)
                    .is_err(),
                "{key} = []"
            );
            let mut c = Constraints::default();
            set(&mut c, strings(&[""]));
            assert!(
                policy(vec![("dev", c)], vec![])
                    .check_create(&id("dev", &[]), &s)
                    .is_ok(),
                "{key} = [\"\"]"
            );
        }
    }

    #[test]
    fn lifetime_and_active_limits() {
        let c = Constraints {
            max_seconds_to_live: Some(7200),
            max_active_composes: Some(2),
            ..Default::default()
        };
        let mut p = policy(vec![("dev", c)], vec![("qa", Constraints::default())]);
        let mut s = subject();
        assert_eq!(
            p.check_create(&id("dev", &[]), &s),
            Ok(Grant {
                max_active: Some(2)
            })
        );
        s.seconds_to_live = 7201;
        assert_eq!(
            p.check_create(&id("dev", &[]), &s),
            Err(Refused(
                "User dev not allowed to operate with compose with seconds_to_live=7201 (at most 7200).".into()
            ))
        );
        // the global limit applies where an entry sets none, admins included
        p.max_active_composes = 5;
        assert_eq!(
            p.check_create(&id("tester", &["qa"]), &s),
            Ok(Grant {
                max_active: Some(5)
            })
        );
        assert_eq!(
            p.check_create(&id("root", &[]), &s),
            Ok(Grant {
                max_active: Some(5)
            })
        );
        // but not the anonymous admin of noauth
        assert_eq!(
            p.check_create(&Identity::anonymous(), &s),
            Ok(Grant { max_active: None })
        );
    }

    #[test]
    fn a_user_entry_hides_its_groups_and_any_group_entry_may_allow() {
        let narrow = Constraints {
            source_types: strings(&["build"]),
            ..Default::default()
        };
        let p = policy(
            vec![("dev", narrow)],
            vec![
                ("qa", Constraints::default()),
                (
                    "modules",
                    Constraints {
                        source_types: strings(&["module"]),
                        ..Default::default()
                    },
                ),
            ],
        );
        let s = subject();
        // dev is in qa, which allows tags, but dev's own entry does not
        assert!(p.check_create(&id("dev", &["qa"]), &s).is_err());
        // a user in two groups: the one that allows is enough
        assert!(
            p.check_create(&id("tester", &["modules", "qa"]), &s)
                .is_ok()
        );
        // only modules: refused naming what
        assert_eq!(
            p.check_create(&id("tester", &["modules"]), &s),
            Err(Refused(
                "User tester not allowed to operate with compose with source_types=tag.".into()
            ))
        );
        assert_eq!(
            p.check_create(&id("stranger", &["other"]), &s),
            Err(Refused(
                "User stranger not allowed to operate with any compose.".into()
            ))
        );
    }

    #[test]
    fn admins_do_everything_owners_delete_renew_by_choice() {
        let mut p = policy(
            vec![
                ("dev", Constraints::default()),
                ("dev2", Constraints::default()),
            ],
            vec![],
        );
        let mut s = subject();
        s.source_type = "raw_config".into();
        s.target_dir = Some("private".into());
        assert!(p.check_create(&id("root", &[]), &s).is_ok());
        assert!(p.check_create(&id("anyone", &["releng"]), &s).is_ok());
        // delete: owner or admin
        assert!(p.check_delete(&id("dev", &[]), "dev").is_ok());
        assert!(p.check_delete(&id("root", &[]), "dev").is_ok());
        assert!(p.check_delete(&id("x", &["releng"]), "dev").is_ok());
        assert_eq!(
            p.check_delete(&id("dev2", &[]), "dev"),
            Err(Refused(
                "User dev2 may not delete compose of dev: only its owner or an admin may delete it.".into()
            ))
        );
        // renew: any allowed client, unless owner only; never a stranger
        assert!(p.check_renew(&id("dev2", &[]), "dev", &s).is_ok());
        assert!(p.check_renew(&id("stranger", &[]), "dev", &s).is_err());
        p.renew_owner_only = true;
        assert!(p.check_renew(&id("dev2", &[]), "dev", &s).is_err());
        assert!(p.check_renew(&id("dev", &[]), "dev", &s).is_ok());
        assert!(p.check_renew(&id("root", &[]), "dev", &s).is_ok());
        // renew does not check the target dir (it cannot change)
        let c = Constraints {
            target_dirs: Some(vec![]),
            ..Default::default()
        };
        let p = policy(vec![("dev", c)], vec![]);
        assert!(p.check_renew(&id("dev", &[]), "dev", &s).is_ok());
        assert!(p.check_create(&id("dev", &[]), &s).is_err());
    }
}
