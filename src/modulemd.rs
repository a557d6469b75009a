//! Module metadata (formats.md §4.3): modulemd v2 streams and
//! modulemd-defaults v1, read from YAML (a module build's `modulemd.txt`, an
//! MBS answer, a store import) and written as the `modules.yaml` of a
//! repository, which libmodulemd reads strictly and dnf filters by.
//!
//! Only the fields a compose uses are kept; the writer emits every field
//! libmodulemd requires in repodata (`name`, `stream`, `version`, `context`,
//! `arch`, `summary`, `description`, `license.module`) and quotes every
//! string, so a stream `1` stays a string.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use yaml_rust2::{Yaml, YamlLoader};

/// One module stream build (`document: modulemd`, `version: 2`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleStream {
    pub name: String,
    pub stream: String,
    pub version: u64,
    pub context: String,
    pub arch: String,
    pub summary: String,
    pub description: String,
    pub license_module: Vec<String>,
    pub license_content: Vec<String>,
    /// Runtime `requires` of the first `dependencies` block: module name →
    /// streams (`[]` any, `-s` not s).
    pub requires: BTreeMap<String, Vec<String>>,
    pub buildrequires: BTreeMap<String, Vec<String>>,
    /// Profile name → (description, RPM names).
    pub profiles: BTreeMap<String, (Option<String>, Vec<String>)>,
    pub api_rpms: Vec<String>,
    /// `name-E:V-R.arch` of every RPM the build made for this arch (source
    /// and debuginfo included).
    pub artifacts: Vec<String>,
    /// The Koji tag holding the build's RPMs (not part of the document).
    pub content_tag: String,
    /// The base module the build was built against and that module's
    /// `stream_version` (MBS's `base_module_buildrequires`; not part of the
    /// document): its dependencies are looked up among builds made against
    /// the same base module version or an older one.
    pub base_module: Option<(String, i64)>,
    /// The artifacts of each arch, where the build's own per-arch modulemd
    /// says them (Koji's `modulemd.<arch>.txt`, MBS's final modulemd): they
    /// hold what the arch's tree gets, multilib packages included, which a
    /// filter by arch name would drop. Not part of the document.
    pub arch_artifacts: BTreeMap<String, Vec<String>>,
}

/// `document: modulemd-defaults`, `version: 1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleDefaults {
    pub module: String,
    pub stream: Option<String>,
    /// Stream → default profiles.
    pub profiles: BTreeMap<String, Vec<String>>,
}

impl ModuleStream {
    /// `name:stream:version:context`.
    pub fn nsvc(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.name, self.stream, self.version, self.context
        )
    }

    /// The content tag: as recorded, else MBS's name for it.
    pub fn koji_tag(&self) -> String {
        if self.content_tag.is_empty() {
            format!(
                "module-{}-{}-{}-{}",
                self.name, self.stream, self.version, self.context
            )
        } else {
            self.content_tag.clone()
        }
    }

    /// The artifact NEVRAs split into (name, arch).
    pub fn artifact_names(&self) -> Vec<(String, String)> {
        self.artifacts
            .iter()
            .filter_map(|a| split_nevra(a))
            .collect()
    }
}

/// `(name, arch)` of `name-E:V-R.arch`.
pub fn split_nevra(nevra: &str) -> Option<(String, String)> {
    let (rest, arch) = nevra.rsplit_once('.')?;
    let (rest, _release) = rest.rsplit_once('-')?;
    let (name, _ev) = rest.rsplit_once('-')?;
    Some((name.to_owned(), arch.to_owned()))
}

/// What a YAML stream of module documents holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleIndex {
    pub streams: Vec<ModuleStream>,
    pub defaults: Vec<ModuleDefaults>,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().filter_map(text).collect())
        .unwrap_or_default()
}

fn string_map(y: &Yaml) -> BTreeMap<String, Vec<String>> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((text(k)?, strings(v))))
                .collect()
        })
        .unwrap_or_default()
}

/// Every modulemd v2 and modulemd-defaults v1 document of `yaml`; other
/// documents (translations, obsoletes, packager) are left out. A modulemd
/// document of another version, or without name or stream, is an error.
pub fn parse(yaml: &str) -> Result<ModuleIndex, String> {
    let docs = YamlLoader::load_from_str(yaml).map_err(|e| format!("not YAML: {e}"))?;
    let mut index = ModuleIndex::default();
    for doc in docs {
        let kind = doc["document"].as_str().unwrap_or_default();
        let version = doc["version"].as_i64().unwrap_or(0);
        let data = &doc["data"];
        match (kind, version) {
            ("modulemd", 2) => {
                let field = |k: &str| text(&data[k]).unwrap_or_default();
                let deps = &data["dependencies"][0];
                let profiles = data["profiles"]
                    .as_hash()
                    .map(|h| {
                        h.iter()
                            .filter_map(|(k, v)| {
                                Some((text(k)?, (text(&v["description"]), strings(&v["rpms"]))))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let s = ModuleStream {
                    name: field("name"),
                    stream: field("stream"),
                    version: match &data["version"] {
                        Yaml::Integer(i) => u64::try_from(*i).unwrap_or(0),
                        other => text(other).and_then(|t| t.parse().ok()).unwrap_or(0),
                    },
                    context: field("context"),
                    arch: field("arch"),
                    summary: field("summary"),
                    description: field("description"),
                    license_module: strings(&data["license"]["module"]),
                    license_content: strings(&data["license"]["content"]),
                    requires: string_map(&deps["requires"]),
                    buildrequires: string_map(&deps["buildrequires"]),
                    profiles,
                    api_rpms: strings(&data["api"]["rpms"]),
                    artifacts: strings(&data["artifacts"]["rpms"]),
                    content_tag: String::new(),
                    base_module: None,
                    arch_artifacts: BTreeMap::new(),
                };
                if s.name.is_empty() || s.stream.is_empty() {
                    return Err("a modulemd document without name or stream".into());
                }
                index.streams.push(s);
            }
            ("modulemd", v) => {
                return Err(format!("modulemd version {v} is not supported (only 2)"));
            }
            ("modulemd-defaults", 1) => index.defaults.push(ModuleDefaults {
                module: text(&data["module"]).unwrap_or_default(),
                stream: text(&data["stream"]),
                profiles: string_map(&data["profiles"]),
            }),
            _ => {}
        }
    }
    Ok(index)
}

/// A YAML double-quoted scalar.
fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(out: &mut String, indent: &str, items: &[String]) {
    if items.is_empty() {
        out.push_str(" []\n");
        return;
    }
    out.push('\n');
    for i in items {
        let _ = writeln!(out, "{indent}- {}", q(i));
    }
}

impl ModuleStream {
    /// The modulemd v2 document (`---` … `...`).
    pub fn to_yaml(&self) -> String {
        let mut o = String::new();
        o.push_str("---\ndocument: modulemd\nversion: 2\ndata:\n");
        let _ = writeln!(o, "  name: {}", q(&self.name));
        let _ = writeln!(o, "  stream: {}", q(&self.stream));
        let _ = writeln!(o, "  version: {}", self.version);
        let _ = writeln!(o, "  context: {}", q(&self.context));
        let _ = writeln!(o, "  arch: {}", q(&self.arch));
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_owned()
            } else {
                s.to_owned()
            }
        };
        let _ = writeln!(o, "  summary: {}", q(&or(&self.summary, &self.name)));
        let _ = writeln!(
            o,
            "  description: {}",
            q(&or(&self.description, &self.name))
        );
        o.push_str("  license:\n    module:");
        let module_license = if self.license_module.is_empty() {
            vec!["MIT".to_owned()]
        } else {
            self.license_module.clone()
        };
        list(&mut o, "    ", &module_license);
        if !self.license_content.is_empty() {
            o.push_str("    content:");
            list(&mut o, "    ", &self.license_content);
        }
        if !self.requires.is_empty() || !self.buildrequires.is_empty() {
            o.push_str("  dependencies:\n");
            let mut first = true;
            for (key, map) in [
                ("buildrequires", &self.buildrequires),
                ("requires", &self.requires),
            ] {
                if map.is_empty() {
                    continue;
                }
                let _ = writeln!(o, "  {} {key}:", if first { "-" } else { " " });
                first = false;
                for (m, streams) in map {
                    let _ = write!(o, "      {}:", q(m));
                    list(&mut o, "      ", streams);
                }
            }
        }
        if !self.profiles.is_empty() {
            o.push_str("  profiles:\n");
            for (name, (description, rpms)) in &self.profiles {
                let _ = writeln!(o, "    {}:", q(name));
                if let Some(d) = description {
                    let _ = writeln!(o, "      description: {}", q(d));
                }
                o.push_str("      rpms:");
                list(&mut o, "      ", rpms);
            }
        }
        if !self.api_rpms.is_empty() {
            o.push_str("  api:\n    rpms:");
            list(&mut o, "    ", &self.api_rpms);
        }
        if !self.artifacts.is_empty() {
            o.push_str("  artifacts:\n    rpms:");
            let mut sorted = self.artifacts.clone();
            sorted.sort();
            list(&mut o, "    ", &sorted);
        }
        o.push_str("...\n");
        o
    }
}

impl ModuleDefaults {
    pub fn to_yaml(&self) -> String {
        let mut o = String::new();
        o.push_str("---\ndocument: modulemd-defaults\nversion: 1\ndata:\n");
        let _ = writeln!(o, "  module: {}", q(&self.module));
        if let Some(s) = &self.stream {
            let _ = writeln!(o, "  stream: {}", q(s));
        }
        if !self.profiles.is_empty() {
            o.push_str("  profiles:\n");
            for (stream, profiles) in &self.profiles {
                let _ = write!(o, "    {}:", q(stream));
                list(&mut o, "    ", profiles);
            }
        }
        o.push_str("...\n");
        o
    }
}

/// The `modules.yaml` of a repository: per module name (sorted), its
/// defaults then its streams (by stream, version, context), as libmodulemd
/// dumps an index. Defaults of modules with no stream here are left out.
pub fn modules_yaml(streams: &[&ModuleStream], defaults: &[ModuleDefaults]) -> String {
    let mut by_name: BTreeMap<&str, Vec<&ModuleStream>> = BTreeMap::new();
    for s in streams {
        by_name.entry(s.name.as_str()).or_default().push(s);
    }
    let mut out = String::new();
    for (name, mut list) in by_name {
        for d in defaults.iter().filter(|d| d.module == name) {
            out.push_str(&d.to_yaml());
        }
        list.sort_by(|a, b| {
            (&a.stream, a.version, &a.context).cmp(&(&b.stream, b.version, &b.context))
        });
        for s in list {
            out.push_str(&s.to_yaml());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> ModuleStream {
        ModuleStream {
            name: "demo".into(),
            stream: "1".into(),
            version: 20261129000000,
            context: "c0ffee43".into(),
            arch: "x86_64".into(),
            summary: "Demo: \"quoted\"".into(),
            description: "Two\nlines".into(),
            license_module: vec!["MIT".into()],
            license_content: vec![],
            requires: [
                ("platform".to_owned(), vec!["f40".to_owned()]),
                ("base".to_owned(), vec![]),
            ]
            .into_iter()
            .collect(),
            buildrequires: BTreeMap::new(),
            profiles: [("default".to_owned(), (None, vec!["demo-tool".to_owned()]))]
                .into_iter()
                .collect(),
            api_rpms: vec![],
            artifacts: vec![
                "demo-tool-0:1.0-1.module+c0ffee43.x86_64".into(),
                "demo-tool-0:1.0-1.module+c0ffee43.src".into(),
            ],
            content_tag: String::new(),
            base_module: None,
            arch_artifacts: BTreeMap::new(),
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let s = stream();
        let d = ModuleDefaults {
            module: "demo".into(),
            stream: Some("1".into()),
            profiles: [("1".to_owned(), vec!["default".to_owned()])]
                .into_iter()
                .collect(),
        };
        let yaml = modules_yaml(&[&s], std::slice::from_ref(&d));
        let back = parse(&yaml).unwrap();
        let mut want = s.clone();
        want.artifacts.sort();
        assert_eq!(back.streams, [want]);
        assert_eq!(back.defaults, [d]);
        assert_eq!(
            s.artifact_names(),
            [
                ("demo-tool".to_owned(), "x86_64".to_owned()),
                ("demo-tool".to_owned(), "src".to_owned())
            ]
        );
        assert_eq!(s.nsvc(), "demo:1:20261129000000:c0ffee43");
        assert!(parse("document: modulemd\nversion: 1\ndata: {name: x, stream: y}\n").is_err());
    }
}
