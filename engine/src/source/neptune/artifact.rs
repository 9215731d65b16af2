//! The hash of a Neptune 2.x artifact, recomputed from the `files_list.json` the exporter
//! downloads, exactly as neptune-client 1.14 computes it
//! (`neptune/internal/artifacts/file_hasher.py`, `FileHasher.get_artifact_hash`: the variant
//! with metadata).
//!
//! For every file, sorted by `filePath`: `#`, the path's length in characters (4 bytes, big
//! endian) and the path; `#` and `fileHash`; `#` and `size` (8 bytes, big endian; nothing when
//! null); `#`, the length of `type` (4 bytes) and `type`; `#`; then for every metadata entry
//! sorted by key: `|`, the key's length (4 bytes) and the key, `|`, the value's length and the
//! value. All of it through SHA-256, as lowercase hex. Metadata values are turned into text as
//! the client's `str()` does (`True`, `None`, `3`); a key given twice keeps its last value.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::LoadError;

/// The artifact hash of a `files_list.json` file; `Ok(None)` when the file is not there (it
/// was not downloaded).
pub(super) fn artifact_hash_of_file(path: &Path) -> Result<Option<String>, LoadError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LoadError::Io {
                file: path.to_path_buf(),
                source,
            });
        }
    };
    artifact_hash(&text)
        .map(Some)
        .map_err(|problem| LoadError::Source {
            path: path.to_path_buf(),
            problem: format!("an artifact's files list: {problem}"),
        })
}

/// The artifact hash of the contents of a `files_list.json`.
pub(super) fn artifact_hash(json: &[u8]) -> Result<String, String> {
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let entries = value.as_array().ok_or("not a JSON list of files")?;
    struct Entry {
        path: String,
        hash: String,
        ty: String,
        size: Option<u64>,
        metadata: BTreeMap<String, String>,
    }
    let mut files = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let text = |key: &str| -> Result<String, String> {
            e.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("file {i}: `{key}` is missing or not a string"))
        };
        let size = match e.get("size") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| format!("file {i}: `size` is not a non-negative integer"))?,
            ),
        };
        let mut metadata = BTreeMap::new();
        match e.get("metadata") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                for item in items {
                    metadata.insert(python_str(item.get("key")), python_str(item.get("value")));
                }
            }
            Some(_) => return Err(format!("file {i}: `metadata` is not a list")),
        }
        files.push(Entry {
            path: text("filePath")?,
            hash: text("fileHash")?,
            ty: text("type")?,
            size,
            metadata,
        });
    }
    // Python sorts strings by code point, which is the byte order of UTF-8; the sort is stable.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut data = Vec::new();
    let chars = |s: &str| (s.chars().count() as u32).to_be_bytes();
    for f in &files {
        data.push(b'#');
        data.extend(chars(&f.path));
        data.extend(f.path.as_bytes());
        data.push(b'#');
        data.extend(f.hash.as_bytes());
        data.push(b'#');
        if let Some(size) = f.size {
            data.extend(size.to_be_bytes());
        }
        data.push(b'#');
        data.extend(chars(&f.ty));
        data.extend(f.ty.as_bytes());
        data.push(b'#');
        for (k, v) in &f.metadata {
            data.push(b'|');
            data.extend(chars(k));
            data.extend(k.as_bytes());
            data.push(b'|');
            data.extend(chars(v));
            data.extend(v.as_bytes());
        }
    }
    Ok(sha256(&data).iter().map(|b| format!("{b:02x}")).collect())
}

/// Python's `f"{value}"` of a JSON value as the client sees it.
fn python_str(v: Option<&serde_json::Value>) -> String {
    use serde_json::Value::*;
    match v {
        None | Some(Null) => "None".into(),
        Some(String(s)) => s.clone(),
        Some(Bool(true)) => "True".into(),
        Some(Bool(false)) => "False".into(),
        Some(other) => other.to_string(),
    }
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (FIPS 180-4).
pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend(((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_matches_python_hashlib() {
        for (input, digest) in [
            (
                String::new(),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                "abc".into(),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                "a".repeat(55),
                "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            ),
            (
                "a".repeat(56),
                "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            ),
            (
                "a".repeat(64),
                "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            ),
            (
                "b".repeat(1000),
                "f6f118e120e52be0bd0cfdf2794cd12c07686cc871235ac2f11459378e6d235b",
            ),
        ] {
            assert_eq!(hex(&sha256(input.as_bytes())), digest, "{} bytes", input.len());
        }
    }

    #[test]
    fn a_files_list_hashes_as_the_client_does() {
        // The sample export's VIS-3 `datasets/train` (truth.json gives the hash).
        let json = br#"[{"filePath": "train.csv", "fileHash": "ca1cace1b07a0c873412639a72e63a942efeb1c3", "type": "Local", "size": 13, "metadata": [{"key": "file_path", "value": "file:///home/alice/data/train.csv"}, {"key": "last_modified", "value": "2025-02-27 10:15:00"}]}]"#;
        let hash = artifact_hash(json).unwrap();
        assert_eq!(hash.len(), 64);
        // Metadata order in the file does not matter; it is sorted by key.
        let swapped = br#"[{"filePath": "train.csv", "fileHash": "ca1cace1b07a0c873412639a72e63a942efeb1c3", "type": "Local", "size": 13, "metadata": [{"key": "last_modified", "value": "2025-02-27 10:15:00"}, {"key": "file_path", "value": "file:///home/alice/data/train.csv"}]}]"#;
        assert_eq!(artifact_hash(swapped).unwrap(), hash);
        assert!(artifact_hash(b"{").is_err());
        assert!(artifact_hash(br#"[{"filePath": 3}]"#).is_err());
        assert_eq!(artifact_hash(b"[]").unwrap(), hex(&sha256(b"")));
    }
}
