//! `odcs generate-corpus`: write a synthetic package universe as real RPM files.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use rayon::prelude::*;

#[derive(clap::Args)]
pub struct CorpusArgs {
    /// Directory to write the RPMs to (under Packages/<first letter>/).
    dir: PathBuf,
    /// Number of packages.
    #[arg(long, default_value_t = 10_000)]
    packages: usize,
    /// Seed: the same seed gives the same packages.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write no source RPMs. By default each binary package's source RPM
    /// (the one its SOURCERPM header names) is written under
    /// SRPMS/<letter>/, so the corpus can be imported into Koji.
    #[arg(long)]
    no_sources: bool,
}

pub fn run(args: CorpusArgs) -> anyhow::Result<()> {
    let specs = odcs::rpm::corpus::corpus(args.packages, args.seed);
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(specs.len() as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    let bytes = AtomicU64::new(0);
    let write = |s: &odcs::rpm::build::PackageSpec, top: &str| -> anyhow::Result<()> {
        let first = s.name.chars().next().unwrap_or('_').to_ascii_lowercase();
        let dir = args.dir.join(top).join(first.to_string());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = s.write_to(&dir)?;
        bytes.fetch_add(
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            Ordering::Relaxed,
        );
        Ok(())
    };
    specs.par_iter().try_for_each(|s| -> anyhow::Result<()> {
        write(s, "Packages")?;
        if !args.no_sources {
            write(&s.source_package(), "SRPMS")?;
        }
        bar.inc(1);
        Ok(())
    })?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {} packages{} ({} MiB) to {}",
        specs.len(),
        if args.no_sources {
            ""
        } else {
            " and their source RPMs"
        },
        bytes.load(Ordering::Relaxed) >> 20,
        args.dir.display()
    );
    Ok(())
}
