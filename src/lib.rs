//! ODCS, the On Demand Compose Service: temporary RPM repositories ("composes")
//! from Koji builds, served over HTTP and removed when they expire.
//!
//! The parts follow `DESIGN.md`; dependencies point down this list:
//! `compose` → `source`/`repodata` → `rpm`. Parts of the design not listed here
//! (`store`, `worker`, `api`, `auth`, `events`, `config`) are not built
//! yet; they arrive with the issues that need them (#3, #4).

pub mod api;
pub mod auth;
pub mod compose;
pub mod config;
pub mod date;
pub mod domain;
pub mod events;
pub mod fast_hash;
pub mod gather;
pub mod modulemd;
pub mod repodata;
pub mod rpm;
pub mod service;
pub mod source;
pub mod store;
pub mod throttle;
pub mod worker;
