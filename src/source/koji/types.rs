//! The hub's records as typed structs, read field by field from [`Value`]s.
//!
//! Each reader takes the fields it needs and ignores the rest, so a newer hub
//! that adds fields still works; `nil` and a missing member mean the same
//! (older hubs leave fields out that newer ones send as nil). A field the record
//! cannot do without is an error naming it.

use super::xmlrpc::{Value, XmlRpcError, describe};

/// Build states (`koji.BUILD_STATES`).
pub mod build_state {
    pub const BUILDING: i64 = 0;
    pub const COMPLETE: i64 = 1;
    pub const DELETED: i64 = 2;
    pub const FAILED: i64 = 3;
    pub const CANCELED: i64 = 4;
}

/// A Koji event: every write to the hub's database allocates one.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub id: i64,
    /// Seconds since the epoch.
    pub ts: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    /// The tag's arches (`arches` is a space-separated string, or nil).
    pub arches: Vec<String>,
    pub locked: bool,
    pub perm: Option<String>,
    pub maven_support: bool,
    pub extra: Vec<(String, Value)>,
    /// The event the answer describes, when one was asked for.
    pub query_event: Option<i64>,
}

/// One entry of `getFullInheritance`: a parent reached from the queried tag.
#[derive(Clone, Debug, PartialEq)]
pub struct InheritanceLink {
    pub parent_id: i64,
    pub child_id: i64,
    /// The parent's name.
    pub name: String,
    pub priority: i64,
    pub maxdepth: Option<i64>,
    pub intransitive: bool,
    pub noconfig: bool,
    pub pkg_filter: String,
    /// Depth of the child in the walk (1 = the queried tag's own parents).
    pub currdepth: Option<i64>,
    pub nextdepth: Option<i64>,
    /// Package-name regexes an entry must match to be inherited through this link.
    pub filter: Vec<String>,
}

/// A build, as `getBuild`, `listTagged` and `listTaggedRPMS` describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct KojiBuild {
    pub id: i64,
    pub package_id: Option<i64>,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i64>,
    pub nvr: String,
    pub state: i64,
    pub volume_id: Option<i64>,
    /// `None` and `"DEFAULT"` both mean the topdir itself.
    pub volume_name: Option<String>,
    pub owner_name: Option<String>,
    pub task_id: Option<i64>,
    pub draft: bool,
    pub creation_event_id: Option<i64>,
    pub completion_ts: Option<f64>,
    /// Where the build was found (`listTagged*` only).
    pub tag_id: Option<i64>,
    pub tag_name: Option<String>,
    /// The tagging event (`listTagged*` only).
    pub create_event: Option<i64>,
    pub extra: Option<Value>,
}

/// An RPM of a build.
#[derive(Clone, Debug, PartialEq)]
pub struct KojiRpm {
    pub id: i64,
    pub build_id: i64,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i64>,
    pub arch: String,
    pub size: u64,
    pub payloadhash: Option<String>,
    pub buildtime: Option<i64>,
    pub draft: bool,
    /// 0 (or absent) for RPMs built in Koji.
    pub external_repo_id: Option<i64>,
    pub external_repo_name: Option<String>,
    pub metadata_only: bool,
    /// Present with `rpmsigs=True`: the signature of this row, `""` for none.
    pub sigkey: Option<String>,
}

/// One row of `queryRPMSigs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmSig {
    pub rpm_id: i64,
    /// Eight lowercase hex digits, or `""` for the unsigned header.
    pub sigkey: String,
    pub sighash: Option<String>,
}

impl KojiRpm {
    pub fn nvr(&self) -> String {
        format!("{}-{}-{}", self.name, self.version, self.release)
    }

    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }

    /// `name-[epoch:]version-release.arch`.
    pub fn nevra(&self) -> String {
        match self.epoch {
            Some(e) => format!(
                "{}-{e}:{}-{}.{}",
                self.name, self.version, self.release, self.arch
            ),
            None => self.nvra(),
        }
    }

    pub fn file_name(&self) -> String {
        format!("{}.rpm", self.nvra())
    }

    pub fn from_value(v: &Value) -> Result<KojiRpm, XmlRpcError> {
        let r = Record::new(v)?;
        let size = r.opt_i64("size")?.unwrap_or(0);
        Ok(KojiRpm {
            id: r.i64("id")?,
            build_id: r.i64("build_id")?,
            name: r.string("name")?,
            version: r.string("version")?,
            release: r.string("release")?,
            epoch: r.opt_i64("epoch")?,
            arch: r.string("arch")?,
            size: u64::try_from(size).map_err(|_| r.bad("size", "a size", v))?,
            payloadhash: r.opt_string("payloadhash")?,
            buildtime: r.opt_i64("buildtime")?,
            draft: r.flag("draft"),
            external_repo_id: r.opt_i64("external_repo_id")?,
            external_repo_name: r.opt_string("external_repo_name")?,
            metadata_only: r.flag("metadata_only"),
            sigkey: r.opt_string("sigkey")?,
        })
    }
}

impl KojiBuild {
    pub fn from_value(v: &Value) -> Result<KojiBuild, XmlRpcError> {
        let r = Record::new(v)?;
        // getBuild says `id`; listTagged says both `id` and `build_id`.
        let id = match r.opt_i64("id")? {
            Some(id) => id,
            None => r.i64("build_id")?,
        };
        let name = match r.opt_string("name")? {
            Some(n) => n,
            None => r.string("package_name")?,
        };
        let version = r.string("version")?;
        let release = r.string("release")?;
        let nvr = r
            .opt_string("nvr")?
            .unwrap_or_else(|| format!("{name}-{version}-{release}"));
        Ok(KojiBuild {
            id,
            package_id: r.opt_i64("package_id")?,
            name,
            version,
            release,
            epoch: r.opt_i64("epoch")?,
            nvr,
            state: r.opt_i64("state")?.unwrap_or(build_state::COMPLETE),
            volume_id: r.opt_i64("volume_id")?,
            volume_name: r.opt_string("volume_name")?,
            owner_name: r.opt_string("owner_name")?,
            task_id: r.opt_i64("task_id")?,
            draft: r.flag("draft"),
            creation_event_id: r.opt_i64("creation_event_id")?,
            completion_ts: r.opt_f64("completion_ts")?,
            tag_id: r.opt_i64("tag_id")?,
            tag_name: r.opt_string("tag_name")?,
            create_event: r.opt_i64("create_event")?,
            extra: r.get("extra").cloned(),
        })
    }
}

impl Tag {
    pub fn from_value(v: &Value) -> Result<Tag, XmlRpcError> {
        let r = Record::new(v)?;
        let arches = r
            .opt_string("arches")?
            .map(|a| a.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let extra = match r.get("extra") {
            Some(Value::Struct(m)) => m.clone(),
            Some(other) => return Err(r.bad("extra", "struct", other)),
            None => Vec::new(),
        };
        Ok(Tag {
            id: r.i64("id")?,
            name: r.string("name")?,
            arches,
            locked: r.flag("locked"),
            perm: r.opt_string("perm")?,
            maven_support: r.flag("maven_support"),
            extra,
            query_event: r.opt_i64("query_event")?,
        })
    }
}

impl InheritanceLink {
    pub fn from_value(v: &Value) -> Result<InheritanceLink, XmlRpcError> {
        let r = Record::new(v)?;
        let filter = match r.get("filter") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| r.bad("filter", "array of strings", i))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(r.bad("filter", "array", other)),
            None => Vec::new(),
        };
        Ok(InheritanceLink {
            parent_id: r.i64("parent_id")?,
            child_id: r.i64("child_id")?,
            name: r.string("name")?,
            priority: r.i64("priority")?,
            maxdepth: r.opt_i64("maxdepth")?,
            intransitive: r.flag("intransitive"),
            noconfig: r.flag("noconfig"),
            pkg_filter: r.opt_string("pkg_filter")?.unwrap_or_default(),
            currdepth: r.opt_i64("currdepth")?,
            nextdepth: r.opt_i64("nextdepth")?,
            filter,
        })
    }
}

impl Event {
    pub fn from_value(v: &Value) -> Result<Event, XmlRpcError> {
        let r = Record::new(v)?;
        Ok(Event {
            id: r.i64("id")?,
            ts: r.f64("ts")?,
        })
    }
}

impl RpmSig {
    pub fn from_value(v: &Value) -> Result<RpmSig, XmlRpcError> {
        let r = Record::new(v)?;
        Ok(RpmSig {
            rpm_id: r.i64("rpm_id")?,
            sigkey: r.opt_string("sigkey")?.unwrap_or_default(),
            sighash: r.opt_string("sighash")?,
        })
    }
}

/// Read an array of records, naming the index of a bad one.
pub(crate) fn list_of<T>(
    v: &Value,
    read: impl Fn(&Value) -> Result<T, XmlRpcError>,
) -> Result<Vec<T>, XmlRpcError> {
    let items = v.as_array().ok_or_else(|| XmlRpcError::Field {
        field: "result".to_owned(),
        expected: "array",
        found: describe(v),
    })?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            read(item).map_err(|e| match e {
                XmlRpcError::Field {
                    field,
                    expected,
                    found,
                } => XmlRpcError::Field {
                    field: format!("[{i}].{field}"),
                    expected,
                    found,
                },
                other => other,
            })
        })
        .collect()
}

/// A struct being read: lookups that treat nil as absent.
struct Record<'a> {
    value: &'a Value,
}

impl<'a> Record<'a> {
    fn new(value: &'a Value) -> Result<Record<'a>, XmlRpcError> {
        match value {
            Value::Struct(_) => Ok(Record { value }),
            other => Err(XmlRpcError::Field {
                field: "result".to_owned(),
                expected: "struct",
                found: describe(other),
            }),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.value.get(name).filter(|v| !v.is_nil())
    }

    fn bad(&self, field: &str, expected: &'static str, found: &Value) -> XmlRpcError {
        XmlRpcError::Field {
            field: field.to_owned(),
            expected,
            found: describe(found),
        }
    }

    fn missing(&self, field: &str, expected: &'static str) -> XmlRpcError {
        XmlRpcError::Field {
            field: field.to_owned(),
            expected,
            found: "nothing".to_owned(),
        }
    }

    fn opt_i64(&self, name: &str) -> Result<Option<i64>, XmlRpcError> {
        self.get(name)
            .map(|v| v.as_i64().ok_or_else(|| self.bad(name, "int", v)))
            .transpose()
    }

    fn i64(&self, name: &str) -> Result<i64, XmlRpcError> {
        self.opt_i64(name)?.ok_or_else(|| self.missing(name, "int"))
    }

    fn opt_f64(&self, name: &str) -> Result<Option<f64>, XmlRpcError> {
        self.get(name)
            .map(|v| v.as_f64().ok_or_else(|| self.bad(name, "double", v)))
            .transpose()
    }

    fn f64(&self, name: &str) -> Result<f64, XmlRpcError> {
        self.opt_f64(name)?
            .ok_or_else(|| self.missing(name, "double"))
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, XmlRpcError> {
        self.get(name)
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| self.bad(name, "string", v))
            })
            .transpose()
    }

    fn string(&self, name: &str) -> Result<String, XmlRpcError> {
        self.opt_string(name)?
            .ok_or_else(|| self.missing(name, "string"))
    }

    /// A flag: absent or nil is false; Python truthiness otherwise.
    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(Value::truthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm_value() -> Value {
        Value::structure([
            ("id", Value::Int(7)),
            ("build_id", Value::Int(3)),
            ("name", Value::from("bash")),
            ("version", Value::from("5.2.26")),
            ("release", Value::from("3.fc40")),
            ("epoch", Value::Nil),
            ("arch", Value::from("x86_64")),
            ("size", Value::Int(5_000_000_000)),
            ("payloadhash", Value::from("abc")),
            ("draft", Value::Bool(false)),
            ("brand_new_field", Value::Array(vec![])),
        ])
    }

    #[test]
    fn an_rpm_is_read_with_extra_fields_and_nil() {
        let rpm = KojiRpm::from_value(&rpm_value()).unwrap();
        assert_eq!(rpm.nvra(), "bash-5.2.26-3.fc40.x86_64");
        assert_eq!(rpm.nevra(), "bash-5.2.26-3.fc40.x86_64");
        assert_eq!(rpm.epoch, None);
        assert_eq!(rpm.size, 5_000_000_000);
        assert_eq!(rpm.sigkey, None);
    }

    #[test]
    fn a_missing_field_is_named() {
        let Value::Struct(mut m) = rpm_value() else {
            unreachable!()
        };
        m.retain(|(k, _)| k != "arch");
        let err = list_of(
            &Value::Array(vec![rpm_value(), Value::Struct(m)]),
            KojiRpm::from_value,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field [1].arch: expected string, found nothing"
        );
        let err = Event::from_value(&Value::structure([
            ("id", Value::from("7")),
            ("ts", Value::Double(1.0)),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field id: expected int, found string \"7\""
        );
    }

    #[test]
    fn a_build_from_get_build_or_list_tagged_is_read() {
        let b = KojiBuild::from_value(&Value::structure([
            ("build_id", Value::Int(12)),
            ("package_name", Value::from("glibc")),
            ("version", Value::from("2.39")),
            ("release", Value::from("2.fc40")),
            ("volume_name", Value::from("archive")),
            ("tag_name", Value::from("f40")),
        ]))
        .unwrap();
        assert_eq!(b.id, 12);
        assert_eq!(b.nvr, "glibc-2.39-2.fc40");
        assert_eq!(b.state, build_state::COMPLETE);
        assert_eq!(b.volume_name.as_deref(), Some("archive"));
    }

    #[test]
    fn tag_arches_are_split() {
        let t = Tag::from_value(&Value::structure([
            ("id", Value::Int(1)),
            ("name", Value::from("f40")),
            ("arches", Value::from("x86_64  aarch64")),
            (
                "extra",
                Value::structure([("mock.package_manager", Value::from("dnf"))]),
            ),
            ("locked", Value::Bool(true)),
        ]))
        .unwrap();
        assert_eq!(t.arches, ["x86_64", "aarch64"]);
        assert!(t.locked);
        assert_eq!(t.extra.len(), 1);
    }
}
