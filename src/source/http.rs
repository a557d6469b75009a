//! What the JSON-over-HTTP clients of other services (MBS, Pulp) share:
//! one exchange's failure, retried as the Koji client retries (connection
//! failures and 5xx; never a timeout or a TLS refusal), and query escaping.

use tracing::warn;

use super::koji::ClientOptions;
use super::koji::is_tls_failure;

/// Why one exchange failed.
pub(crate) enum Failure {
    Transport(ureq::Error),
    /// A status the caller does not take, with the service's message.
    Status(u16, String),
}

impl Failure {
    fn is_transient(&self) -> bool {
        match self {
            Failure::Transport(ureq::Error::Timeout(_)) => false,
            Failure::Transport(e) => !is_tls_failure(e),
            Failure::Status(s, _) => *s >= 500,
        }
    }
}

/// The status and text of an answer, read up to `limit` bytes.
pub(crate) fn answer_text(
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<(u16, String), Failure> {
    let mut resp = answer.map_err(Failure::Transport)?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(Failure::Transport)?;
    Ok((status, text))
}

/// Run `once` until it succeeds, fails for good, or has been retried
/// `options.max_retries` times; `service` names the peer in the warnings.
/// A final failure comes back with the number of attempts made.
pub(crate) fn with_retries<T>(
    options: &ClientOptions,
    service: &str,
    url: &str,
    mut once: impl FnMut() -> Result<T, Failure>,
) -> Result<T, (Failure, u32)> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let failure = match once() {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        if failure.is_transient() && attempts <= options.max_retries {
            let wait = options.backoff(attempts);
            warn!(
                attempt = attempts,
                "{service} request failed, retrying in {wait:?}: {url}"
            );
            std::thread::sleep(wait);
            continue;
        }
        return Err((failure, attempts));
    }
}

/// `v` escaped for a URL's query (unreserved characters and `:` kept).
pub(crate) fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
