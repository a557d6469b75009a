//! The records the store reads and writes.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in whole seconds since the Unix epoch (UTC): the precision
/// of the API (`YYYY-MM-DDTHH:MM:SSZ`) and what both backends store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let secs = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Timestamp(secs)
    }

    pub fn unix_seconds(self) -> i64 {
        self.0
    }

    /// `self + seconds` (negative moves back), saturating.
    pub fn add_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the API's format.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = crate::date::civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// A compose's state, stored as the original's integer codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i64)]
pub enum ComposeState {
    Wait = 0,
    Generating = 1,
    Done = 2,
    Removed = 3,
    Failed = 4,
}

impl ComposeState {
    pub const ALL: [ComposeState; 5] = [
        ComposeState::Wait,
        ComposeState::Generating,
        ComposeState::Done,
        ComposeState::Removed,
        ComposeState::Failed,
    ];

    /// The API's `state_name`.
    pub fn name(self) -> &'static str {
        match self {
            ComposeState::Wait => "wait",
            ComposeState::Generating => "generating",
            ComposeState::Done => "done",
            ComposeState::Removed => "removed",
            ComposeState::Failed => "failed",
        }
    }

    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<ComposeState> {
        ComposeState::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn from_name(name: &str) -> Option<ComposeState> {
        ComposeState::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for ComposeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compose as stored: every field of the API's compose JSON that is not
/// derived (`state_name`, the URLs), plus what the service keeps for itself
/// (`reused_id`, `fingerprint`, `seconds_to_live`, `progress`).
///
/// White-space separated lists stay strings, as in the original's model; bit
/// masks (`flags`, `results`, `multilib_method`) and `source_type` stay
/// integers. The API turns them into names.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ComposeRow {
    pub id: i64,
    pub owner: String,
    pub source_type: i64,
    pub source: String,
    pub state: ComposeState,
    pub state_reason: Option<String>,
    /// The current phase and its progress while generating ("gathering 3/5").
    pub progress: Option<String>,
    pub time_submitted: Timestamp,
    pub time_started: Option<Timestamp>,
    pub time_done: Option<Timestamp>,
    pub time_removed: Option<Timestamp>,
    pub time_to_expire: Timestamp,
    pub seconds_to_live: i64,
    pub removed_by: Option<String>,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub arches: String,
    pub sigkeys: Option<String>,
    pub flags: i64,
    pub results: i64,
    pub multilib_arches: String,
    pub multilib_method: i64,
    pub lookaside_repos: Option<String>,
    pub modular_koji_tags: Option<String>,
    pub module_defaults_url: Option<String>,
    pub koji_event: Option<i64>,
    pub koji_task_id: Option<i64>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
    pub target_dir: String,
    pub pungi_compose_id: Option<String>,
    pub pungi_config_dump: Option<String>,
    pub scratch_modules: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub modules: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    /// The compose whose tree this one answers with (not in the JSON; its URLs
    /// point at `odcs-<reused_id>`).
    pub reused_id: Option<i64>,
    /// What [`crate::store::Store::find_reusable_compose`] matches on; `None`
    /// for composes that must never be reused or reuse (`no_reuse`,
    /// `raw_config`).
    pub fingerprint: Option<String>,
    /// The compose whose stored package set this one recreates (a renewal).
    pub replay_of: Option<i64>,
}

impl ComposeRow {
    /// The directory name, `odcs-<id>`, or that of the reused compose.
    pub fn name(&self) -> String {
        format!("odcs-{}", self.reused_id.unwrap_or(self.id))
    }
}

/// The columns a compose is inserted with, in the order `insert_compose`
/// binds them (the fields of [`NewCompose`], then `state` and the times).
pub(crate) const INSERT_COLUMNS: &str = "owner, source_type, source, state, time_submitted, \
    time_to_expire, seconds_to_live, packages, builds, arches, sigkeys, flags, results, \
    multilib_arches, multilib_method, lookaside_repos, modular_koji_tags, module_defaults_url, \
    koji_event, label, compose_type, target_dir, pungi_config_dump, scratch_modules, \
    scratch_build_tasks, parent_pungi_compose_ids, modules, respin_of, base_module_br_name, \
    base_module_br_stream, base_module_br_stream_version_lte, base_module_br_stream_version_gte, \
    fingerprint, replay_of";

/// The columns of [`ComposeRow`], in one place for every `SELECT`/`RETURNING`.
pub(crate) const COMPOSE_COLUMNS: &str = "id, owner, source_type, source, state, state_reason, \
    progress, time_submitted, time_started, time_done, time_removed, time_to_expire, \
    seconds_to_live, removed_by, packages, builds, arches, sigkeys, flags, results, \
    multilib_arches, multilib_method, lookaside_repos, modular_koji_tags, module_defaults_url, \
    koji_event, koji_task_id, label, compose_type, target_dir, pungi_compose_id, \
    pungi_config_dump, scratch_modules, scratch_build_tasks, parent_pungi_compose_ids, modules, \
    respin_of, base_module_br_name, base_module_br_stream, base_module_br_stream_version_lte, \
    base_module_br_stream_version_gte, reused_id, fingerprint, replay_of";

/// A compose to insert in state `wait`. `time_submitted` is the insertion
/// time; `time_to_expire = time_submitted + seconds_to_live`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCompose {
    pub owner: String,
    pub source_type: i64,
    pub source: String,
    pub seconds_to_live: i64,
    pub packages: Option<String>,
    pub builds: Option<String>,
    pub arches: String,
    pub sigkeys: Option<String>,
    pub flags: i64,
    pub results: i64,
    pub multilib_arches: String,
    pub multilib_method: i64,
    pub lookaside_repos: Option<String>,
    pub modular_koji_tags: Option<String>,
    pub module_defaults_url: Option<String>,
    pub koji_event: Option<i64>,
    pub label: Option<String>,
    pub compose_type: Option<String>,
    pub target_dir: String,
    pub pungi_config_dump: Option<String>,
    pub scratch_modules: Option<String>,
    pub scratch_build_tasks: Option<String>,
    pub parent_pungi_compose_ids: Option<String>,
    pub modules: Option<String>,
    pub respin_of: Option<String>,
    pub base_module_br_name: Option<String>,
    pub base_module_br_stream: Option<String>,
    pub base_module_br_stream_version_lte: Option<i64>,
    pub base_module_br_stream_version_gte: Option<i64>,
    pub fingerprint: Option<String>,
    /// The compose whose stored package set this one recreates (a renewal).
    pub replay_of: Option<i64>,
}

impl NewCompose {
    /// A compose with the defaults of an API request: `results` =
    /// `repository`, `compose_type` = `test`, target dir `default`, 24 h to
    /// live, empty `sigkeys`, `lookaside_repos` and `multilib_arches`.
    pub fn new(owner: &str, source_type: i64, source: &str) -> NewCompose {
        NewCompose {
            owner: owner.to_owned(),
            source_type,
            source: source.to_owned(),
            seconds_to_live: 86_400,
            packages: None,
            builds: None,
            arches: String::new(),
            sigkeys: Some(String::new()),
            flags: 0,
            results: 1,
            multilib_arches: String::new(),
            multilib_method: 0,
            lookaside_repos: Some(String::new()),
            modular_koji_tags: None,
            module_defaults_url: None,
            koji_event: None,
            label: None,
            compose_type: Some("test".to_owned()),
            target_dir: "default".to_owned(),
            pungi_config_dump: None,
            scratch_modules: None,
            scratch_build_tasks: None,
            parent_pungi_compose_ids: None,
            modules: None,
            respin_of: None,
            base_module_br_name: None,
            base_module_br_stream: None,
            base_module_br_stream_version_lte: None,
            base_module_br_stream_version_gte: None,
            fingerprint: None,
            replay_of: None,
        }
    }
}

impl NewCompose {
    /// The fingerprint two requests share when one may answer the other
    /// (odcs-api.md §5.5), or `None` when the compose must not reuse
    /// (`no_reuse` flag, `raw_config` source type).
    ///
    /// White-space separated lists compare as sets (empty and absent alike);
    /// `source`, `flags`, `results`, `module_defaults_url`, `respin_of`,
    /// `target_dir` and `multilib_method` compare exactly; `label`,
    /// `compose_type`, `owner` and the lifetime are not compared. The Koji
    /// event counts for every source type but `tag`, whose candidates the
    /// caller checks with Koji (has the tag changed since the candidate's
    /// event?).
    pub fn reuse_fingerprint(&self) -> Option<String> {
        use sha2::{Digest, Sha256};

        use crate::domain::{Flag, SourceType};
        // (a repo compose is reused only while its repository's repomd
        // revision is the one it was made from: the worker compares them)
        if Flag::NoReuse.is_set(self.flags) || self.source_type == SourceType::RawConfig.code() {
            return None;
        }
        fn set(list: Option<&str>) -> String {
            let mut items: Vec<&str> = list.unwrap_or("").split_whitespace().collect();
            items.sort_unstable();
            items.dedup();
            items.join(" ")
        }
        let koji_event = if self.source_type == SourceType::Tag.code()
            || self.source_type == SourceType::Repo.code()
        {
            None
        } else {
            self.koji_event
        };
        // Sigkeys keep their empty entries (an empty key allows unsigned
        // copies), so they are split on single spaces.
        let mut sigkeys: Vec<&str> = self.sigkeys.as_deref().unwrap_or("").split(' ').collect();
        sigkeys.sort_unstable();
        sigkeys.dedup();
        let fields: [(&str, String); 20] = [
            ("source_type", self.source_type.to_string()),
            ("source", self.source.clone()),
            ("packages", set(self.packages.as_deref())),
            ("builds", set(self.builds.as_deref())),
            ("sigkeys", sigkeys.join(" ")),
            ("arches", set(Some(&self.arches))),
            ("lookaside_repos", set(self.lookaside_repos.as_deref())),
            ("multilib_arches", set(Some(&self.multilib_arches))),
            ("modular_koji_tags", set(self.modular_koji_tags.as_deref())),
            ("scratch_modules", set(self.scratch_modules.as_deref())),
            ("modules", set(self.modules.as_deref())),
            (
                "scratch_build_tasks",
                set(self.scratch_build_tasks.as_deref()),
            ),
            (
                "parent_pungi_compose_ids",
                set(self.parent_pungi_compose_ids.as_deref()),
            ),
            ("flags", self.flags.to_string()),
            ("results", self.results.to_string()),
            (
                "module_defaults_url",
                format!("{:?}", self.module_defaults_url),
            ),
            ("respin_of", format!("{:?}", self.respin_of)),
            ("target_dir", self.target_dir.clone()),
            ("multilib_method", self.multilib_method.to_string()),
            ("koji_event", format!("{koji_event:?}")),
        ];
        let mut hash = Sha256::new();
        for (name, value) in fields {
            // Length-prefixed, so no two different field lists hash alike.
            hash.update(format!("{name}={}:{value}\n", value.len()));
        }
        Some(hex::encode(hash.finalize()))
    }
}

/// One RPM of a done compose: enough to rebuild exactly the same repository.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRpm {
    pub nevra: String,
    pub srpm_nevra: String,
    pub arch: String,
    /// `binary`, `source` or `debug`.
    pub category: String,
    /// Relative to the compose's `compose/` directory.
    pub path: String,
    pub sigkey: Option<String>,
    pub checksum: String,
    pub build_nvr: String,
    /// Where the file was taken from (Koji topdir or local store).
    pub source_path: String,
}

/// Filters of `GET /api/1/composes/`: exact equality, all combined with AND.
/// `None` means no filter. (The API maps a non-numeric `state`/`source_type`
/// to an empty result before asking.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposeFilter {
    pub owner: Option<String>,
    pub source_type: Option<i64>,
    pub source: Option<String>,
    pub state: Option<ComposeState>,
    pub koji_task_id: Option<i64>,
    pub pungi_compose_id: Option<String>,
    pub compose_type: Option<String>,
    pub label: Option<String>,
    /// Submitted at or after this time.
    pub submitted_after: Option<Timestamp>,
    /// Submitted before this time.
    pub submitted_before: Option<Timestamp>,
}

/// A column `order_by` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderColumn {
    Id,
    Owner,
    SourceType,
    KojiEvent,
    State,
    TimeToExpire,
    TimeSubmitted,
    TimeDone,
    TimeRemoved,
}

impl OrderColumn {
    pub fn from_name(name: &str) -> Option<OrderColumn> {
        Some(match name {
            "id" => OrderColumn::Id,
            "owner" => OrderColumn::Owner,
            "source_type" => OrderColumn::SourceType,
            "koji_event" => OrderColumn::KojiEvent,
            "state" => OrderColumn::State,
            "time_to_expire" => OrderColumn::TimeToExpire,
            "time_submitted" => OrderColumn::TimeSubmitted,
            "time_done" => OrderColumn::TimeDone,
            "time_removed" => OrderColumn::TimeRemoved,
            _ => return None,
        })
    }

    pub(crate) fn column(self) -> &'static str {
        match self {
            OrderColumn::Id => "id",
            OrderColumn::Owner => "owner",
            OrderColumn::SourceType => "source_type",
            OrderColumn::KojiEvent => "koji_event",
            OrderColumn::State => "state",
            OrderColumn::TimeToExpire => "time_to_expire",
            OrderColumn::TimeSubmitted => "time_submitted",
            OrderColumn::TimeDone => "time_done",
            OrderColumn::TimeRemoved => "time_removed",
        }
    }
}

/// Ordering of a list: a column, ascending or descending. Ties are broken by
/// `id` in the same direction, so pages never overlap. NULLs sort first when
/// ascending and last when descending on both backends (SQLite's order, which
/// the reference was verified on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderBy {
    pub column: OrderColumn,
    pub descending: bool,
}

impl OrderBy {
    /// `id`, `-time_done`, ...: a leading `-` means descending.
    pub fn parse(text: &str) -> Option<OrderBy> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        OrderColumn::from_name(name).map(|column| OrderBy { column, descending })
    }
}

/// The API's default: newest first.
impl Default for OrderBy {
    fn default() -> OrderBy {
        OrderBy {
            column: OrderColumn::Id,
            descending: true,
        }
    }
}

/// What a job does to its compose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Build the compose (or answer it by reuse).
    Generate,
    /// Delete its files and mark it `removed` (expiry, admin DELETE).
    Remove,
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Generate => "generate",
            JobKind::Remove => "remove",
        }
    }

    pub fn from_name(name: &str) -> Option<JobKind> {
        [JobKind::Generate, JobKind::Remove]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// Where a job is in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker (also after a graceful hand-back).
    Queued,
    /// Claimed by `worker` until `lease_until_ms` (after which anyone may
    /// claim it again).
    Running,
    Finished,
    Cancelled,
}

impl JobState {
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Finished => "finished",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn from_name(name: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Finished,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// A job of the queue: small, and safe to run twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub compose_id: i64,
    pub kind: JobKind,
    pub state: JobState,
    /// How many times it was claimed (1 on the first run).
    pub attempts: i64,
    pub worker: Option<String>,
    /// Milliseconds since the epoch, on the database's clock.
    pub lease_until_ms: Option<i64>,
    pub time_enqueued: Timestamp,
    pub time_finished: Option<Timestamp>,
    /// Why the last attempt did not finish (a database error, a worker that
    /// stopped): given as the reason when the job gives up.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_in_the_api_format() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_704_067_199).to_string(), "2023-12-31T23:59:59Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn order_by_parses_the_api_keys() {
        assert_eq!(
            OrderBy::parse("-time_done"),
            Some(OrderBy {
                column: OrderColumn::TimeDone,
                descending: true
            })
        );
        assert_eq!(
            OrderBy::parse("id"),
            Some(OrderBy {
                column: OrderColumn::Id,
                descending: false
            })
        );
        assert_eq!(OrderBy::parse("-"), None);
        assert_eq!(OrderBy::parse("source_Type"), None);
    }

    #[test]
    fn state_codes_are_the_originals() {
        let codes: Vec<_> = ComposeState::ALL
            .iter()
            .map(|s| (s.name(), s.code()))
            .collect();
        assert_eq!(
            codes,
            [
                ("wait", 0),
                ("generating", 1),
                ("done", 2),
                ("removed", 3),
                ("failed", 4)
            ]
        );
        assert_eq!(ComposeState::from_code(4), Some(ComposeState::Failed));
        assert_eq!(ComposeState::from_code(5), None);
    }
    #[test]
    fn reuse_fingerprint_compares_lists_as_sets() {
        let mut a = NewCompose::new("alice", 1, "f40");
        a.packages = Some("bash curl".into());
        a.arches = "x86_64 aarch64".into();
        a.koji_event = Some(1);
        let mut b = NewCompose::new("bob", 1, "f40");
        b.packages = Some("curl  bash bash".into());
        b.arches = "aarch64 x86_64".into();
        b.label = Some("other".into());
        // For tags, Koji decides whether the event matters.
        b.koji_event = Some(2);
        assert!(a.reuse_fingerprint().is_some());
        assert_eq!(a.reuse_fingerprint(), b.reuse_fingerprint());

        let mut module = a.clone();
        module.source_type = 2;
        let mut later = module.clone();
        later.koji_event = Some(2);
        assert_ne!(module.reuse_fingerprint(), later.reuse_fingerprint());

        let mut other_source = a.clone();
        other_source.source = "f41".into();
        assert_ne!(a.reuse_fingerprint(), other_source.reuse_fingerprint());
        let mut unsigned_too = a.clone();
        unsigned_too.sigkeys = Some(" a15b79cc".into());
        let mut signed = a.clone();
        signed.sigkeys = Some("a15b79cc".into());
        assert_ne!(unsigned_too.reuse_fingerprint(), signed.reuse_fingerprint());
        let empty = NewCompose {
            packages: None,
            ..a.clone()
        };
        let blank = NewCompose {
            packages: Some(String::new()),
            ..a.clone()
        };
        assert_eq!(empty.reuse_fingerprint(), blank.reuse_fingerprint());

        let mut no_reuse = a.clone();
        no_reuse.flags |= 64;
        assert_eq!(no_reuse.reuse_fingerprint(), None);
        let raw = NewCompose::new("alice", 5, "config#abc");
        assert_eq!(raw.reuse_fingerprint(), None);
    }
}
