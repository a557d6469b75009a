//! The test hub's data: Koji's versioned tables in memory, with the read
//! semantics the compose depends on (formats.md §1.2, §1.4–§1.6).
//!
//! Every write allocates an event, as in Koji, and versioned rows carry
//! `create_event`/`revoke_event`; a query at event `E` sees a row when
//! `create_event <= E < revoke_event`, and a query without an event sees the rows
//! not revoked. Build state and signatures are not versioned (as in Koji).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use odcs::rpm::build::PackageSpec;
use odcs::source::koji::Value;
use sha2::{Digest, Sha256};

pub const BUILD_COMPLETE: i64 = 1;
pub const BUILD_FAILED: i64 = 3;

/// Timestamp of event 1; later events follow a minute apart.
const FIRST_EVENT_TS: f64 = 1_704_067_200.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Versioned {
    create_event: i64,
    revoke_event: Option<i64>,
}

impl Versioned {
    fn active_at(&self, event: Option<i64>) -> bool {
        match event {
            None => self.revoke_event.is_none(),
            Some(e) => self.create_event <= e && self.revoke_event.is_none_or(|r| e < r),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub arches: Option<String>,
    pub locked: bool,
    pub created: i64,
}

/// Options of an inheritance link (`tag_inheritance` row).
#[derive(Clone, Debug, Default)]
pub struct LinkOpts {
    pub priority: i64,
    pub maxdepth: Option<i64>,
    pub intransitive: bool,
    pub noconfig: bool,
    pub pkg_filter: String,
}

#[derive(Clone, Debug)]
struct InheritanceRow {
    child_id: i64,
    parent_id: i64,
    opts: LinkOpts,
    v: Versioned,
}

#[derive(Clone, Debug)]
struct TagPackageRow {
    tag_id: i64,
    package_id: i64,
    blocked: bool,
    owner: String,
    v: Versioned,
}

#[derive(Clone, Debug)]
pub struct BuildRow {
    pub id: i64,
    pub package_id: i64,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i64>,
    pub state: i64,
    pub volume_id: i64,
    pub owner: String,
    pub task_id: Option<i64>,
    pub creation_event: i64,
    /// A draft build (Koji ≥ 1.34): its N-V-R is `N-V-R,draft_<id>` and its
    /// files live under `packages/N/V/R,draft_<id>/`.
    pub draft: bool,
    /// `extra` as `getBuild` answers it (a module build's typeinfo).
    pub extra: Option<Value>,
}

impl BuildRow {
    /// `name-version-release`, with `,draft_<id>` for a draft.
    pub fn nvr(&self) -> String {
        let nvr = format!("{}-{}-{}", self.name, self.version, self.release);
        if self.draft {
            format!("{nvr},draft_{}", self.id)
        } else {
            nvr
        }
    }

    /// The release directory of its files.
    fn release_dir(&self) -> String {
        if self.draft {
            format!("{},draft_{}", self.release, self.id)
        } else {
            self.release.clone()
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpmRow {
    pub id: i64,
    pub build_id: i64,
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i64>,
    pub arch: String,
    pub size: i64,
    pub payloadhash: String,
    pub buildtime: i64,
    /// Whether its build is a draft (the hub's `draft` column of rpminfo).
    pub draft: bool,
}

impl RpmRow {
    pub fn nvra(&self) -> String {
        format!(
            "{}-{}-{}.{}",
            self.name, self.version, self.release, self.arch
        )
    }
}

#[derive(Clone, Debug)]
struct SigRow {
    rpm_id: i64,
    sigkey: String,
    sighash: String,
    /// sha256 of the copy with this signature (`getRPMChecksums`); for the
    /// `""` row, the unsigned file. Unset: not recorded, so the hub computes
    /// it from the file on disk when first asked, and keeps it (formats.md
    /// §1.10).
    sha256: OnceLock<String>,
}

#[derive(Clone, Debug)]
struct ListingRow {
    tag_id: i64,
    build_id: i64,
    v: Versioned,
}

/// One link of the full inheritance, as `getFullInheritance` returns it.
#[derive(Clone, Debug)]
pub struct FullLink {
    pub parent_id: i64,
    pub child_id: i64,
    pub name: String,
    pub opts: LinkOpts,
    pub currdepth: i64,
    pub nextdepth: Option<i64>,
    pub filter: Vec<String>,
}

/// A build selected by `readTaggedBuilds`, with where it was found.
#[derive(Clone, Debug)]
pub struct TaggedBuild {
    pub build: BuildRow,
    pub tag_id: i64,
    pub tag_name: String,
    pub tag_event: i64,
}

/// A hub's database plus the topdir holding its builds' files.
#[derive(Debug)]
pub struct HubModel {
    pub topdir: PathBuf,
    /// Methods left out of `system.listMethods` (and refused), to play an
    /// older hub.
    pub hidden_methods: Vec<String>,
    events: Vec<f64>,
    pub tags: Vec<TagRow>,
    inheritance: Vec<InheritanceRow>,
    packages: Vec<String>,
    tag_packages: Vec<TagPackageRow>,
    builds: Vec<BuildRow>,
    rpms: Vec<RpmRow>,
    sigs: Vec<SigRow>,
    listings: Vec<ListingRow>,
    /// Index = volume id; 0 is `DEFAULT`.
    volumes: Vec<String>,
}

impl HubModel {
    /// An empty hub whose files go under `topdir`; event 1 exists.
    pub fn new(topdir: &Path) -> HubModel {
        HubModel {
            topdir: topdir.to_owned(),
            hidden_methods: Vec::new(),
            events: vec![FIRST_EVENT_TS],
            tags: Vec::new(),
            inheritance: Vec::new(),
            packages: Vec::new(),
            tag_packages: Vec::new(),
            builds: Vec::new(),
            rpms: Vec::new(),
            sigs: Vec::new(),
            listings: Vec::new(),
            volumes: vec!["DEFAULT".to_owned()],
        }
    }

    // ---- writes (each allocates an event) ----

    /// A new event; returns its id.
    pub fn new_event(&mut self) -> i64 {
        let id = self.events.len() as i64 + 1;
        self.events
            .push(FIRST_EVENT_TS + 60.0 * (id - 1) as f64 + 0.25);
        id
    }

    pub fn last_event(&self) -> i64 {
        self.events.len() as i64
    }

    pub fn add_tag(&mut self, name: &str, arches: Option<&str>) -> i64 {
        let created = self.new_event();
        let id = self.tags.len() as i64 + 1;
        self.tags.push(TagRow {
            id,
            name: name.to_owned(),
            arches: arches.map(str::to_owned),
            locked: false,
            created,
        });
        id
    }

    pub fn has_tag(&self, name: &str) -> bool {
        self.tags.iter().any(|t| t.name == name)
    }

    pub fn tag_id(&self, name: &str) -> i64 {
        self.tags
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tag {name}"))
            .id
    }

    pub fn add_inheritance(&mut self, child: &str, parent: &str, opts: LinkOpts) -> i64 {
        let (child_id, parent_id) = (self.tag_id(child), self.tag_id(parent));
        let ev = self.new_event();
        self.inheritance.push(InheritanceRow {
            child_id,
            parent_id,
            opts,
            v: Versioned {
                create_event: ev,
                revoke_event: None,
            },
        });
        ev
    }

    fn package_id(&mut self, name: &str) -> i64 {
        if let Some(i) = self.packages.iter().position(|p| p == name) {
            return i as i64 + 1;
        }
        self.packages.push(name.to_owned());
        self.packages.len() as i64
    }

    /// Set a package-list entry (replacing the tag's current one, as Koji does).
    fn set_package(&mut self, tag: &str, name: &str, blocked: bool) -> i64 {
        let tag_id = self.tag_id(tag);
        let package_id = self.package_id(name);
        let ev = self.new_event();
        for row in &mut self.tag_packages {
            if row.tag_id == tag_id && row.package_id == package_id && row.v.revoke_event.is_none()
            {
                row.v.revoke_event = Some(ev);
            }
        }
        self.tag_packages.push(TagPackageRow {
            tag_id,
            package_id,
            blocked,
            owner: "releng".to_owned(),
            v: Versioned {
                create_event: ev,
                revoke_event: None,
            },
        });
        ev
    }

    pub fn add_package(&mut self, tag: &str, name: &str) -> i64 {
        self.set_package(tag, name, false)
    }

    pub fn block_package(&mut self, tag: &str, name: &str) -> i64 {
        self.set_package(tag, name, true)
    }

    fn volume_id(&mut self, volume: Option<&str>) -> i64 {
        let name = volume.unwrap_or("DEFAULT");
        if let Some(i) = self.volumes.iter().position(|v| v == name) {
            return i as i64;
        }
        self.volumes.push(name.to_owned());
        self.volumes.len() as i64 - 1
    }

    /// The directory of a build in the topdir (Koji's `pathinfo.build`).
    pub fn build_dir(&self, b: &BuildRow) -> PathBuf {
        let vol = match self.volumes[b.volume_id as usize].as_str() {
            "DEFAULT" => self.topdir.clone(),
            name => self.topdir.join("vol").join(name),
        };
        vol.join("packages")
            .join(&b.name)
            .join(&b.version)
            .join(b.release_dir())
    }

    /// Import a COMPLETE build `nvr` with one RPM per `name.arch` in `rpms`
    /// (names may differ from the build's: subpackages), writing real RPM files
    /// under `<build dir>/<arch>/`. Returns the build id.
    pub fn import_build(&mut self, nvr: &str, rpms: &[&str], volume: Option<&str>) -> i64 {
        self.import(nvr, rpms, volume, false)
    }

    /// [`HubModel::import_build`] of a draft build; returns its id (its N-V-R
    /// is `nvr,draft_<id>`).
    pub fn import_draft_build(&mut self, nvr: &str, rpms: &[&str]) -> i64 {
        self.import(nvr, rpms, None, true)
    }

    fn import(&mut self, nvr: &str, rpms: &[&str], volume: Option<&str>, draft: bool) -> i64 {
        let (nv, release) = nvr.rsplit_once('-').expect("N-V-R");
        let (name, version) = nv.rsplit_once('-').expect("N-V-R");
        let package_id = self.package_id(name);
        let volume_id = self.volume_id(volume);
        let ev = self.new_event();
        let id = self.builds.len() as i64 + 1;
        let build = BuildRow {
            id,
            package_id,
            name: name.to_owned(),
            version: version.to_owned(),
            release: release.to_owned(),
            epoch: None,
            state: BUILD_COMPLETE,
            volume_id,
            owner: "packager".to_owned(),
            task_id: Some(1000 + id),
            creation_event: ev,
            draft,
            extra: None,
        };
        let dir = self.build_dir(&build);
        self.builds.push(build);
        for spec in rpms {
            let (rpm_name, arch) = spec.rsplit_once('.').expect("name.arch");
            let nvra = format!("{rpm_name}-{version}-{release}.{arch}");
            let pkg = PackageSpec::parse(&nvra).unwrap().file(
                &format!("/usr/share/{rpm_name}/{nvra}"),
                nvra.clone().into_bytes(),
            );
            let arch_dir = dir.join(arch);
            std::fs::create_dir_all(&arch_dir).unwrap();
            let path = pkg.write_to(&arch_dir).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let rpm_id = self.rpms.len() as i64 + 1;
            self.rpms.push(RpmRow {
                id: rpm_id,
                build_id: id,
                name: rpm_name.to_owned(),
                version: version.to_owned(),
                release: release.to_owned(),
                epoch: None,
                arch: arch.to_owned(),
                size: bytes.len() as i64,
                payloadhash: hex::encode(&Sha256::digest(&bytes)[..16]),
                buildtime: i64::from(pkg.build_time),
                draft,
            });
            // Koji records the signature of the imported header: none.
            self.sigs.push(SigRow {
                rpm_id,
                sigkey: String::new(),
                sighash: hex::encode(&Sha256::digest(nvra.as_bytes())[..16]),
                sha256: OnceLock::from(hex::encode(Sha256::digest(&bytes))),
            });
        }
        id
    }

    /// A module build as MBS's content generator imports it (formats.md
    /// §4.1): N-V-R `<name>-<stream, - as _>-<version>.<context>`,
    /// `extra.typeinfo.module`, no RPMs of its own, and its modulemd as
    /// `files/module/modulemd.txt` plus `modulemd.<arch>.txt` for each of
    /// `arches` (here the same document). Returns the build id.
    pub fn import_module_build(
        &mut self,
        nsvc: &str,
        modulemd: &str,
        content_tag: &str,
        arches: &[&str],
    ) -> i64 {
        let per_arch: Vec<(&str, &str)> = arches.iter().map(|a| (*a, modulemd)).collect();
        self.import_module_build_per_arch(nsvc, modulemd, content_tag, &per_arch)
    }

    /// [`HubModel::import_module_build`] with a document of its own for each
    /// arch (`modulemd.<arch>.txt`), as MBS writes them: each lists what
    /// that arch's tree gets, multilib packages included.
    pub fn import_module_build_per_arch(
        &mut self,
        nsvc: &str,
        modulemd: &str,
        content_tag: &str,
        per_arch: &[(&str, &str)],
    ) -> i64 {
        let p: Vec<&str> = nsvc.split(':').collect();
        let (name, stream, version, context) = (p[0], p[1], p[2], p[3]);
        let package_id = self.package_id(name);
        let ev = self.new_event();
        let id = self.builds.len() as i64 + 1;
        let module = Value::structure([
            ("name", Value::from(name)),
            ("stream", Value::from(stream)),
            ("version", Value::from(version)),
            ("context", Value::from(context)),
            ("content_koji_tag", Value::from(content_tag)),
            ("modulemd_str", Value::from(modulemd)),
            ("module_build_service_id", Value::Int(id)),
        ]);
        let build = BuildRow {
            id,
            package_id,
            name: name.to_owned(),
            version: stream.replace('-', "_"),
            release: format!("{version}.{context}"),
            epoch: None,
            state: BUILD_COMPLETE,
            volume_id: 0,
            owner: "mbs".to_owned(),
            task_id: None,
            creation_event: ev,
            draft: false,
            extra: Some(Value::structure([(
                "typeinfo",
                Value::structure([("module", module)]),
            )])),
        };
        let dir = self.build_dir(&build).join("files").join("module");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("modulemd.txt"), modulemd).unwrap();
        for (arch, text) in per_arch {
            std::fs::write(dir.join(format!("modulemd.{arch}.txt")), text).unwrap();
        }
        self.builds.push(build);
        id
    }

    /// Builds whose N-V-R matches the glob `pattern` (`*`, `?`), as the
    /// hub's `search(..., "build", "glob")` finds them.
    pub fn search_builds(&self, pattern: &str) -> Vec<(i64, String)> {
        fn glob(p: &[u8], s: &[u8]) -> bool {
            match (p.first(), s.first()) {
                (None, None) => true,
                (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
                (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
                (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
                _ => false,
            }
        }
        self.builds
            .iter()
            .filter(|b| glob(pattern.as_bytes(), b.nvr().as_bytes()))
            .map(|b| (b.id, b.nvr()))
            .collect()
    }

    pub fn set_build_state(&mut self, build_id: i64, state: i64) {
        self.builds[build_id as usize - 1].state = state;
    }

    /// Write signed copies of every RPM of a build under
    /// `data/signed/<key>/<arch>/` and record the signatures. The copies are
    /// the unsigned bytes: the fixture builder cannot sign, and only the path
    /// and the `rpmsigs` rows matter to what is tested here.
    pub fn sign_build(&mut self, build_id: i64, sigkey: &str) {
        let key = sigkey.to_lowercase();
        let build = self.builds[build_id as usize - 1].clone();
        let dir = self.build_dir(&build);
        let rpms: Vec<RpmRow> = self
            .rpms
            .iter()
            .filter(|r| r.build_id == build_id)
            .cloned()
            .collect();
        for r in rpms {
            let file = format!("{}.rpm", r.nvra());
            let to = dir.join("data/signed").join(&key).join(&r.arch);
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(dir.join(&r.arch).join(&file), to.join(&file)).unwrap();
            let bytes = std::fs::read(to.join(&file)).unwrap();
            self.sigs.push(SigRow {
                rpm_id: r.id,
                sigkey: key.clone(),
                sighash: hex::encode(&Sha256::digest(format!("{key}{file}"))[..16]),
                sha256: OnceLock::from(hex::encode(Sha256::digest(&bytes))),
            });
        }
    }

    /// Forget the checksums recorded for copies signed with `sigkey`, as for
    /// copies written before Koji recorded them: `getRPMChecksums` computes
    /// them from the files when first asked.
    pub fn forget_checksums(&mut self, sigkey: &str) {
        let key = sigkey.to_lowercase();
        for s in self.sigs.iter_mut().filter(|s| s.sigkey == key) {
            s.sha256 = OnceLock::new();
        }
    }

    /// Where the copy of `rpm` with `sigkey` lies (`""`: the unsigned file).
    pub fn copy_path(&self, rpm: &RpmRow, sigkey: &str) -> PathBuf {
        let dir = self.build_dir(&self.builds[rpm.build_id as usize - 1]);
        let file = format!("{}.rpm", rpm.nvra());
        if sigkey.is_empty() {
            dir.join(&rpm.arch).join(file)
        } else {
            dir.join("data/signed")
                .join(sigkey.to_lowercase())
                .join(&rpm.arch)
                .join(file)
        }
    }

    pub fn build_id(&self, nvr: &str) -> i64 {
        self.find_build_by_nvr(nvr)
            .unwrap_or_else(|| panic!("no build {nvr}"))
            .id
    }

    pub fn tag_build(&mut self, tag: &str, nvr: &str) -> i64 {
        let (tag_id, build_id) = (self.tag_id(tag), self.build_id(nvr));
        let ev = self.new_event();
        self.listings.push(ListingRow {
            tag_id,
            build_id,
            v: Versioned {
                create_event: ev,
                revoke_event: None,
            },
        });
        ev
    }

    pub fn untag_build(&mut self, tag: &str, nvr: &str) -> i64 {
        let (tag_id, build_id) = (self.tag_id(tag), self.build_id(nvr));
        let ev = self.new_event();
        let row = self
            .listings
            .iter_mut()
            .find(|l| l.tag_id == tag_id && l.build_id == build_id && l.v.revoke_event.is_none())
            .unwrap_or_else(|| panic!("{nvr} is not tagged in {tag}"));
        row.v.revoke_event = Some(ev);
        ev
    }

    // ---- reads ----

    pub fn event_ts(&self, id: i64) -> Option<f64> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.events.get(i))
            .copied()
    }

    /// `getLastEvent(before=…)`: the newest event, or the newest one before a time.
    pub fn last_event_before(&self, before: Option<f64>) -> Option<i64> {
        match before {
            None => Some(self.last_event()),
            Some(t) => self
                .events
                .iter()
                .rposition(|ts| *ts < t)
                .map(|i| i as i64 + 1),
        }
    }

    /// A tag by id or name, as it existed at `event`.
    pub fn find_tag(&self, info: &Value, event: Option<i64>) -> Option<&TagRow> {
        let tag = match info {
            Value::Int(id) => self.tags.iter().find(|t| t.id == *id),
            Value::String(name) => self.tags.iter().find(|t| &t.name == name),
            _ => None,
        }?;
        match event {
            Some(e) if e < tag.created => None,
            _ => Some(tag),
        }
    }

    pub fn tag_name(&self, id: i64) -> &str {
        &self.tags[id as usize - 1].name
    }

    /// `tagChangedSinceEvent`: a row of one of the tags (the tag itself, its
    /// inheritance links as the child, its package list, its builds) created
    /// or revoked after `event`.
    pub fn tag_changed_since(&self, event: i64, tag_ids: &[i64]) -> bool {
        let after =
            |v: &Versioned| v.create_event > event || v.revoke_event.is_some_and(|r| r > event);
        self.tags
            .iter()
            .any(|t| tag_ids.contains(&t.id) && t.created > event)
            || self
                .inheritance
                .iter()
                .any(|r| tag_ids.contains(&r.child_id) && after(&r.v))
            || self
                .tag_packages
                .iter()
                .any(|r| tag_ids.contains(&r.tag_id) && after(&r.v))
            || self
                .listings
                .iter()
                .any(|r| tag_ids.contains(&r.tag_id) && after(&r.v))
    }

    /// A draft is found by its draft N-V-R only (formats.md §1.10).
    pub fn find_build_by_nvr(&self, nvr: &str) -> Option<&BuildRow> {
        self.builds.iter().find(|b| b.nvr() == nvr)
    }

    pub fn find_build(&self, info: &Value) -> Option<&BuildRow> {
        match info {
            Value::Int(id) => self.builds.iter().find(|b| b.id == *id),
            Value::String(nvr) => self.find_build_by_nvr(nvr),
            Value::Struct(_) => {
                let field = |k| info.get(k).and_then(Value::as_str);
                let (n, v, r) = (field("name")?, field("version")?, field("release")?);
                self.find_build_by_nvr(&format!("{n}-{v}-{r}"))
            }
            _ => None,
        }
    }

    /// An RPM by id, by `N-V-R.A`, or by a dict of name, version, release
    /// and arch (as `getRPM` takes it; the epoch is not compared).
    pub fn find_rpm(&self, info: &Value) -> Option<&RpmRow> {
        match info {
            Value::Int(id) => self.rpms.iter().find(|r| r.id == *id),
            Value::String(nvra) => self.rpms.iter().find(|r| &r.nvra() == nvra),
            Value::Struct(_) => {
                let field = |k| info.get(k).and_then(Value::as_str);
                self.rpms.iter().find(|r| {
                    field("name") == Some(r.name.as_str())
                        && field("version") == Some(r.version.as_str())
                        && field("release") == Some(r.release.as_str())
                        && field("arch") == Some(r.arch.as_str())
                })
            }
            _ => None,
        }
    }

    pub fn build_rpms(&self, build_id: i64) -> impl Iterator<Item = &RpmRow> {
        self.rpms.iter().filter(move |r| r.build_id == build_id)
    }

    pub fn rpm_sigs(
        &self,
        rpm_id: Option<i64>,
        sigkey: Option<&str>,
    ) -> Vec<(i64, String, String)> {
        self.sigs
            .iter()
            .filter(|s| rpm_id.is_none_or(|id| s.rpm_id == id))
            .filter(|s| sigkey.is_none_or(|k| s.sigkey == k.to_lowercase()))
            .map(|s| (s.rpm_id, s.sigkey.clone(), s.sighash.clone()))
            .collect()
    }

    /// `getRPMChecksums`: (sigkey, sha256) of every copy of the RPM (`""`:
    /// the unsigned file). A checksum not recorded is computed from the copy
    /// on disk and recorded, unless `cacheonly` (then that copy is left out),
    /// as the real hub does: a copy damaged before that matches.
    pub fn rpm_checksums(&self, rpm_id: i64, cacheonly: bool) -> Vec<(String, String)> {
        let Some(rpm) = self.rpms.iter().find(|r| r.id == rpm_id) else {
            return Vec::new();
        };
        self.sigs
            .iter()
            .filter(|s| s.rpm_id == rpm_id)
            .filter_map(|s| {
                let sha = match s.sha256.get() {
                    Some(sha) => sha.clone(),
                    None if cacheonly => return None,
                    None => {
                        let bytes = std::fs::read(self.copy_path(rpm, &s.sigkey)).ok()?;
                        s.sha256
                            .get_or_init(|| hex::encode(Sha256::digest(&bytes)))
                            .clone()
                    }
                };
                Some((s.sigkey.clone(), sha))
            })
            .collect()
    }

    /// The tag's direct parents at `event`, by ascending priority.
    fn direct_parents(&self, tag_id: i64, event: Option<i64>) -> Vec<&InheritanceRow> {
        let mut links: Vec<&InheritanceRow> = self
            .inheritance
            .iter()
            .filter(|l| l.child_id == tag_id && l.v.active_at(event))
            .collect();
        links.sort_by_key(|l| l.opts.priority);
        links
    }

    /// `readFullInheritance`: a depth-first, pre-order walk of the parents
    /// (formats.md §1.4).
    pub fn full_inheritance(&self, tag_id: i64, event: Option<i64>) -> Vec<FullLink> {
        let mut order = Vec::new();
        let mut hist: HashMap<i64, Vec<FullLink>> = HashMap::new();
        self.walk(
            tag_id,
            event,
            &mut order,
            &HashSet::new(),
            &mut hist,
            0,
            None,
            false,
            &[],
        );
        order
    }

    #[expect(clippy::too_many_arguments, reason = "mirrors Koji's recursive walk")]
    fn walk(
        &self,
        tag_id: i64,
        event: Option<i64>,
        order: &mut Vec<FullLink>,
        top: &HashSet<i64>,
        hist: &mut HashMap<i64, Vec<FullLink>>,
        currdepth: i64,
        maxdepth: Option<i64>,
        mut noconfig: bool,
        filter: &[String],
    ) {
        if maxdepth.is_some_and(|m| m < 1) {
            return;
        }
        let currdepth = currdepth + 1;
        let mut top = top.clone();
        top.insert(tag_id);
        for link in self.direct_parents(tag_id, event) {
            let id = link.parent_id;
            if top.contains(&id) {
                continue; // a loop
            }
            if link.opts.intransitive && top.len() > 1 {
                continue; // intransitive links count only at the root
            }
            let nextdepth = match (maxdepth, link.opts.maxdepth) {
                (None, own) => own,
                (Some(m), None) => Some(m - 1),
                (Some(m), Some(own)) => Some(m.min(own) - 1),
            };
            noconfig |= link.opts.noconfig;
            let mut link_filter = filter.to_vec();
            if !link.opts.pkg_filter.is_empty() {
                link_filter.push(link.opts.pkg_filter.clone());
            }
            let full = FullLink {
                parent_id: id,
                child_id: link.child_id,
                name: self.tag_name(id).to_owned(),
                opts: link.opts.clone(),
                currdepth,
                nextdepth,
                filter: link_filter.clone(),
            };
            if let Some(earlier) = hist.get(&id) {
                // Visit again only if every earlier visit was insufficient.
                let sufficient = earlier.iter().any(|e| {
                    let deep_enough = match (e.nextdepth, nextdepth) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(a), Some(b)) => a >= b,
                    };
                    // a noconfig visit does not cover one that takes the config
                    let config_enough = noconfig || !e.opts.noconfig;
                    deep_enough && config_enough && e.filter.is_empty()
                });
                if sufficient {
                    continue;
                }
            }
            hist.entry(id).or_default().push(full.clone());
            order.push(full);
            self.walk(
                id,
                event,
                order,
                &top,
                hist,
                currdepth,
                nextdepth,
                noconfig,
                &link_filter,
            );
        }
    }

    /// `[tag] + parents` when inheriting.
    fn taglist(&self, tag_id: i64, event: Option<i64>, inherit: bool) -> Vec<i64> {
        let mut list = vec![tag_id];
        if inherit {
            list.extend(
                self.full_inheritance(tag_id, event)
                    .iter()
                    .map(|l| l.parent_id),
            );
        }
        list
    }

    /// `readPackageList(tag, event, inherit=True)`: package id → blocked, the
    /// nearest entry winning; inherited entries must match every filter regex
    /// of their link (anchored at the start, as Python's `re.match`).
    fn package_list(&self, tag_id: i64, event: Option<i64>) -> HashMap<i64, bool> {
        let mut packages: HashMap<i64, bool> = HashMap::new();
        let rows = |t: i64| {
            self.tag_packages
                .iter()
                .filter(move |r| r.tag_id == t && r.v.active_at(event))
        };
        for r in rows(tag_id) {
            packages.insert(r.package_id, r.blocked);
        }
        for link in self.full_inheritance(tag_id, event) {
            let regexes: Vec<regex_lite::Regex> = link
                .filter
                .iter()
                .filter_map(|f| regex_lite::Regex::new(&format!("^(?:{f})")).ok())
                .collect();
            for r in rows(link.parent_id) {
                if packages.contains_key(&r.package_id) {
                    continue;
                }
                let name = &self.packages[r.package_id as usize - 1];
                if regexes.iter().all(|re| re.is_match(name)) {
                    packages.insert(r.package_id, r.blocked);
                }
            }
        }
        packages
    }

    /// `readTaggedBuilds` (formats.md §1.6): per tag of the chain, builds by
    /// most recent tagging first; `latest` keeps the first `n` per package
    /// across the chain.
    pub fn tagged_builds(
        &self,
        tag_id: i64,
        event: Option<i64>,
        inherit: bool,
        latest: Option<i64>,
        package: Option<&str>,
        draft: Option<bool>,
    ) -> Vec<TaggedBuild> {
        let packages = self.package_list(tag_id, event);
        let mut seen: HashMap<i64, i64> = HashMap::new();
        let mut out = Vec::new();
        for t in self.taglist(tag_id, event, inherit) {
            let mut rows: Vec<(&ListingRow, &BuildRow)> = self
                .listings
                .iter()
                .filter(|l| l.tag_id == t && l.v.active_at(event))
                .map(|l| (l, &self.builds[l.build_id as usize - 1]))
                .filter(|(_, b)| b.state == BUILD_COMPLETE)
                .filter(|(_, b)| draft.is_none_or(|d| b.draft == d))
                .filter(|(_, b)| package.is_none_or(|p| b.name == p))
                .collect();
            rows.sort_by(|(la, ba), (lb, bb)| {
                (lb.v.create_event, bb.id).cmp(&(la.v.create_event, ba.id))
            });
            for (l, b) in rows {
                if packages.get(&b.package_id) != Some(&false) {
                    continue; // not listed, or blocked
                }
                if let Some(n) = latest {
                    let count = seen.entry(b.package_id).or_insert(0);
                    if *count >= n {
                        continue;
                    }
                    *count += 1;
                }
                out.push(TaggedBuild {
                    build: b.clone(),
                    tag_id: t,
                    tag_name: self.tag_name(t).to_owned(),
                    tag_event: l.v.create_event,
                });
            }
        }
        out
    }

    /// `readTaggedRPMS`: the RPMs of the selected builds, each taken from the
    /// tag its build was selected from, with one row per signature when
    /// `rpmsigs`.
    #[expect(clippy::too_many_arguments, reason = "the hub call's parameters")]
    pub fn tagged_rpms(
        &self,
        tag_id: i64,
        event: Option<i64>,
        inherit: bool,
        latest: Option<i64>,
        package: Option<&str>,
        arches: Option<&[String]>,
        rpmsigs: bool,
        draft: Option<bool>,
    ) -> (Vec<(RpmRow, Option<String>)>, Vec<TaggedBuild>) {
        let builds = self.tagged_builds(tag_id, event, inherit, latest, package, draft);
        let by_id: HashMap<i64, &TaggedBuild> = builds.iter().map(|b| (b.build.id, b)).collect();
        let mut rpms = Vec::new();
        let mut done = HashSet::new();
        for t in self.taglist(tag_id, event, inherit) {
            if !done.insert(t) {
                continue;
            }
            let tagged_here: HashSet<i64> = self
                .listings
                .iter()
                .filter(|l| l.tag_id == t && l.v.active_at(event))
                .map(|l| l.build_id)
                .collect();
            for r in &self.rpms {
                if !tagged_here.contains(&r.build_id) {
                    continue;
                }
                if by_id.get(&r.build_id).is_none_or(|b| b.tag_id != t) {
                    continue;
                }
                if arches.is_some_and(|a| !a.contains(&r.arch)) {
                    continue;
                }
                if rpmsigs {
                    for (_, key, _) in self.rpm_sigs(Some(r.id), None) {
                        rpms.push((r.clone(), Some(key)));
                    }
                } else {
                    rpms.push((r.clone(), None));
                }
            }
        }
        (rpms, builds)
    }

    pub fn volume_name(&self, id: i64) -> &str {
        &self.volumes[id as usize]
    }
}

/// `value.isoformat(' ')` of a UTC timestamp, as the hub sends times.
pub fn iso_time(ts: f64) -> String {
    let secs = ts.floor() as i64;
    let micros = ((ts - secs as f64) * 1e6).round() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micros == 0 {
        format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}+00:00")
    } else {
        format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{micros:06}+00:00")
    }
}
