//! Hash sets and maps for the hot paths of reading a tag's headers and
//! building its solver pool, hashed with foldhash (already built for
//! sqlx's hashbrown) instead of std's SipHash: SipHash was 2–3% of a cold
//! compose of 97,000 candidates in perf (README, "A cold compose"). The
//! seed is still random per process.

pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
