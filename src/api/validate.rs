//! Input checking for POST/PATCH bodies, once, at the edge: the rules of the
//! original ODCS (odcs-api.md §3.2, §4, §5.4) with its messages, plus what it
//! left unchecked and a service must not accept (a path in a package name,
//! non-list `arches`). The result is a [`CreateRequest`] nothing downstream
//! re-validates.

use serde_json::Value;

use crate::domain::{Flag, MultilibMethod, ResultKind, SourceType};

/// A 400 with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

fn bad(msg: impl Into<String>) -> Invalid {
    Invalid(msg.into())
}

const LIST_KEYS: &[&str] = &[
    "builds",
    "parent_pungi_compose_ids",
    "multilib_method",
    "packages",
    "scratch_build_tasks",
    "scratch_modules",
    "sigkeys",
    "modules",
];
const STRING_KEYS: &[&str] = &[
    "base_module_br_name",
    "base_module_br_stream",
    "compose_type",
    "label",
    "target_dir",
    "type",
];
const INT_KEYS: &[&str] = &[
    "seconds_to_live",
    "koji_event",
    "base_module_br_stream_version_lte",
    "base_module_br_stream_version_gte",
];
const ALLOWED_PUNCT: &str = " -/_.:#+?$~^,";

fn check_string(s: &str) -> Result<(), Invalid> {
    if s.chars()
        .all(|c| c.is_alphanumeric() || ALLOWED_PUNCT.contains(c))
    {
        Ok(())
    } else {
        Err(bad(
            "Only alphanumerical characters and ' -/_.:#+?$~^,' characters are allowed in ODCS input variables",
        ))
    }
}

/// odcs-api.md §4, applied to the whole body.
pub fn validate_json_data(v: &Value) -> Result<(), Invalid> {
    fn walk(key: Option<&str>, v: &Value, top: bool, in_packages: bool) -> Result<(), Invalid> {
        if let Some(k) = key {
            if LIST_KEYS.contains(&k) && !v.is_array() {
                return Err(bad(format!("{k} should be a list")));
            }
            if STRING_KEYS.contains(&k) && !v.is_string() {
                return Err(bad(format!("{k} should be a string")));
            }
            if INT_KEYS.contains(&k) && !(v.is_i64() || v.is_u64() || v.is_boolean()) {
                return Err(bad(format!("{k} should be an integer")));
            }
        }
        match v {
            Value::Object(m) => {
                // only the top-level `source` may be an object
                if !top {
                    return Err(bad("Only 'source' key is allowed to contain dict."));
                }
                for (k, x) in m {
                    walk(Some(k), x, false, false)?;
                }
                Ok(())
            }
            Value::Array(items) => {
                let pk = key == Some("packages");
                for x in items {
                    if x.is_object() {
                        return Err(bad("Only 'source' key is allowed to contain dict."));
                    }
                    walk(None, x, false, pk)?;
                }
                Ok(())
            }
            Value::String(s) if !in_packages => check_string(s),
            Value::Null => Err(bad(format!(
                "Only dict, list, str, unicode, int, float and bool types are allowed in ODCS input variables, but '{}' has '<class 'NoneType'>' type",
                key.unwrap_or("")
            ))),
            _ => Ok(()),
        }
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                walk(Some(k), x, k == "source", false)?;
            }
            Ok(())
        }
        other => walk(None, other, true, false),
    }
}

/// Lifetime limits from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct Lifetime {
    pub default: i64,
    pub max: i64,
}

/// `seconds_to_live` (or the legacy `seconds-to-live`, maybe a string): falsy →
/// default, else capped at the maximum.
pub fn seconds_to_live(body: &Value, life: Lifetime) -> Result<i64, Invalid> {
    let v = match body.get("seconds_to_live") {
        Some(x) if !x.is_null() => x.clone(),
        _ => body.get("seconds-to-live").cloned().unwrap_or(Value::Null),
    };
    let n = match &v {
        Value::Null => 0,
        Value::Bool(b) => i64::from(*b),
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            bad(format!(
                "Invalid seconds_to_live specified in request: {body}"
            ))
        })?,
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            bad(format!(
                "Invalid seconds_to_live specified in request: {body}"
            ))
        })?,
        _ => {
            return Err(bad(format!(
                "Invalid seconds_to_live specified in request: {body}"
            )));
        }
    };
    if n < 0 {
        // the original accepted negative lifetimes (an expiry in the past);
        // nothing useful comes of it
        return Err(bad("seconds_to_live must not be negative"));
    }
    Ok(if n == 0 {
        life.default
    } else {
        n.min(life.max)
    })
}

/// A checked request to create a compose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub source_type: i64,
    pub source_type_name: String,
    /// White-space separated, as stored.
    pub source: String,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub sigkeys: String,
    pub koji_event: Option<i64>,
    pub flags: u32,
    pub results: u32,
    pub arches: String,
    pub multilib_arches: String,
    pub multilib_method: u32,
    pub lookaside_repos: String,
    pub label: Option<String>,
    pub compose_type: String,
    pub seconds_to_live: i64,
    /// `default`, or the name of an extra target directory (checked against
    /// the configuration by the caller).
    pub target_dir: String,
    /// `"<git url> <commit>"` of the modulemd-defaults (checked against
    /// `lookaside_allowed` by the caller).
    pub module_defaults: Option<String>,
    /// The `base_module_br_*` filters of the MBS lookup (module composes).
    pub base_module_br: crate::source::BaseModuleBr,
    /// Koji tags whose module builds the compose takes (white-space
    /// separated, as stored).
    pub modular_koji_tags: Option<String>,
    /// N:S:V:C of scratch module builds (white-space separated).
    pub scratch_modules: Option<String>,
    /// Pungi compose ids this compose is made from (white-space separated),
    /// passed to Pungi as `--parent-compose-id` each.
    pub parent_pungi_compose_ids: Option<String>,
    /// The Pungi compose id this one is a respin of (`--respin-of`).
    pub respin_of: Option<String>,
}

/// A module of a module compose: `n:s`, `n:s:v` or `n:s:v:c` (the
/// original's message), never a base module.
fn check_module(token: &str, base_modules: &[String]) -> Result<(), Invalid> {
    let parts: Vec<&str> = token.split(':').collect();
    let well_formed = (2..=4).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
        })
        && parts
            .get(2)
            .is_none_or(|v| v.chars().all(|c| c.is_ascii_digit()));
    if !well_formed {
        return Err(bad(format!(
            "Module definition must be in \"n:s\", \"n:s:v\" or \"n:s:v:c\" format, but got {token}"
        )));
    }
    if base_modules.iter().any(|b| b == parts[0]) {
        return Err(bad(format!(
            "ODCS currently cannot create compose with base modules, but {} was requested.",
            parts[0]
        )));
    }
    Ok(())
}

fn string_list(v: Option<&Value>, key: &str) -> Result<Option<Vec<String>>, Invalid> {
    match v {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(format!("{key} should be a list of strings")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(format!("{key} should be a list"))),
    }
}

/// A list of strings, each passing `check` (the API's list fields that name
/// things: sigkeys, builds, arches).
pub fn checked_list(
    v: Option<&Value>,
    key: &str,
    check: impl Fn(&str) -> Result<(), Invalid>,
) -> Result<Option<Vec<String>>, Invalid> {
    let list = string_list(v, key)?;
    if let Some(items) = &list {
        items.iter().try_for_each(|i| check(i))?;
    }
    Ok(list)
}

/// A package name: what RPM allows in a name, and never a path.
fn check_package(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && !name.contains('/')
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._+()".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("packages: invalid package name {name:?}")))
    }
}

/// A build's N-V-R (`bash-5.2.26-3.fc40`, or a draft build's
/// `bash-5.2.26-3.fc40,draft_1234`): what Koji accepts in names, versions and
/// releases.
pub fn check_build(nvr: &str) -> Result<(), Invalid> {
    if crate::domain::is_build_nvr(nvr) {
        Ok(())
    } else {
        Err(bad(format!("builds: invalid build N-V-R {nvr:?}")))
    }
}

/// Arches name directories of the compose tree (`<arch>/os`): letters,
/// digits and `_` only (x86_64, ppc64le, noarch, src).
fn check_arch(field: &str, arch: &str) -> Result<(), Invalid> {
    if !arch.is_empty() && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(bad(format!(
            "{field}: invalid arch {arch:?} (letters, digits and _ only)"
        )))
    }
}

/// Sigkeys name directories of Koji's topdir (`data/signed/<key>/`): hex
/// digits only; the empty key allows unsigned RPMs.
pub fn check_sigkey(key: &str) -> Result<(), Invalid> {
    if key.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(bad(format!(
            "sigkeys: invalid key {key:?} (hex digits only; \"\" allows unsigned RPMs)"
        )))
    }
}

/// POST body → checked request (odcs-api.md §3.2, steps 2–25 for the source
/// types this server supports).
pub fn parse_create(
    body: &Value,
    default_arches: &[String],
    default_sigkeys: &[String],
    base_modules: &[String],
    life: Lifetime,
) -> Result<CreateRequest, Invalid> {
    let empty = match body {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
    };
    if empty {
        return Err(bad("No JSON POST data submitted"));
    }
    if !body.is_object() {
        return Err(bad("the request body must be a JSON object"));
    }
    validate_json_data(body)?;
    let source = body
        .get("source")
        .filter(|s| s.is_object())
        .ok_or_else(|| bad(format!("Invalid source configuration provided: {body}")))?;
    let type_name = source.get("type").and_then(Value::as_str).ok_or_else(|| {
        bad(format!(
            "Missing type in source configuration, received: {source}"
        ))
    })?;
    let source_type = SourceType::from_name(type_name)
        .ok_or_else(|| bad(format!("Unknown source type \"{type_name}\"")))?;
    if !source_type.supported() {
        return Err(bad(format!(
            "Source type \"{type_name}\" is not supported by this server (supported: tag, build, module, repo, pulp, raw_config, pungi_compose)"
        )));
    }
    let source_type = source_type.code();
    // split on single spaces, de-duplicated (order kept here, unlike the original's set)
    let mut tokens: Vec<String> = Vec::new();
    if let Some(s) = source.get("source") {
        let s = s.as_str().ok_or_else(|| bad("source should be a string"))?;
        for t in s.split(' ').filter(|t| !t.is_empty()) {
            if !tokens.iter().any(|x| x == t) {
                tokens.push(t.to_owned());
            }
        }
    }
    // exact N:S:V:C of scratch module builds (module and tag composes)
    let scratch_modules = checked_list(source.get("scratch_modules"), "scratch_modules", |t| {
        check_module(t, base_modules)?;
        if t.split(':').count() != 4 {
            return Err(bad(format!(
                "scratch_modules: {t:?} is not a scratch module build's N:S:V:C"
            )));
        }
        Ok(())
    })?
    .filter(|t| !t.is_empty());
    if let Some(s) = &scratch_modules
        && !matches!(type_name, "module" | "tag")
    {
        return Err(bad(format!(
            "scratch_modules: only module and tag composes take scratch modules, not {type_name} ({})",
            s.join(" ")
        )));
    }
    let scratch_only = type_name == "module" && scratch_modules.is_some();
    if tokens.is_empty() && type_name != "build" && !scratch_only {
        return Err(bad(format!("No source provided for {source_type}")));
    }
    if type_name == "repo" {
        for t in &tokens {
            let path = t.strip_prefix("file://").unwrap_or(t);
            let remote = t.starts_with("http://") || t.starts_with("https://");
            if !remote && !path.starts_with('/') {
                return Err(bad(format!(
                    "source: {t:?} is not a repository (an absolute path, a file:// or an http(s):// URL)"
                )));
            }
        }
    }
    if type_name == "pulp" {
        for t in &tokens {
            let fine = t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:+,@".contains(c));
            if !fine {
                return Err(bad(format!(
                    "source: {t:?} is not a Pulp content set or repository id (letters, digits and ._-:+,@ only)"
                )));
            }
        }
    }
    if type_name == "pungi_compose" {
        // several variant URLs: a compose made of those composes, merged
        for url in &tokens {
            let local = url.strip_prefix("file://").unwrap_or(url);
            if !(url.starts_with("http://")
                || url.starts_with("https://")
                || local.starts_with('/'))
            {
                return Err(bad(format!(
                    "source: {url:?} is not the URL of a compose's variant (http(s)://, file:// or an absolute path)"
                )));
            }
            crate::source::pungi_compose::metadata_url(url)
                .map_err(|e| bad(format!("source: {e}")))?;
        }
    }
    if type_name == "raw_config" {
        if tokens.len() != 1 {
            return Err(bad(
                "Only single source is allowed for \"raw_config\" source_type",
            ));
        }
        // (the commit also goes to git: no option, nothing but a name)
        let well_formed = tokens[0].split_once('#').is_some_and(|(name, commit)| {
            !name.is_empty()
                && !commit.is_empty()
                && !commit.starts_with('-')
                && commit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c))
        });
        if !well_formed {
            return Err(bad(
                "Source must be in \"source_name#commit_hash\" format for \"raw_config\" source_type.",
            ));
        }
    }
    if type_name == "module" {
        for t in &tokens {
            check_module(t, base_modules)?;
        }
    }
    let seconds_to_live = seconds_to_live(body, life)?;
    let packages = string_list(source.get("packages"), "packages")?;
    if let Some(p) = &packages {
        p.iter().try_for_each(|n| check_package(n))?;
        // the original fails such a compose when generating it, with this
        // message; it is refused here at once
        if type_name == "module" && !p.is_empty() {
            return Err(bad("Exact packages cannot be set for MODULE source type."));
        }
    }
    let builds = checked_list(source.get("builds"), "builds", check_build)?;
    if type_name == "build" && tokens.is_empty() && builds.as_ref().is_none_or(Vec::is_empty) {
        return Err(bad(format!("No source provided for {source_type}")));
    }
    let sigkeys = match checked_list(source.get("sigkeys"), "sigkeys", check_sigkey)? {
        Some(keys) => keys.join(" "),
        None => default_sigkeys.join(" "),
    };
    let koji_event = source
        .get("koji_event")
        .and_then(|e| e.as_i64().or(e.as_bool().map(i64::from)));
    let flags = Flag::mask(&string_list(body.get("flags"), "flags")?.unwrap_or_default())
        .map_err(|n| bad(format!("('Unknown flag %s', '{n}')")))?;
    if Flag::FirstSourceWins.is_set(i64::from(flags)) && type_name != "pungi_compose" {
        return Err(bad(format!(
            "flags: first_source_wins applies to a pungi_compose source of several composes, \
             not to {type_name} (the tags of a tag compose are always taken in order)"
        )));
    }
    let results =
        1 | ResultKind::mask(&string_list(body.get("results"), "results")?.unwrap_or_default())
            .map_err(|n| bad(format!("('Unknown result %s', '{n}')")))?;
    let arches = match body.get("arches") {
        None => default_arches.to_vec(),
        Some(Value::Array(_)) => string_list(body.get("arches"), "arches")?.unwrap_or_default(),
        Some(_) => return Err(bad("arches should be a list")),
    };
    let arches = if arches.is_empty() {
        default_arches.to_vec()
    } else {
        arches
    };
    arches.iter().try_for_each(|a| check_arch("arches", a))?;
    let multilib_arches = checked_list(body.get("multilib_arches"), "multilib_arches", |a| {
        check_arch("multilib_arches", a)
    })?
    .unwrap_or_default();
    let mut multilib_method = 0;
    for n in string_list(body.get("multilib_method"), "multilib_method")?.unwrap_or_default() {
        multilib_method |= MultilibMethod::from_name(&n)
            .ok_or_else(|| bad(format!("Unknown multilib method \"{n}\"")))?
            .bit();
    }
    let lookaside =
        string_list(body.get("lookaside_repos"), "lookaside_repos")?.unwrap_or_default();
    for l in &lookaside {
        if !(l.starts_with("http://") || l.starts_with("https://") || l.starts_with("file:///")) {
            return Err(bad(format!(
                "lookaside_repos: {l:?} is not an http(s):// or file:// URL"
            )));
        }
    }
    let target_dir = match body.get("target_dir").and_then(Value::as_str) {
        None | Some("") => crate::domain::DEFAULT_TARGET_DIR.to_owned(),
        Some(name) => name.to_owned(),
    };
    let text_of = |key: &str| -> Result<Option<String>, Invalid> {
        match source.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(format!("{key} should be a string"))),
        }
    };
    let module_defaults = match (
        text_of("module_defaults_url")?,
        text_of("module_defaults_commit")?,
    ) {
        (None, None) => None,
        (Some(url), Some(commit)) => {
            let commit_ok = !commit.starts_with('-')
                && commit
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
            if !commit_ok || url.contains(char::is_whitespace) || url.starts_with('-') {
                return Err(bad(format!(
                    "module_defaults_url and module_defaults_commit: {url:?} at {commit:?} is not a git URL and commit"
                )));
            }
            Some(format!("{url} {commit}"))
        }
        _ => {
            return Err(bad(
                "The \"module_defaults_url\" and \"module_defaults_commit\" must be used together.",
            ));
        }
    };
    // types already checked by validate_json_data (odcs-api.md §4)
    let int_of = |key: &str| {
        source
            .get(key)
            .and_then(|e| e.as_i64().or(e.as_bool().map(i64::from)))
    };
    let base_module_br = crate::source::BaseModuleBr {
        name: text_of("base_module_br_name")?,
        stream: text_of("base_module_br_stream")?,
        stream_version_lte: int_of("base_module_br_stream_version_lte"),
        stream_version_gte: int_of("base_module_br_stream_version_gte"),
    };
    let modular_koji_tags =
        checked_list(source.get("modular_koji_tags"), "modular_koji_tags", |t| {
            if t.is_empty() || t.contains(char::is_whitespace) {
                Err(bad(format!(
                    "modular_koji_tags: {t:?} is not a Koji tag name"
                )))
            } else {
                Ok(())
            }
        })?
        .filter(|t| !t.is_empty())
        .map(|t| t.join(" "));
    // Pungi compose ids, as Pungi writes them (`odcs-5-1-20240101.t.0`)
    let pungi_id = |field: &str, id: &str| {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            Err(bad(format!("{field}: {id:?} is not a Pungi compose id")))
        } else {
            Ok(())
        }
    };
    let parent_pungi_compose_ids = checked_list(
        body.get("parent_pungi_compose_ids"),
        "parent_pungi_compose_ids",
        |id| pungi_id("parent_pungi_compose_ids", id),
    )?
    .filter(|ids| !ids.is_empty())
    .map(|ids| ids.join(" "));
    let respin_of = match body.get("respin_of") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => {
            pungi_id("respin_of", id)?;
            Some(id.clone())
        }
        Some(_) => return Err(bad("respin_of should be a string")),
    };
    let compose_type = body
        .get("compose_type")
        .and_then(Value::as_str)
        .unwrap_or("test")
        .to_owned();
    // Pungi takes scratch modules into test composes only (and leaves them
    // out of others with a warning); here the request is refused instead
    if scratch_modules.is_some() && compose_type != "test" {
        return Err(bad(format!(
            "scratch_modules: only composes of compose_type \"test\" may hold scratch module builds, not \"{compose_type}\""
        )));
    }
    Ok(CreateRequest {
        source_type,
        source_type_name: type_name.to_owned(),
        source: tokens.join(" "),
        packages: packages.map(|p| p.join(" ")),
        builds: builds.map(|b| b.join(" ")),
        sigkeys,
        koji_event,
        flags,
        results,
        arches: arches.join(" "),
        multilib_arches: multilib_arches.join(" "),
        multilib_method,
        lookaside_repos: lookaside.join(" "),
        label: body.get("label").and_then(Value::as_str).map(str::to_owned),
        compose_type,
        seconds_to_live,
        target_dir,
        module_defaults,
        base_module_br,
        modular_koji_tags,
        scratch_modules: scratch_modules.map(|s| s.join(" ")),
        parent_pungi_compose_ids,
        respin_of,
    })
}

/// Whether lookaside repository `url` may be read by this server: it must
/// start with one of the `allowed` URL prefixes (at a `/` boundary) or, for
/// `file://` URLs, lie in one of the allowed directories, and hold no `.` or
/// `..` segment (also percent-encoded) that could lead out of it. Otherwise
/// a 400 naming the field: the server fetches what a request names, so only
/// places its operator chose may be named.
pub fn check_lookaside_allowed(url: &str, allowed: &[String]) -> Result<(), Invalid> {
    check_allowed("lookaside_repos", url, allowed)
}

/// Whether `url` (of request field `field`) is under one of the URL prefixes
/// or directories of `allowed` (`lookaside_allowed`).
pub fn check_allowed(field: &str, url: &str, allowed: &[String]) -> Result<(), Invalid> {
    let dotted = url.split('/').any(|seg| {
        let lower = seg.to_ascii_lowercase().replace("%2e", ".");
        lower == "." || lower == ".."
    });
    let within = |prefix: &str| {
        let prefix = if prefix.starts_with('/') {
            format!("file://{prefix}")
        } else {
            prefix.to_owned()
        };
        url.strip_prefix(prefix.as_str())
            .is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
    };
    if !dotted && allowed.iter().any(|p| within(p)) {
        return Ok(());
    }
    let allowed_text = if allowed.is_empty() {
        "none are allowed by this server".to_owned()
    } else {
        format!("allowed: {}", allowed.join(", "))
    };
    Err(bad(format!(
        "{field}: {url:?} is not a repository this server may read ({allowed_text}; configuration key lookaside_allowed)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookaside_repositories_must_be_in_an_allowed_place() {
        let allowed = vec![
            "https://mirror.example.com/repos".to_owned(),
            "/srv/repos/".to_owned(),
        ];
        for ok in [
            "https://mirror.example.com/repos",
            "https://mirror.example.com/repos/f40/x86_64",
            "file:///srv/repos/base",
        ] {
            check_lookaside_allowed(ok, &allowed).unwrap();
        }
        for refused in [
            "https://mirror.example.com/reposevil",
            "https://mirror.example.com.evil.org/repos",
            "https://mirror.example.com/repos/../private",
            "https://mirror.example.com/repos/%2E%2E/private",
            "http://mirror.example.com/repos",
            "file:///srv/reposx",
            "file:///srv/repos/../../etc",
            "http://169.254.169.254/latest",
        ] {
            let err = check_lookaside_allowed(refused, &allowed).unwrap_err();
            assert!(err.0.starts_with("lookaside_repos: "), "{}", err.0);
        }
        let err = check_lookaside_allowed("https://a/b", &[]).unwrap_err();
        assert!(err.0.contains("none are allowed"), "{}", err.0);
    }
    use serde_json::json;

    const LIFE: Lifetime = Lifetime {
        default: 86_400,
        max: 259_200,
    };

    fn parse(v: Value) -> Result<CreateRequest, Invalid> {
        parse_create(
            &v,
            &["x86_64".to_owned()],
            &[],
            &["platform".to_owned(), "bootstrap".to_owned()],
            LIFE,
        )
    }

    #[test]
    fn a_tag_request_is_normalised_like_the_original() {
        let r = parse(json!({"source": {"type": "tag", "source": "f40", "packages": ["gcc-c++", "bash"], "sigkeys": ["", "abc"]},
            "flags": ["no_deps", "check_deps"], "seconds-to-live": "3600"}))
        .unwrap();
        assert_eq!(r.source_type, 1);
        assert_eq!(r.packages.as_deref(), Some("gcc-c++ bash"));
        assert_eq!(r.sigkeys, " abc");
        assert_eq!(r.flags, 9);
        assert_eq!(Flag::names(i64::from(r.flags)), ["no_deps", "check_deps"]);
        assert_eq!(r.seconds_to_live, 3600);
        assert_eq!(r.arches, "x86_64");
        assert_eq!(r.compose_type, "test");
    }

    #[test]
    fn bad_input_gets_the_message_naming_the_field() {
        let cases = [
            (json!({}), "No JSON POST data submitted"),
            (
                json!({"source": "f40"}),
                "Invalid source configuration provided",
            ),
            (
                json!({"source": {"source": "f40"}}),
                "Missing type in source configuration",
            ),
            (
                json!({"source": {"type": "nope", "source": "x"}}),
                "Unknown source type \"nope\"",
            ),
            (
                json!({"source": {"type": "tag"}}),
                "No source provided for 1",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "flags": ["fast"]}),
                "('Unknown flag %s', 'fast')",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40", "packages": "bash"}}),
                "packages should be a list",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40", "packages": ["../etc/passwd"]}}),
                "packages: invalid package name",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "seconds_to_live": -5}),
                "seconds_to_live must not be negative",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "seconds_to_live": "1"}),
                "seconds_to_live should be an integer",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40;rm"}}),
                "Only alphanumerical characters",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "label": null}),
                "label should be a string",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "arches": "x86_64"}),
                "arches should be a list",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "x": {"y": 1}}),
                "Only 'source' key is allowed to contain dict.",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "multilib_method": ["most"]}),
                "Unknown multilib method \"most\"",
            ),
            (
                json!({"source": {"type": "pulp", "source": "cs-a ../x"}}),
                "source: \"../x\" is not a Pulp content set or repository id",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "arches": ["../x86_64"]}),
                "arches: invalid arch \"../x86_64\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40"}, "multilib_arches": ["i686/.."]}),
                "multilib_arches: invalid arch",
            ),
            (
                json!({"source": {"type": "build", "builds": ["", "bash-1-1"]}}),
                "builds: invalid build N-V-R \"\"",
            ),
            (
                json!({"source": {"type": "tag", "source": "f40", "sigkeys": ["../../etc"]}}),
                "sigkeys: invalid key \"../../etc\"",
            ),
        ];
        for (body, want) in cases {
            let got = parse(body.clone()).unwrap_err().0;
            assert!(got.contains(want), "{body}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn lifetime_defaults_and_caps() {
        let life = |v: Value| seconds_to_live(&v, LIFE).unwrap();
        assert_eq!(life(json!({})), 86_400);
        assert_eq!(life(json!({"seconds_to_live": 0})), 86_400);
        assert_eq!(life(json!({"seconds_to_live": 10_000_000})), 259_200);
        assert_eq!(life(json!({"seconds-to-live": "60"})), 60);
    }
}
