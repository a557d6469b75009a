//! comps.xml, the `group` record of a repository: the one group the original
//! ODCS generates for a compose of requested packages (`odcs-group`, its
//! `comps.xml` template rendered: formats.md §5.6, odcs-api.md §7.2), so
//! `dnf group list` shows it and `dnf group install odcs-group` installs
//! the requested packages.

use super::xml::escape_text;

/// One comps group; its packages are listed without a `type` attribute, as
/// the original's template writes them (comps reads that as mandatory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompsGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    pub default: bool,
    pub uservisible: bool,
    pub packages: Vec<String>,
}

impl CompsGroup {
    /// The group of an ODCS compose of `packages`.
    pub fn odcs(packages: &[String]) -> CompsGroup {
        CompsGroup {
            id: "odcs-group".to_owned(),
            name: "odcs-group".to_owned(),
            description: "ODCS compose default group".to_owned(),
            default: true,
            uservisible: true,
            packages: packages.to_vec(),
        }
    }
}

/// The comps document, byte for byte what the original's template renders.
pub fn comps_xml(groups: &[CompsGroup]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>",
    );
    let text = |v: &str, s: &mut String| escape_text(v, s);
    for g in groups {
        s.push_str("\n  <group>\n    <id>");
        text(&g.id, &mut s);
        s.push_str("</id>\n    <name>");
        text(&g.name, &mut s);
        s.push_str("</name>\n    <description>");
        text(&g.description, &mut s);
        s.push_str("</description>\n    <default>");
        s.push_str(if g.default { "true" } else { "false" });
        s.push_str("</default>\n    <uservisible>");
        s.push_str(if g.uservisible { "true" } else { "false" });
        s.push_str("</uservisible>\n    <packagelist>");
        for p in &g.packages {
            s.push_str("\n        <packagereq>");
            text(p, &mut s);
            s.push_str("</packagereq>");
        }
        s.push_str("\n    </packagelist>\n  </group>");
    }
    s.push_str("\n</comps>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_odcs_group_renders_as_the_originals_template() {
        // jinja2 3.1's rendering of the original's COMPS_TEMPLATE
        assert_eq!(
            comps_xml(&[CompsGroup::odcs(&["ed".into(), "a&b".into()])]),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n  <group>\n    <id>odcs-group</id>\n    <name>odcs-group</name>\n    <description>ODCS compose default group</description>\n    <default>true</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n        <packagereq>ed</packagereq>\n        <packagereq>a&amp;b</packagereq>\n    </packagelist>\n  </group>\n</comps>\n"
        );
    }
}
