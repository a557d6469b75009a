//! Builds the small C shim over libsolv (`src/gather/solv_shim.c`) against the
//! libsolv installed on the machine (Debian's `libsolv-dev`, and
//! `libsolvext-dev` for the rich dependency parser), found through
//! pkg-config, and links it; and the GSSAPI shim of the Kerberos backend
//! (`src/auth/gss_shim.c`) against MIT Kerberos (Debian's `libkrb5-dev`).

fn main() {
    println!("cargo:rerun-if-changed=src/gather/solv_shim.c");
    println!("cargo:rerun-if-changed=src/auth/gss_shim.c");
    println!("cargo:rerun-if-changed=src/auth/gss_shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    // libsolvext holds pool_parserpmrichdep; its .pc file also links libsolv
    let libsolv = match pkg_config::Config::new()
        .atleast_version("0.7")
        .probe("libsolvext")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: libsolv (>= 0.7) with its headers is needed to build odcs: the \
                 dependency closure is libsolv's own answer.\n\
                 Install Debian's libsolv-dev and libsolvext-dev (scripts/deps does it: \
                 apt-get install libsolv-dev libsolvext-dev).\n\
                 pkg-config said: {e}"
            );
            std::process::exit(1);
        }
    };
    cc::Build::new()
        .file("src/gather/solv_shim.c")
        .includes(&libsolv.include_paths)
        .warnings(true)
        .extra_warnings(true)
        .compile("odcs_solv_shim");
    let gssapi = match pkg_config::Config::new().probe("krb5-gssapi") {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!(
                "error: MIT Kerberos' GSSAPI with its headers is needed to build odcs: the \
                 kerberos auth backend accepts SPNEGO tickets through it.\n\
                 Install Debian's libkrb5-dev (scripts/deps does it).\n\
                 pkg-config said: {e}"
            );
            std::process::exit(1);
        }
    };
    cc::Build::new()
        .file("src/auth/gss_shim.c")
        .includes(&gssapi.include_paths)
        .warnings(true)
        .extra_warnings(true)
        .compile("odcs_gss_shim");
}
