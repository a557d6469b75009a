//! The Koji client: the hub's XML-RPC API over HTTP(S), the records a compose
//! reads from it, and where those builds' files lie in the topdir.
//!
//! What it owns: the wire format ([`xmlrpc`], Koji's dialect of XML-RPC), the
//! calls a compose needs with typed results ([`KojiClient`]), and the topdir
//! layout with the choice between signed and unsigned copies ([`KojiPaths`]).
//! Which builds a compose takes is decided by the hub (`listTaggedRPMS` with
//! `latest` and `inherit`), pinned to one event, so two composes of the same tag
//! at the same event see the same packages.
//!
//! Why it is built this way:
//! * **Blocking HTTP (`ureq`), not async.** A compose makes a handful of large
//!   calls, one after another, from a worker thread; the time goes into the hub's
//!   database and the transfer, not into waiting on many sockets. A blocking
//!   client keeps this part free of an async runtime, so the compose engine and
//!   its tests stay synchronous, and `ureq` with rustls is a small dependency.
//! * **Retries here, not in callers.** Hubs restart, sit behind load balancers
//!   that answer 502/503 during deploys, and drop idle keep-alive connections.
//!   Every call this client makes is a read, so repeating it is safe; transient
//!   failures (connection errors, HTTP 5xx, fault 1014 `ServerOffline`) are
//!   retried with backoff, as Koji's own client does. Other faults are answers
//!   and are never retried. A call that exceeds its timeout is not retried either:
//!   the timeout is the caller's budget for the call.
//! * **No leases, no sessions.** Everything a compose reads is available to
//!   anonymous callers, so the client never logs in and keeps no state between
//!   calls beyond the connection pool.
//! * **Manual conversion from [`Value`], not serde.** Hub answers vary between
//!   Koji versions (fields added, `nil` where a value used to be); each record
//!   reads the fields it needs, tolerating extra ones and `nil`, and names the
//!   field when one it needs is missing.

mod client;
mod error;
mod paths;
mod types;
pub mod xmlrpc;

pub use client::{Call, ClientOptions, KojiClient, KojiError};
pub(crate) use client::{ca_roots, http_agent, is_tls_failure};
pub use paths::{
    ChosenFile, KojiPaths, MissingRpmFile, SigkeyList, allows_unsigned, missing_files_error,
    unsigned_packages_error,
};
pub use types::{Event, InheritanceLink, KojiBuild, KojiRpm, RpmSig, Tag, build_state};
pub use xmlrpc::{Fault, Value, XmlRpcError};

pub(crate) use error::python_tuple;
