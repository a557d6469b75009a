//! Which multilib packages a compose takes: the methods of python-multilib as
//! Pungi runs them (formats.md §2.5), with the lists of its default
//! `multilib.conf`.
//!
//! A candidate is a package of a multilib arch (i686 in an x86_64 tree) with
//! the same N-V-R as a package already gathered for the native arch; it is
//! taken when any requested method selects it. Two quirks of the original are
//! kept on purpose, so a compose holds what Pungi would put in it:
//! - the white and black lists are tested as `name in <the list as one
//!   newline-joined string>`, a substring test (`perl` is "white" because of
//!   `perl-libs`);
//! - the "prefer 64-bit" rule (gdb, strace, kernels …) looks at the
//!   *candidate's* arch, so it never fires for i686 candidates.

use crate::rpm::{FileKind, PackageMeta};

/// A multilib method (`multilib_method` of the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MultilibMethod {
    #[default]
    None,
    Runtime,
    Devel,
    All,
}

// `multilib.conf` of python-multilib: [runtime] white/black, [devel] white/black.
const RUNTIME_WHITE: &str = "libflashsupport\nlibgnat\nlmms-vst\nnspluginwrapper\nperl-libs\nredhat-lsb\nsyslinux-extlinux-nonlinux\nsyslinux-nonlinux\nsyslinux-tftpboot\nvalgrind\nwine\nyaboot";
const RUNTIME_BLACK: &str = "httpd\nphp\ntomcat-native";
const DEVEL_WHITE: &str = "";
const DEVEL_BLACK: &str = "dmraid-devel\nhttpd-devel\nkdeutils-devel\nmkinitrd-devel\njava-1.5.0-gcj-devel\njava-1.6.0-openjdk-devel\njava-1.7.0-icedtea-devel\njava-1.7.0-openjdk-devel\njava-1.8.0-openjdk-devel\nphp-devel";

const PREFER_64: &[&str] = &[
    "gdb",
    "frysk",
    "systemtap",
    "systemtap-runtime",
    "ltrace",
    "strace",
];
const ROOT_LIB_DIRS: &[&str] = &["/lib", "/lib64"];
const USR_LIB_DIRS: &[&str] = &["/usr/lib", "/usr/lib64"];
/// Directories whose every file makes a runtime multilib package (alsa, dri,
/// gtk accessibility and input methods, krb5 and sasl plugins, vdpau, pam,
/// lsb).
const BY_DIR: &[&str] = &[
    "/usr/lib/alsa-lib",
    "/usr/lib/dri",
    "/usr/lib/gtk-2.0/modules",
    "/usr/lib/gtk-2.0/immodules",
    "/usr/lib/krb5/plugins",
    "/usr/lib/sasl2",
    "/usr/lib/vdpau",
    "/usr/lib64/alsa-lib",
    "/usr/lib64/dri",
    "/usr/lib64/gtk-2.0/modules",
    "/usr/lib64/gtk-2.0/immodules",
    "/usr/lib64/krb5/plugins",
    "/usr/lib64/sasl2",
    "/usr/lib64/vdpau",
    "/lib/security",
    "/lib64/security",
    "/etc/lsb-release.d",
];

/// Whether any of `methods` takes the multilib candidate `p`.
pub fn wanted(p: &PackageMeta, methods: &[MultilibMethod]) -> bool {
    methods.iter().any(|m| match m {
        MultilibMethod::None => false,
        MultilibMethod::All => true,
        MultilibMethod::Runtime => runtime(p),
        MultilibMethod::Devel => devel(p),
    })
}

fn provides_named(p: &PackageMeta, f: impl Fn(&str) -> bool) -> bool {
    p.provides.iter().any(|d| f(&d.name))
}

/// The base rule every method but `none`/`all` starts from.
fn prefer_64(p: &PackageMeta) -> bool {
    p.arch.contains("64")
        && (PREFER_64.contains(&p.name.as_str())
            || (p.name.starts_with("kernel")
                && provides_named(p, |n| n == "kernel" || n == "kernel-devel")))
}

fn runtime(p: &PackageMeta) -> bool {
    let name = p.name.as_str();
    if RUNTIME_BLACK.contains(name) {
        return false;
    }
    if RUNTIME_WHITE.contains(name) || prefer_64(p) {
        return true;
    }
    if name.starts_with("kernel") && provides_named(p, |n| n == "kernel") {
        return false;
    }
    p.files
        .iter()
        .filter(|f| f.kind != FileKind::Dir)
        .any(|f| runtime_file(f.path))
}

/// A file that makes its package a runtime library package.
fn runtime_file(path: &str) -> bool {
    let Some((dir, file)) = path.rsplit_once('/') else {
        return false;
    };
    let in_lib = ROOT_LIB_DIRS.contains(&dir) || USR_LIB_DIRS.contains(&dir);
    if (in_lib && glob("*.so.*", file)) || BY_DIR.contains(&dir) {
        return true;
    }
    if dir == "/etc/ld.so.conf.d" && file.ends_with(".conf") {
        return true;
    }
    // nss and db modules end in .so, not .so.N
    if ROOT_LIB_DIRS.contains(&dir) && (file.starts_with("libnss_") || file.starts_with("libdb-")) {
        return true;
    }
    if !USR_LIB_DIRS.iter().any(|d| dir.starts_with(d)) {
        return false;
    }
    if dir.starts_with("/usr/lib/gtk-2.0") || dir.starts_with("/usr/lib64/gtk-2.0") {
        return [
            "engines",
            "modules",
            "immodules",
            "loaders",
            "printbackends",
            "filesystems",
        ]
        .iter()
        .any(|leaf| glob(&format!("/usr/lib*/gtk-2.0/*/{leaf}"), dir));
    }
    dir.starts_with("/usr/lib/gstreamer-")
        || dir.starts_with("/usr/lib64/gstreamer-")
        || glob("/usr/lib*/qt*/plugins/*", dir)
        || glob("/usr/lib*/kde*/plugins/*", dir)
        || glob("/usr/lib*/qt5/qml/*", dir)
        || glob("/usr/lib*/gdk-pixbuf-2.0/*/loaders", dir)
        || glob("/usr/lib*/xine/plugins/*", dir)
        || (matches!(dir, "/usr/lib/oprofile" | "/usr/lib64/oprofile") && glob("*.so.*", file))
        || (matches!(dir, "/usr/lib/wine" | "/usr/lib64/wine") && file.ends_with(".so"))
        || (matches!(dir, "/usr/lib/sane" | "/usr/lib64/sane") && file.starts_with("libsane-"))
}

fn devel(p: &PackageMeta) -> bool {
    let name = p.name.as_str();
    if DEVEL_BLACK.contains(name) {
        return false;
    }
    if (!DEVEL_WHITE.is_empty() && DEVEL_WHITE.contains(name)) || runtime(p) {
        return true;
    }
    if name.starts_with("ghc-") {
        return false;
    }
    if name.starts_with("kernel") {
        // the first provide that decides, in header order
        for d in &p.provides {
            if d.name == "kernel-devel" {
                return false;
            }
            if d.name.ends_with("-devel") || d.name.ends_with("-static") {
                return true;
            }
        }
    }
    name.ends_with("-devel") || name.ends_with("-static")
}

/// `fnmatch` with `*` only (what the rules use): `*` matches any run of
/// characters, `/` included.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if s.len() < first.len() + last.len() || !s.starts_with(first) || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpm::build::PackageSpec;

    fn pkg(nevra: &str, files: &[&str], provides: &[&str]) -> PackageMeta {
        let mut spec = PackageSpec::parse(nevra).unwrap();
        for f in files {
            spec = spec.file(f, b"x".to_vec());
        }
        for p in provides {
            spec = spec.provides(p);
        }
        spec.to_meta().unwrap()
    }

    #[test]
    fn glob_matches_like_fnmatch_with_stars() {
        assert!(glob("*.so.*", "libz.so.1"));
        assert!(!glob("*.so.*", "libz.so"));
        assert!(glob(
            "/usr/lib*/qt*/plugins/*",
            "/usr/lib64/qt5/plugins/styles"
        ));
        assert!(!glob("/usr/lib*/qt*/plugins/*", "/usr/lib64/qt5/plugins"));
        assert!(glob(
            "/usr/lib*/gtk-2.0/*/engines",
            "/usr/lib/gtk-2.0/2.10.0/engines"
        ));
        assert!(glob("abc", "abc") && !glob("abc", "abd"));
        assert!(glob("a*a", "aa") && !glob("a*a", "a"));
    }

    #[test]
    fn runtime_takes_libraries_plugins_and_the_white_list() {
        let rt = |p: &PackageMeta| wanted(p, &[MultilibMethod::Runtime]);
        assert!(rt(&pkg("zlib-1.3-1.i686", &["/usr/lib/libz.so.1"], &[])));
        assert!(!rt(&pkg(
            "zlib-devel-1.3-1.i686",
            &["/usr/lib/libz.so"],
            &[]
        )));
        assert!(!rt(&pkg("tool-1-1.i686", &["/usr/bin/tool"], &[])));
        // a library deeper than the library directories does not count …
        assert!(!rt(&pkg(
            "deep-1-1.i686",
            &["/usr/lib/deep/libdeep.so.1"],
            &[]
        )));
        // … but plugin directories do (names chosen to be in neither list)
        for (name, file) in [
            ("pamx", "/lib/security/pam_x.so"),
            ("qtstyle", "/usr/lib/qt5/plugins/styles/s.so"),
            ("gstplugin", "/usr/lib/gstreamer-1.0/libg.so"),
            ("gtkengine", "/usr/lib/gtk-2.0/2.10.0/engines/libe.so"),
            ("nssmod", "/lib/libnss_files.so"),
            ("ldconf", "/etc/ld.so.conf.d/c.conf"),
            ("winemod", "/usr/lib/wine/w.so"),
            ("saneback", "/usr/lib64/sane/libsane-x.so.1"),
        ] {
            assert!(
                rt(&pkg(&format!("{name}-1-1.i686"), &[file], &[])),
                "{file}"
            );
        }
        // a one-letter name is in both lists ("tomcat-native" holds an e)
        assert!(!rt(&pkg("e-1-1.i686", &["/usr/lib/libe.so.1"], &[])));
        // the lists, as substring tests
        assert!(rt(&pkg("valgrind-3-1.i686", &[], &[])));
        assert!(
            rt(&pkg("perl-3-1.i686", &[], &[])),
            "a substring of perl-libs"
        );
        assert!(!rt(&pkg("httpd-2-1.i686", &["/usr/lib/libh.so.1"], &[])));
        // kernels are not runtime multilib; gdb only on a 64-bit arch
        assert!(!rt(&pkg(
            "kernel-6-1.i686",
            &["/lib/libk.so.1"],
            &["kernel"]
        )));
        assert!(!rt(&pkg("gdb-14-1.i686", &[], &[])));
        assert!(rt(&pkg("gdb-14-1.ppc64", &[], &[])));
    }

    #[test]
    fn devel_adds_devel_and_static_packages_but_not_its_black_list() {
        let dv = |p: &PackageMeta| wanted(p, &[MultilibMethod::Devel]);
        assert!(dv(&pkg(
            "zlib-devel-1.3-1.i686",
            &["/usr/lib/libz.so"],
            &[]
        )));
        assert!(dv(&pkg("zlib-static-1.3-1.i686", &[], &[])));
        assert!(dv(&pkg("zlib-1.3-1.i686", &["/usr/lib/libz.so.1"], &[])));
        assert!(!dv(&pkg("tool-1-1.i686", &["/usr/bin/tool"], &[])));
        assert!(!dv(&pkg("php-devel-8-1.i686", &[], &[])));
        assert!(!dv(&pkg("ghc-base-4-1.i686", &[], &[])));
        assert!(!dv(&pkg("kernel-devel-6-1.i686", &[], &["kernel-devel"])));
        assert!(dv(&pkg(
            "kernel-headers-6-1.i686",
            &[],
            &["kernel-headers-devel"]
        )));
        // none takes nothing, all takes everything
        let tool = pkg("tool-1-1.i686", &["/usr/bin/tool"], &[]);
        assert!(!wanted(&tool, &[MultilibMethod::None]));
        assert!(wanted(&tool, &[MultilibMethod::None, MultilibMethod::All]));
    }
}
