//! Builds the small C shim over libsolv (`src/gather/solv_shim.c`) against the
//! libsolv installed on the machine (Debian's `libsolv-dev`, and
//! `libsolvext-dev` for the rich dependency parser), found through
//! pkg-config, and links it.

fn main() {
    println!("cargo:rerun-if-changed=src/gather/solv_shim.c");
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
}
