//! The `iso` result (odcs-api.md §2.1, issue #16): an ISO 9660 image of each
//! arch's `os` tree, as Pungi's createiso phase makes one for a compose that
//! is not bootable. Built natively, without Pungi: Debian's `xorriso`
//! (mkisofs emulation, Rock Ridge and Joliet) writes it, isomd5sum's
//! `implantisomd5` implants the MD5 that `checkisomd5` (and Anaconda) verify,
//! and a `SHA256SUM` file beside it holds its checksum in the BSD tag format
//! of Pungi's per-algorithm checksum files. Each image is recorded in
//! productmd `images.json` (formats.md §3.4) as type `dvd`, format `iso`.
//!
//! Each image is padded with 1 MiB of zeros: isomd5sum cannot check a tiny
//! image (see [`make_isos`]).
//!
//! Names: `<compose id>-Temporary-<arch>-dvd1.iso` (Pungi's default
//! `image_name_format`, `{compose_id}-{variant}-{arch}-{disc_type}{disc_num}`),
//! volume id `<name>-1-<arch>` as in the original's boot.iso example, cut to
//! ISO 9660's 32 characters.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest as _;

use super::request::{ComposeError, ComposeRequest, VARIANT};

/// One image made.
#[derive(Clone, Debug)]
pub struct Image {
    pub arch: String,
    /// Relative to `compose/`.
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    pub sha256: String,
    pub implant_md5: String,
    pub volume_id: String,
}

fn fail(m: String) -> ComposeError {
    ComposeError::Iso(m)
}

/// Run a tool to its end; its stderr in the error.
fn run(tool: &str, args: &[&std::ffi::OsStr]) -> Result<String, ComposeError> {
    let out = Command::new(tool).args(args).output().map_err(|e| {
        fail(format!(
            "cannot run {tool}: {e} (the iso result needs Debian's xorriso and isomd5sum)"
        ))
    })?;
    if !out.status.success() {
        return Err(fail(format!(
            "{tool} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The ISO of each arch's `os` tree under `top/compose/Temporary/<arch>/iso/`,
/// with its `SHA256SUM`; `compose_id` is productmd's id of the compose.
pub fn make_isos(
    top: &Path,
    req: &ComposeRequest,
    compose_id: &str,
) -> Result<Vec<Image>, ComposeError> {
    let mut images = Vec::new();
    for arch in &req.arches {
        let variant = top.join("compose").join(VARIANT);
        let tree = variant.join(arch).join("os");
        if !tree.is_dir() {
            continue;
        }
        let dir = variant.join(arch).join("iso");
        std::fs::create_dir_all(&dir).map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        let name = format!("{compose_id}-{VARIANT}-{arch}-dvd1.iso");
        let iso: PathBuf = dir.join(&name);
        let mut volume_id = format!("{}-1-{arch}", req.name);
        volume_id.truncate(32);
        run(
            "xorriso",
            &[
                "-as".as_ref(),
                "mkisofs".as_ref(),
                "-quiet".as_ref(),
                "-untranslated-filenames".as_ref(),
                "-rational-rock".as_ref(),
                "-J".as_ref(),
                "-joliet-long".as_ref(),
                "-V".as_ref(),
                volume_id.as_ref(),
                "-o".as_ref(),
                iso.as_os_str(),
                tree.as_os_str(),
                // checkisomd5 fails images under about 750 KB that
                // implantisomd5 marked (seen with Debian's isomd5sum 1.2.3:
                // a 677 888-byte image FAILs, 778 240 bytes PASS): 1 MiB of
                // padding keeps every image above that
                "--".as_ref(),
                "-padding".as_ref(),
                "1m".as_ref(),
            ],
        )?;
        run("implantisomd5", &[iso.as_os_str()])?;
        // what checkisomd5 reads back is what productmd records
        // (its first line: `<path>:   <md5>`)
        let said = run("checkisomd5", &["--md5sumonly".as_ref(), iso.as_os_str()])?;
        let implant_md5 = said
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .map(str::trim)
            .filter(|m| m.len() == 32 && m.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| fail(format!("checkisomd5 --md5sumonly said {said:?}")))?
            .to_owned();
        let bytes = std::fs::read(&iso).map_err(|e| fail(format!("{}: {e}", iso.display())))?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        let meta = std::fs::metadata(&iso).map_err(|e| fail(format!("{}: {e}", iso.display())))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        let sums = dir.join("SHA256SUM");
        std::fs::write(&sums, format!("SHA256 ({name}) = {sha256}\n"))
            .map_err(|e| fail(format!("{}: {e}", sums.display())))?;
        images.push(Image {
            arch: arch.clone(),
            path: format!("{VARIANT}/{arch}/iso/{name}"),
            size: meta.len(),
            mtime,
            sha256,
            implant_md5,
            volume_id,
        });
    }
    Ok(images)
}

/// productmd `images.json` of `images`.
pub fn images_json(images: &[Image], compose: &serde_json::Value) -> serde_json::Value {
    let mut by_arch = serde_json::Map::new();
    for i in images {
        let list = by_arch
            .entry(i.arch.clone())
            .or_insert_with(|| serde_json::Value::Array(vec![]));
        if let serde_json::Value::Array(v) = list {
            v.push(serde_json::json!({
                "arch": i.arch,
                "bootable": false,
                "checksums": {"sha256": i.sha256},
                "disc_count": 1,
                "disc_number": 1,
                "format": "iso",
                "implant_md5": i.implant_md5,
                "mtime": i.mtime,
                "path": i.path,
                "size": i.size,
                "subvariant": VARIANT,
                "type": "dvd",
                "volume_id": i.volume_id,
            }));
        }
    }
    serde_json::json!({
        "header": {"type": "productmd.images", "version": "1.2"},
        "payload": {"compose": compose, "images": {VARIANT: by_arch}}
    })
}
