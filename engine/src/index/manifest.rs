//! The manifest of a project index: what the index was computed from (every source file's
//! identity), what it holds (each table's rows, attribute counts and series), and where.
//!
//! The manifest is the index's commit point: every other file of the index is written under
//! a name nothing else uses, then the manifest is written beside its final name and renamed
//! over it. A reader sees the old index or the new one, never a mix.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// The version of the index's layout; an index of another version is rebuilt.
pub(crate) const FORMAT: u32 = 3;

/// The manifest's file name in the index directory.
pub(crate) const MANIFEST: &str = "manifest.json";

/// What an index was built from and what it holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`FORMAT`] of the writer.
    pub format: u32,
    /// The engine version that wrote it (for people; not checked).
    pub engine: String,
    /// Incremented by every build; names the files it writes.
    pub generation: u64,
    pub tables: Vec<TableEntry>,
    /// Every series file, with the file of its stored summary state (a native project).
    pub series: Vec<SeriesEntry>,
    /// What the project is when it is not in the native layout (`Neptune 2.x export of
    /// acme/vision`, `MLflow SQLite store`).
    #[serde(default)]
    pub source: Option<String>,
    /// The units of a foreign source, in the order their objects are numbered.
    #[serde(default)]
    pub units: Vec<UnitEntry>,
}

/// One unit of a foreign source (a run of an export, a store).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct UnitEntry {
    pub label: String,
    /// The files it was read from.
    pub files: Vec<FileIdentity>,
    /// The generation whose state files hold its summaries.
    pub segment: u64,
    /// Its objects, by table, in the order of the tables' rows.
    pub rows: Vec<(String, usize)>,
}

/// One object table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TableEntry {
    /// `runs`, `models`, `model_versions` or `experiments`.
    pub table: String,
    pub rows: usize,
    /// The table's files in the project, in the order their rows are numbered (none for a
    /// foreign source, whose units say where rows come from).
    pub files: Vec<ObjectFileEntry>,
    /// Every column after `sys/id`: attributes, then series summaries.
    pub columns: Vec<ColumnEntry>,
    /// The pack holding `sys/id`, every column and the default order (`nql:order`).
    pub pack: String,
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ColumnEntry {
    /// Its name in the table and the pack (`params/lr:float`, `max(val/loss:floatSeries)`).
    pub name: String,
    pub path: String,
    /// The NQL type.
    #[serde(rename = "type")]
    pub ty: String,
    /// For a float series summary other than `last`: the aggregate.
    pub aggregate: Option<String>,
    /// The Arrow type, as Arrow prints it.
    pub data_type: String,
    /// How many objects have the attribute.
    pub count: usize,
}

/// One object file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ObjectFileEntry {
    pub source: FileIdentity,
    pub rows: usize,
}

/// One series file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SeriesEntry {
    pub source: FileIdentity,
    /// `float_series` or `string_series`.
    pub table: String,
    /// Rows of the file (points, nulls included).
    pub rows: u64,
    /// The state file of the file's summaries.
    pub state: String,
}

/// How a source file is recognized: its path in the project, size, modification time and
/// a hash of its Parquet footer. A file whose size and time match is taken as unchanged; one
/// whose time differs (a copy, a `touch`) but whose size and footer match is unchanged too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileIdentity {
    /// Relative to the project directory, with `/` separators.
    pub path: String,
    pub size: u64,
    /// Nanoseconds since the epoch.
    pub modified: i128,
    /// xxHash64 of the footer (metadata and its length), in hex.
    pub footer: String,
}

/// The state file of generation `g` of a foreign source's units, for `float` or `string`
/// series.
pub(crate) fn segment_file(g: u64, kind: &str) -> String {
    format!("state/{g}-{kind}.pack")
}

/// The size and modification time of a file.
pub(crate) fn stat(file: &Path) -> std::io::Result<(u64, i128)> {
    let metadata = std::fs::metadata(file)?;
    let modified = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    Ok((metadata.len(), modified))
}

/// The xxHash64 of a Parquet file's footer (its last `8 + metadata length` bytes), or for
/// any other file, of its content (of its first and last MiB when it is larger than 4 MiB).
pub(crate) fn footer_hash(file: &Path) -> std::io::Result<String> {
    let mut head = [0u8; 4];
    let is_parquet = {
        use std::io::Read;
        let mut f = std::fs::File::open(file)?;
        f.read(&mut head)? == 4 && &head == b"PAR1"
    };
    if !is_parquet {
        return content_hash(file);
    }
    parquet_footer_hash(file)
}

fn content_hash(file: &Path) -> std::io::Result<String> {
    use std::hash::Hasher;
    use std::io::{Read, Seek, SeekFrom};
    const MIB: u64 = 1 << 20;
    let mut f = std::fs::File::open(file)?;
    let size = f.seek(SeekFrom::End(0))?;
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    let mut buf = Vec::new();
    if size <= 4 * MIB {
        f.seek(SeekFrom::Start(0))?;
        f.read_to_end(&mut buf)?;
        hasher.write(&buf);
    } else {
        for start in [0, size - MIB] {
            buf.clear();
            f.seek(SeekFrom::Start(start))?;
            (&mut f).take(MIB).read_to_end(&mut buf)?;
            hasher.write(&buf);
        }
        hasher.write(&size.to_le_bytes());
    }
    Ok(format!("{:016x}", hasher.finish()))
}

fn parquet_footer_hash(file: &Path) -> std::io::Result<String> {
    use std::hash::Hasher;
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file)?;
    let size = f.seek(SeekFrom::End(0))?;
    let mut tail = [0u8; 8];
    if size < 8 {
        return Ok(String::from("short"));
    }
    f.seek(SeekFrom::End(-8))?;
    f.read_exact(&mut tail)?;
    let length = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
    let start = size.saturating_sub(8 + length);
    f.seek(SeekFrom::Start(start))?;
    let mut footer = Vec::with_capacity((size - start) as usize);
    f.take(size - start).read_to_end(&mut footer)?;
    let mut hasher = twox_hash::XxHash64::with_seed(0);
    hasher.write(&footer);
    Ok(format!("{:016x}", hasher.finish()))
}

impl FileIdentity {
    /// The identity of `file`, at `path` in the project.
    pub fn of(file: &Path, path: String) -> std::io::Result<FileIdentity> {
        let (size, modified) = stat(file)?;
        Ok(FileIdentity {
            path,
            size,
            modified,
            footer: footer_hash(file)?,
        })
    }

    /// Whether `file` is still the file this identity was taken of: the same size and time,
    /// or the same size and footer.
    pub fn matches(&self, file: &Path) -> bool {
        match stat(file) {
            Ok((size, modified)) if size == self.size => {
                modified == self.modified || footer_hash(file).is_ok_and(|h| h == self.footer)
            }
            _ => false,
        }
    }
}

impl Manifest {
    /// Reads the manifest in `dir`: `None` when there is none, or one of another format
    /// (which is rebuilt), or one that does not parse (a manifest is never torn, so this is
    /// a damaged index, rebuilt as well).
    pub fn read(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read(dir.join(MANIFEST)).ok()?;
        let manifest: Manifest = serde_json::from_slice(&text).ok()?;
        (manifest.format == FORMAT).then_some(manifest)
    }

    /// Writes the manifest into `dir`: beside its name first, then renamed over it.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let temporary = dir.join(format!(".tmp-{}-{MANIFEST}", std::process::id()));
        std::fs::write(&temporary, text)?;
        std::fs::File::open(&temporary)?.sync_all()?;
        std::fs::rename(&temporary, dir.join(MANIFEST))
    }

    /// Every file of the index this manifest refers to.
    pub fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tables.iter().map(|t| t.pack.clone()).collect();
        out.extend(self.series.iter().map(|s| s.state.clone()));
        let mut segments: Vec<u64> = self.units.iter().map(|u| u.segment).collect();
        segments.sort_unstable();
        segments.dedup();
        for g in segments {
            out.push(segment_file(g, "float"));
            out.push(segment_file(g, "string"));
        }
        out
    }
}
