use std::io::Write;

/// How metadata files are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// zstd, as createrepo_c ≥ 1.0 writes by default.
    Zstd { level: i32 },
    /// gzip, as createrepo_c 0.17 (Debian, RHEL 8) writes by default.
    Gzip { level: u32 },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Zstd { level: 3 }
    }
}

impl Compression {
    pub fn zstd() -> Self {
        Compression::Zstd { level: 3 }
    }

    pub fn gzip() -> Self {
        Compression::Gzip { level: 6 }
    }

    /// Parse `zstd`, `gzip`/`gz`, optionally with a level (`zstd:19`, `gzip:9`).
    pub fn parse(s: &str) -> Result<Compression, String> {
        let (kind, level) = match s.split_once(':') {
            Some((k, l)) => (
                k,
                Some(
                    l.parse::<i32>()
                        .map_err(|_| format!("invalid compression level {l:?}"))?,
                ),
            ),
            None => (s, None),
        };
        match kind {
            "zstd" | "zst" => {
                let level = level.unwrap_or(3);
                if !(1..=22).contains(&level) {
                    return Err(format!("zstd level must be 1..=22, got {level}"));
                }
                Ok(Compression::Zstd { level })
            }
            "gzip" | "gz" => {
                let level = level.unwrap_or(6);
                if !(0..=9).contains(&level) {
                    return Err(format!("gzip level must be 0..=9, got {level}"));
                }
                Ok(Compression::Gzip {
                    level: level as u32,
                })
            }
            other => Err(format!(
                "unknown compression {other:?} (expected zstd or gzip)"
            )),
        }
    }

    /// File name suffix (`.zst`, `.gz`).
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Zstd { .. } => ".zst",
            Compression::Gzip { .. } => ".gz",
        }
    }

    /// Compress `data` as one complete, independent frame (zstd) or member (gzip).
    pub fn compress_chunk(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::Zstd { level } => zstd::bulk::compress(data, level),
            Compression::Gzip { level } => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 4),
                    flate2::Compression::new(level),
                );
                enc.write_all(data)?;
                enc.finish()
            }
        }
    }
}

/// Decompress a whole file of any kind we or createrepo_c write (zstd, gzip,
/// or plain), recognised by its magic bytes. Concatenated frames/members are read
/// to the end.
pub fn decompress_all(data: &[u8]) -> std::io::Result<Vec<u8>> {
    decompress_limited(data, u64::MAX)
}

/// [`decompress_all`], refusing data that decompresses to more than `max`
/// bytes (a small file from elsewhere may expand without bound).
pub fn decompress_limited(data: &[u8], max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(1 << 26));
    let limit = max.saturating_add(1);
    if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::stream::read::Decoder::new(data)?
            .take(limit)
            .read_to_end(&mut out)?;
    } else if data.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(data)
            .take(limit)
            .read_to_end(&mut out)?;
    } else {
        out.extend_from_slice(data);
    }
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "decompresses to more than {max} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decompression_stops_at_the_limit() {
        let big = vec![b'x'; 1 << 20];
        for c in [Compression::zstd(), Compression::gzip()] {
            let small = c.compress_chunk(&big).unwrap();
            assert!(small.len() < 10_000);
            assert_eq!(decompress_limited(&small, 1 << 20).unwrap().len(), 1 << 20);
            let err = decompress_limited(&small, 1000).unwrap_err();
            assert!(err.to_string().contains("more than 1000 bytes"), "{err}");
        }
        assert!(decompress_limited(&big, 10).is_err());
    }

    #[test]
    fn concatenated_chunks_decompress_to_the_concatenated_text() {
        for c in [Compression::zstd(), Compression::gzip()] {
            let mut file = c.compress_chunk(b"<a>first</a>\n").unwrap();
            file.extend(c.compress_chunk(b"<b>second</b>\n").unwrap());
            assert_eq!(
                decompress_all(&file).unwrap(),
                b"<a>first</a>\n<b>second</b>\n",
                "{c:?}"
            );
        }
    }

    #[test]
    fn compression_names_parse_with_levels() {
        assert_eq!(
            Compression::parse("zstd:19"),
            Ok(Compression::Zstd { level: 19 })
        );
        assert_eq!(Compression::parse("gz"), Ok(Compression::Gzip { level: 6 }));
        assert!(
            Compression::parse("xz")
                .unwrap_err()
                .contains("unknown compression")
        );
        assert!(Compression::parse("zstd:99").is_err());
    }
}
