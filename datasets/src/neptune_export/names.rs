//! The names neptune-exporter gives directories and files: `sanitize_path_part` with its
//! BLAKE2b digest suffix (neptune-exporter `src/neptune_exporter/utils.py`).

/// neptune-exporter's `sanitize_path_part`: every character that is not alphanumeric, `_` or
/// `-` becomes `_`, then `-` and the 16 hex digits of the BLAKE2b digest (8 bytes) of the
/// original UTF-8 text are appended: `S("acme/vision") = "acme_vision-d9b30734d12af1cd"`.
///
/// "Alphanumeric" is Rust's `char::is_alphanumeric` (Unicode Alphabetic or Numeric); Python's
/// `str.isalnum` differs for a few combining marks (Unicode Other_Alphabetic, e.g. Devanagari
/// vowel signs), which Python replaces and this keeps. The digest is the same either way.
pub fn sanitize_path_part(part: &str) -> String {
    let mut out: String = part
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.push('-');
    for byte in blake2b(part.as_bytes(), 8) {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SIGMA: [[usize; 16]; 12] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
];

#[inline]
fn mix(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

fn compress(h: &mut [u64; 8], block: &[u8; 128], counter: u128, last: bool) {
    let mut m = [0u64; 16];
    for (i, word) in m.iter_mut().enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&block[i * 8..i * 8 + 8]);
        *word = u64::from_le_bytes(bytes);
    }
    let mut v = [0u64; 16];
    v[..8].copy_from_slice(h);
    v[8..].copy_from_slice(&IV);
    v[12] ^= counter as u64;
    v[13] ^= (counter >> 64) as u64;
    if last {
        v[14] = !v[14];
    }
    for s in &SIGMA {
        mix(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
        mix(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        mix(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        mix(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        mix(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
        mix(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
        mix(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
        mix(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for i in 0..8 {
        h[i] ^= v[i] ^ v[i + 8];
    }
}

/// Unkeyed BLAKE2b (RFC 7693) with a digest of `out_len` bytes (1 to 64), as Python's
/// `hashlib.blake2b(data, digest_size=out_len)`.
pub fn blake2b(data: &[u8], out_len: usize) -> Vec<u8> {
    assert!((1..=64).contains(&out_len), "BLAKE2b digests are 1 to 64 bytes");
    let mut h = IV;
    h[0] ^= 0x0101_0000 ^ out_len as u64;
    let blocks = data.len().div_ceil(128).max(1);
    for b in 0..blocks {
        let start = b * 128;
        let end = (start + 128).min(data.len());
        let mut block = [0u8; 128];
        block[..end - start].copy_from_slice(&data[start..end]);
        let last = b + 1 == blocks;
        compress(&mut h, &block, end as u128, last);
    }
    h.iter().flat_map(|w| w.to_le_bytes()).take(out_len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn blake2b_matches_python_hashlib() {
        // hashlib.blake2b(s.encode(), digest_size=8).hexdigest()
        for (input, short) in [
            (String::new(), "e4a6a0577479b2b4"),
            ("abc".to_string(), "d8bb14d833d59559"),
            ("SYN-1".to_string(), "fdc713e16ec118bd"),
            ("x".repeat(128), "901ce374e8e12402"),
            ("y".repeat(129), "7c617a149f5301e6"),
            ("z".repeat(300), "92920681f95ec7f0"),
        ] {
            assert_eq!(hex(&blake2b(input.as_bytes(), 8)), short, "{input:?}");
        }
        assert_eq!(
            hex(&blake2b(b"abc", 64)),
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
    }

    #[test]
    fn sanitized_names_match_the_exporter() {
        assert_eq!(sanitize_path_part("SYN-1"), "SYN-1-fdc713e16ec118bd");
        assert_eq!(
            sanitize_path_part("synthetic-ws/synthetic-v3"),
            "synthetic-ws_synthetic-v3-d7d3eb6a552bc7f0"
        );
        // The sample exports' directory and file names.
        assert_eq!(sanitize_path_part("acme/vision"), "acme_vision-d9b30734d12af1cd");
        assert_eq!(sanitize_path_part("acme/llm"), "acme_llm-902607528de5d98f");
        assert_eq!(sanitize_path_part("VIS-1"), "VIS-1-a3a733719ca31b62");
        assert_eq!(
            sanitize_path_part("61b339ff-2481-44e5-a98b-88dbaa99e079"),
            "61b339ff-2481-44e5-a98b-88dbaa99e079-549a2b465fa76a44"
        );
        assert!(sanitize_path_part("zażółć x").starts_with("zażółć_x-"));
    }
}
