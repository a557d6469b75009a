//! Which package arches a tree of a given arch can hold (formats.md §2.4):
//! the native chain, `noarch`, and optionally the multilib arches; source
//! packages for the source tree.

/// The rank given to `noarch`: compatible with every class, never "best".
pub const NOARCH_RANK: u32 = u32::MAX;
const SRC_RANK: u32 = u32::MAX - 1;

/// Ranks encode (class << 16) | position: a lower rank is a better arch, and
/// packages of different classes (x86_64 vs i686) are never mixed by the policy.
#[derive(Clone, Debug)]
pub struct ArchSet {
    ranked: Vec<(String, u32)>,
    source: bool,
}

/// The native chain of a tree arch, best first.
fn native_chain(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" => &["x86_64"],
        "i386" | "i686" => &["i686", "i586", "i486", "i386"],
        "aarch64" => &["aarch64"],
        "ppc64le" => &["ppc64le"],
        "ppc64" => &["ppc64"],
        "s390x" => &["s390x"],
        "armhfp" => &["armv7hnl", "armv7hl", "armv7l"],
        _ => &[],
    }
}

/// The multilib arches of a tree arch, best first.
fn multilib_chain(arch: &str) -> &'static [&'static str] {
    match arch {
        "x86_64" => &["athlon", "i686", "i586", "i486", "i386"],
        "ppc64" => &["ppc"],
        "s390x" => &["s390"],
        _ => &[],
    }
}

impl ArchSet {
    /// Arches usable in a tree of `arch`; `multilib` adds the 32-bit ones,
    /// `source` admits source packages (for choosing SRPMs).
    pub fn new(arch: &str, multilib: bool, source: bool) -> ArchSet {
        let mut ranked = Vec::new();
        let native = native_chain(arch);
        if native.is_empty() {
            ranked.push((arch.to_owned(), 0));
        }
        for (i, a) in native.iter().enumerate() {
            ranked.push(((*a).to_owned(), i as u32));
        }
        if multilib {
            for (i, a) in multilib_chain(arch).iter().enumerate() {
                ranked.push(((*a).to_owned(), (1 << 16) | i as u32));
            }
        }
        ArchSet { ranked, source }
    }

    /// The rank of a package arch, or `None` when the tree cannot hold it.
    pub fn rank(&self, arch: &str) -> Option<u32> {
        match arch {
            "noarch" => Some(NOARCH_RANK),
            "src" | "nosrc" => self.source.then_some(SRC_RANK),
            a => self.ranked.iter().find(|(x, _)| x == a).map(|&(_, r)| r),
        }
    }

    /// libsolv's arch policy for the tree (`pool_setarchpolicy`): the
    /// arches, best first, each its own class (`:`), as libsolv's built-in
    /// policies for x86_64 (`x86_64:i686:i586:i486:i386`) and the others are;
    /// the multilib arches only when the tree takes them.
    pub fn policy(&self) -> String {
        self.ranked
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn is_multilib(&self, arch: &str) -> bool {
        self.rank(arch)
            .is_some_and(|r| r != NOARCH_RANK && r != SRC_RANK && r >> 16 == 1)
    }
}

pub fn same_class(a: u32, b: u32) -> bool {
    a >> 16 == b >> 16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_64_trees_take_native_noarch_and_multilib_only_when_asked() {
        let plain = ArchSet::new("x86_64", false, false);
        assert!(plain.rank("x86_64").is_some() && plain.rank("noarch").is_some());
        assert!(
            plain.rank("i686").is_none()
                && plain.rank("src").is_none()
                && plain.rank("aarch64").is_none()
        );
        let ml = ArchSet::new("x86_64", true, true);
        assert!(ml.is_multilib("i686") && !ml.is_multilib("x86_64"));
        assert!(!same_class(
            ml.rank("x86_64").unwrap(),
            ml.rank("i686").unwrap()
        ));
        assert!(ml.rank("src").is_some());
        assert_eq!(plain.policy(), "x86_64");
        assert_eq!(ml.policy(), "x86_64:athlon:i686:i586:i486:i386");
    }
}
