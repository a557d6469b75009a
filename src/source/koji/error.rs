//! [`KojiError`]: what can go wrong talking to a hub or finding its files,
//! with Pungi's message for RPMs without an allowed copy (and Python's
//! spelling of the sigkeys in it). Below both the client and the topdir
//! paths, so neither imports the other.

use super::xmlrpc::XmlRpcError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KojiError {
    /// The hub answered with a fault.
    #[error("koji hub {url}: {method}: fault {code}: {message}")]
    Fault {
        url: String,
        method: String,
        code: i64,
        message: String,
    },
    #[error("koji hub {url}: {method}: timed out after {seconds} seconds")]
    Timeout {
        url: String,
        method: String,
        seconds: f64,
    },
    /// An HTTP status other than 200.
    #[error("koji hub {url}: {method}: HTTP status {status} (after {attempts} attempt(s))")]
    Http {
        url: String,
        method: String,
        status: u16,
        attempts: u32,
    },
    /// The hub could not be reached, or the connection broke.
    #[error("koji hub {url}: {method}: {source} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        method: String,
        attempts: u32,
        #[source]
        source: ureq::Error,
    },
    /// The answer was not XML-RPC, or not the shape the call returns.
    #[error("koji hub {url}: {method}: invalid response: {source}")]
    Response {
        url: String,
        method: String,
        #[source]
        source: XmlRpcError,
    },
    /// RPMs without a copy the sigkeys allow (Pungi's message, formats.md
    /// §1.8), then the files looked for and, when the topdir itself looks
    /// wrong, that.
    #[error(
        "RPM(s) not found for sigs: {}. Check log for details. Unsigned packages:\n{}{}",
        python_tuple(.sigkeys),
        .nvrs.join("\n"),
        missing_detail(.looked_for, *.more_files, .topdir_problem.as_deref())
    )]
    UnsignedPackages {
        sigkeys: Vec<Option<String>>,
        /// Sorted, unique N-V-Rs.
        nvrs: Vec<String>,
        /// The first files looked for, and how many more there were.
        looked_for: Vec<std::path::PathBuf>,
        more_files: usize,
        /// A topdir with no `packages/` directory: not a Koji topdir here.
        topdir_problem: Option<std::path::PathBuf>,
    },
    /// The CA bundle to check the hub's certificate with is unusable.
    #[error("koji CA bundle {path}: {message}")]
    CaBundle {
        path: std::path::PathBuf,
        message: String,
    },
}

/// What [`KojiError::UnsignedPackages`] adds to Pungi's message.
fn missing_detail(
    looked_for: &[std::path::PathBuf],
    more: usize,
    topdir: Option<&std::path::Path>,
) -> String {
    let mut out = String::new();
    if !looked_for.is_empty() {
        let files: Vec<String> = looked_for.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!("\nLooked for: {}", files.join(", ")));
        if more > 0 {
            out.push_str(&format!(" (and {more} more)"));
        }
    }
    if let Some(t) = topdir {
        out.push_str(&format!(
            "\nThe Koji topdir {} has no packages/ directory: is it mounted on this host, and is the configured topdir right?",
            t.display()
        ));
    }
    out
}

impl KojiError {
    /// The fault code, when the hub answered with a fault.
    pub fn fault_code(&self) -> Option<i64> {
        match self {
            KojiError::Fault { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Python's `repr` of a tuple of sigkeys: `('a15b79cc', None)`, `('a15b79cc',)`, `()`.
pub(crate) fn python_tuple(sigkeys: &[Option<String>]) -> String {
    let items: Vec<String> = sigkeys
        .iter()
        .map(|k| match k {
            None => "None".to_owned(),
            Some(s) => python_str(s),
        })
        .collect();
    match items.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
