//! Turning a request's source into candidate packages: a Koji hub (XML-RPC plus
//! the topdir on disk) or a local store laid out like a Koji topdir.
//!
//! Nothing here knows about HTTP routing or the database; the compose engine asks
//! a source for the RPMs of a tag (at a pinned event) or of given builds, and gets
//! back file paths it can hardlink and records it can put in the compose's
//! manifest.

pub mod koji;
