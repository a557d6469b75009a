//! How repodata is written: compression, locations, changelog length, chunk
//! size, the comps group. Below both the writer and the chunk cache, whose
//! keys depend on these options.

use super::compress::Compression;

/// What a repodata run writes, as createrepo_c's options say it.
#[derive(Clone, Debug)]
pub struct RepodataOptions {
    pub compression: Compression,
    /// Prepended to every `location href` (createrepo_c's `--location-prefix`).
    pub location_prefix: Option<String>,
    /// `xml:base` of every `location` (createrepo_c's `--baseurl`).
    pub baseurl: Option<String>,
    /// Newest changelog entries kept per package; `None` keeps all.
    pub changelog_limit: Option<usize>,
    /// `<revision>`; default: the current time in seconds.
    pub revision: Option<String>,
    /// Packages per compressed chunk.
    pub chunk_packages: usize,
    /// comps.xml to add as the `group` record (createrepo_c's `--groupfile`,
    /// compressed as createrepo_c ≥ 1.0 writes it: one `group` record).
    pub groupfile: Option<String>,
    /// modules.yaml to add as the `modules` record (as `modifyrepo_c
    /// --mdtype=modules` adds it: formats.md §4.3).
    pub modules: Option<String>,
}

impl Default for RepodataOptions {
    fn default() -> Self {
        RepodataOptions {
            compression: Compression::default(),
            location_prefix: None,
            baseurl: None,
            changelog_limit: Some(10),
            revision: None,
            chunk_packages: 256,
            groupfile: None,
            modules: None,
        }
    }
}
