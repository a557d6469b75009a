//! What a finished compose says about itself: productmd's `composeinfo.json`,
//! `rpms.json` and `modules.json` under `compose/metadata/` (formats.md §3: indent 4, sorted keys,
//! no trailing newline, NEVRAs with epochs, SRPMs under every arch), Pungi's
//! `COMPOSE_ID` and `STATUS`, and the `.repo` file of odcs-api.md §7.4.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::request::{ComposeRequest, ComposedRpm, VARIANT, manifest};
use crate::modulemd::ModuleStream;

/// Write JSON as productmd does.
fn write_json(path: &Path, v: &Value) -> std::io::Result<()> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).map_err(std::io::Error::other)?;
    std::fs::write(path, out)
}

/// productmd's compose id: `<short>-<version>-<date>.t.<respin>`.
pub fn productmd_id(name: &str, date: &str) -> String {
    format!("{name}-1-{date}.t.0")
}

pub fn write_all(
    top: &Path,
    req: &ComposeRequest,
    date: &str,
    rpms: &[ComposedRpm],
    modules: &[ModuleStream],
    trees: &[PathBuf],
    images: &[super::iso::Image],
) -> std::io::Result<()> {
    let id = productmd_id(&req.name, date);
    let compose = json!({"id": id, "date": date, "type": "test", "respin": 0});
    let meta_dir = top.join("compose/metadata");
    std::fs::create_dir_all(&meta_dir)?;

    let mut arches: Vec<String> = req.arches.clone();
    arches.sort();
    // Pungi leaves out the paths of trees that do not exist
    let mut paths = serde_json::Map::new();
    let variant_dir = top.join("compose").join(VARIANT);
    for a in &arches {
        let trees_of = [
            (
                variant_dir.join(a).join("os"),
                format!("{VARIANT}/{a}/os"),
                ["os_tree", "repository", "packages"],
            ),
            (
                variant_dir.join(a).join("debug/tree"),
                format!("{VARIANT}/{a}/debug/tree"),
                ["debug_tree", "debug_repository", "debug_packages"],
            ),
            (
                variant_dir.join("source/tree"),
                format!("{VARIANT}/source/tree"),
                ["source_tree", "source_repository", "source_packages"],
            ),
        ];
        for (dir, rel, [tree, repo, pkgs]) in trees_of {
            if !trees.contains(&dir) {
                continue;
            }
            for (field, value) in [
                (tree, rel.clone()),
                (repo, rel.clone()),
                (pkgs, format!("{rel}/Packages")),
            ] {
                let entry = paths.entry(field.to_owned()).or_insert_with(|| json!({}));
                entry[a.as_str()] = Value::String(value);
            }
        }
    }
    for i in images {
        let entry = paths.entry("isos".to_owned()).or_insert_with(|| json!({}));
        entry[i.arch.as_str()] = Value::String(format!("{VARIANT}/{}/iso", i.arch));
    }
    let composeinfo = json!({
        "header": {"type": "productmd.composeinfo", "version": "1.2"},
        "payload": {
            "compose": compose,
            "release": {"name": req.name, "short": req.name, "version": "1", "type": "ga", "internal": false},
            "variants": {
                VARIANT: {
                    "id": VARIANT, "uid": VARIANT, "name": VARIANT, "type": "variant",
                    "arches": arches,
                    "paths": paths,
                }
            }
        }
    });
    write_json(&meta_dir.join("composeinfo.json"), &composeinfo)?;

    let mut by_arch = serde_json::Map::new();
    for (arch, srpms) in manifest(rpms, &arches) {
        let mut s = serde_json::Map::new();
        for (srpm, entries) in srpms {
            let e: serde_json::Map<String, Value> = entries
                .into_iter()
                .map(|(nevra, r)| {
                    (
                        nevra,
                        json!({"category": r.category, "path": r.path, "sigkey": r.sigkey}),
                    )
                })
                .collect();
            s.insert(srpm, Value::Object(e));
        }
        by_arch.insert(arch, Value::Object(s));
    }
    let rpms_json = json!({
        "header": {"type": "productmd.rpms", "version": "1.2"},
        "payload": {"compose": compose, "rpms": {VARIANT: by_arch}}
    });
    write_json(&meta_dir.join("rpms.json"), &rpms_json)?;

    // modules.json, always (empty without modules), as Pungi writes it
    let mut modules_by_arch = serde_json::Map::new();
    for a in &arches {
        let os = variant_dir.join(a).join("os");
        let Some(href) = modules_href(&os) else {
            continue;
        };
        let mut of_arch = serde_json::Map::new();
        for m in super::modules::for_arch(modules, a) {
            of_arch.insert(
                m.nsvc(),
                json!({
                    "metadata": {
                        "uid": m.nsvc(), "name": m.name, "stream": m.stream,
                        "version": m.version.to_string(), "context": m.context,
                        "koji_tag": m.koji_tag(),
                    },
                    "modulemd_path": {"binary": format!("{VARIANT}/{a}/os/{href}")},
                    "rpms": m.artifacts,
                }),
            );
        }
        modules_by_arch.insert(a.clone(), Value::Object(of_arch));
    }
    let modules_payload = if modules_by_arch.is_empty() {
        json!({})
    } else {
        json!({ VARIANT: modules_by_arch })
    };
    let modules_json = json!({
        "header": {"type": "productmd.modules", "version": "1.2"},
        "payload": {"compose": compose, "modules": modules_payload}
    });
    write_json(&meta_dir.join("modules.json"), &modules_json)?;
    // images.json only when images were made, as Pungi writes it
    if !images.is_empty() {
        write_json(
            &meta_dir.join("images.json"),
            &super::iso::images_json(images, &compose),
        )?;
    }

    std::fs::write(top.join("COMPOSE_ID"), &id)?;
    std::fs::write(top.join("STATUS"), "FINISHED\n")?;
    std::fs::write(
        top.join("compose")
            .join(VARIANT)
            .join(format!("{}.repo", req.name)),
        repo_file(&req.name, &req.url),
    )
}

/// The href of the `modules` record of the repository at `repo`, if any.
fn modules_href(repo: &Path) -> Option<String> {
    let repomd = std::fs::read_to_string(repo.join("repodata/repomd.xml")).ok()?;
    let record = repomd.split("<data type=\"modules\">").nth(1)?;
    let href = record
        .split("<location href=\"")
        .nth(1)?
        .split('"')
        .next()?;
    Some(href.to_owned())
}

/// The `.repo` file (odcs-api.md §7.4): the os tree enabled, debuginfo and
/// source trees present but disabled.
pub fn repo_file(name: &str, url: &str) -> String {
    let base = format!("{}/compose/{VARIANT}", url.trim_end_matches('/'));
    let block = |id: String, path: &str, enabled: u8| {
        format!(
            "[{id}]\nname=ODCS repository for compose {id}\nbaseurl={base}/{path}\ntype=rpm-md\nskip_if_unavailable=False\ngpgcheck=0\nrepo_gpgcheck=0\nenabled={enabled}\nenabled_metadata=1\n"
        )
    };
    [
        block(name.to_owned(), "$basearch/os", 1),
        block(format!("{name}-debuginfo"), "$basearch/debug/tree", 0),
        block(format!("{name}-source"), "source/tree", 0),
    ]
    .join("\n")
}
