//! A table of the index as one file of columns: each column an Arrow IPC stream of its
//! own, laid end to end, and at the end a footer naming each column's byte range.
//!
//! ```text
//! [column 0 as an IPC stream] [padding] [column 1] ... [footer: JSON] [footer length: u64 LE] NQLPACK1
//! ```
//!
//! A pack is mapped into memory, not read: a query touches the pages of the columns it needs
//! and nothing else, without copying or decoding them (IPC buffers are the arrays' own, and
//! every stream starts 8-aligned), which is what makes a fresh process answer in
//! milliseconds. The mapping lasts while a project is open, so an index rebuilt by another
//! process meanwhile does not pull it away.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamDecoder;
use datafusion::arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};

use crate::error::LoadError;

const MAGIC: &[u8; 8] = b"NQLPACK1";

/// Where column streams start: at multiples of this in the file.
const ALIGNMENT: u64 = 64;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Footer {
    /// Column name → (offset, length) of its IPC stream.
    columns: Vec<(String, u64, u64)>,
    rows: usize,
}

/// Writes a pack: columns one after the other, then the footer; the file is written beside
/// its final name and renamed into place by [`PackWriter::finish`].
pub(crate) struct PackWriter {
    path: PathBuf,
    temporary: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    footer: Footer,
    offset: u64,
}

fn error(path: &Path, e: impl std::fmt::Display) -> LoadError {
    super::index_error(path, format!("cannot write: {e}"))
}

impl PackWriter {
    /// Starts the pack of a table of `rows` rows at `path`.
    pub fn create(path: &Path, rows: usize) -> Result<PackWriter, LoadError> {
        let temporary = path.with_file_name(format!(
            ".tmp-{}-{}",
            std::process::id(),
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let file = std::fs::File::create(&temporary).map_err(|e| error(path, e))?;
        Ok(PackWriter {
            path: path.to_path_buf(),
            temporary,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            footer: Footer {
                columns: Vec::new(),
                rows,
            },
            offset: 0,
        })
    }

    /// Appends a nullable column.
    pub fn add(&mut self, name: &str, array: &ArrayRef) -> Result<(), LoadError> {
        self.add_column(name, true, array)
    }

    /// Appends a column, nullable or not as its field is (what [`Pack::read_field`] gives back).
    pub fn add_column(&mut self, name: &str, nullable: bool, array: &ArrayRef) -> Result<(), LoadError> {
        // A view array keeps every buffer of whatever it was sliced or concatenated from, and
        // IPC writes them all: written as is, a table rewritten from its last version would
        // double in size with every build.
        let compacted: ArrayRef;
        let array = match array.data_type() {
            datafusion::arrow::datatypes::DataType::Utf8View => {
                compacted = Arc::new(datafusion::arrow::array::AsArray::as_string_view(array.as_ref()).gc());
                &compacted
            }
            _ => array,
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            "v",
            array.data_type().clone(),
            nullable,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::clone(array)])
            .map_err(|e| error(&self.path, e))?;
        let mut bytes = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut bytes, &schema).map_err(|e| error(&self.path, e))?;
            writer.write(&batch).map_err(|e| error(&self.path, e))?;
            writer.finish().map_err(|e| error(&self.path, e))?;
        }
        // Every stream starts 64-aligned, as Arrow lays out buffers: a mapped column is then
        // used where it lies, never copied to align it.
        let padding = self.offset.next_multiple_of(ALIGNMENT) - self.offset;
        self.file
            .write_all(&[0u8; ALIGNMENT as usize][..padding as usize])
            .map_err(|e| error(&self.path, e))?;
        self.offset += padding;
        self.file.write_all(&bytes).map_err(|e| error(&self.path, e))?;
        self.footer
            .columns
            .push((name.to_string(), self.offset, bytes.len() as u64));
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Writes the footer, syncs and renames the pack into place.
    pub fn finish(mut self) -> Result<(), LoadError> {
        let footer = serde_json::to_vec(&self.footer).map_err(|e| error(&self.path, e))?;
        self.file.write_all(&footer).map_err(|e| error(&self.path, e))?;
        self.file
            .write_all(&(footer.len() as u64).to_le_bytes())
            .map_err(|e| error(&self.path, e))?;
        self.file.write_all(MAGIC).map_err(|e| error(&self.path, e))?;
        self.file.flush().map_err(|e| error(&self.path, e))?;
        self.file.get_ref().sync_all().map_err(|e| error(&self.path, e))?;
        std::fs::rename(&self.temporary, &self.path).map_err(|e| error(&self.path, e))
    }
}

impl Drop for PackWriter {
    /// A pack left unfinished (a failed build) leaves no temporary file behind; once
    /// finished, the temporary is the pack and this finds nothing to remove.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.temporary);
    }
}

/// An open pack.
#[derive(Debug)]
pub(crate) struct Pack {
    path: PathBuf,
    /// The whole file, mapped.
    data: Buffer,
    columns: HashMap<String, (u64, u64)>,
    /// Column names in the order they were written.
    names: Vec<String>,
    rows: usize,
}

impl Pack {
    /// Opens the pack at `path`, reading its footer.
    pub fn open(path: &Path) -> Result<Pack, LoadError> {
        let damaged = |problem: String| {
            super::index_error(
                path,
                format!("{problem} (a damaged index: rebuild it with `nql index --rebuild`)"),
            )
        };
        let io = |e: std::io::Error| LoadError::Io {
            file: path.to_path_buf(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size < 16 {
            return Err(damaged("too short for a pack".into()));
        }
        // SAFETY: a pack is never changed in place: every index file is written under a
        // name of its own and renamed into place, and a build removes files (which keeps a
        // mapping valid) but never truncates or rewrites one. (A user editing a pack by hand
        // while a query reads it is beyond what an index can guard against.)
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        let data = Buffer::from(bytes::Bytes::from_owner(map));
        let size = data.len() as u64;
        let tail = &data.as_slice()[size as usize - 16..];
        if &tail[8..] != MAGIC {
            return Err(damaged("not a pack of columns".into()));
        }
        let length = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
        if length > size - 16 {
            return Err(damaged("a footer longer than the file".into()));
        }
        let footer = &data.as_slice()[(size - 16 - length) as usize..(size - 16) as usize];
        let footer: Footer =
            serde_json::from_slice(footer).map_err(|e| damaged(format!("an unreadable footer: {e}")))?;
        if let Some((name, _, _)) = footer
            .columns
            .iter()
            .find(|(_, o, l)| o.saturating_add(*l) > size - 16 - length)
        {
            return Err(damaged(format!("column `{name}` lies outside the file")));
        }
        Ok(Pack {
            path: path.to_path_buf(),
            data,
            names: footer.columns.iter().map(|(n, _, _)| n.clone()).collect(),
            columns: footer.columns.into_iter().map(|(n, o, l)| (n, (o, l))).collect(),
            rows: footer.rows,
        })
    }

    /// Rows of the table.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Reads the column `name`.
    pub fn read(&self, name: &str) -> Result<ArrayRef, LoadError> {
        Ok(self.read_field(name)?.1)
    }

    /// Reads the column `name` with its field (named `name`, nullable as written).
    pub fn read_field(&self, name: &str) -> Result<(Field, ArrayRef), LoadError> {
        let damaged = |problem: String| {
            super::index_error(
                &self.path,
                format!("{problem} (a damaged index: rebuild it with `nql index --rebuild`)"),
            )
        };
        let &(offset, length) = self
            .columns
            .get(name)
            .ok_or_else(|| damaged(format!("no column `{name}`")))?;
        let mut buffer = self.data.slice_with_length(offset as usize, length as usize);
        let mut decoder = StreamDecoder::new();
        let mut batch = None;
        while !buffer.is_empty() {
            if let Some(b) = decoder
                .decode(&mut buffer)
                .map_err(|e| damaged(format!("column `{name}`: {e}")))?
            {
                batch = Some(b);
            }
        }
        let batch = batch.ok_or_else(|| damaged(format!("column `{name}` holds no data")))?;
        if batch.num_columns() != 1 || batch.num_rows() != self.rows {
            return Err(damaged(format!(
                "column `{name}` has {} rows, not {}",
                batch.num_rows(),
                self.rows
            )));
        }
        let field = batch.schema().field(0).clone().with_name(name);
        Ok((field, Arc::clone(batch.column(0))))
    }

    /// Reads the columns `names` (every column, in the order written, when `None`) as a batch.
    pub fn read_batch(&self, names: Option<&[&str]>) -> Result<RecordBatch, LoadError> {
        let names: Vec<&str> = match names {
            Some(names) => names.to_vec(),
            None => self.names.iter().map(String::as_str).collect(),
        };
        let (fields, columns): (Vec<Field>, Vec<ArrayRef>) = names
            .iter()
            .map(|n| self.read_field(n))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .unzip();
        let options = datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(self.rows));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
            .map_err(|e| super::index_error(&self.path, format!("a damaged index: {e}")))
    }
}

/// Writes `batch` as a pack at `path`, each column under its field's name.
pub(crate) fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), LoadError> {
    let mut writer = PackWriter::create(path, batch.num_rows())?;
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        writer.add_column(field.name(), field.is_nullable(), column)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, ListBuilder, StringBuilder, StringViewArray};

    #[test]
    fn columns_come_back_as_written_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pack");
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.5), None, Some(f64::NAN)]));
        let strings: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("a"),
            Some("a long string of forty bytes or so, ok"),
            None,
        ]));
        let mut lists = ListBuilder::new(StringBuilder::new());
        lists.values().append_value("x");
        lists.append(true);
        lists.append(false);
        lists.append(true);
        let lists: ArrayRef = Arc::new(lists.finish());
        let mut w = PackWriter::create(&path, 3).unwrap();
        for (name, a) in [("f", &floats), ("s", &strings), ("l", &lists)] {
            w.add(name, a).unwrap();
        }
        w.finish().unwrap();
        let pack = Pack::open(&path).unwrap();
        assert_eq!(pack.rows(), 3);
        assert_eq!(pack.read("s").unwrap().as_ref(), strings.as_ref());
        assert_eq!(pack.read("l").unwrap().as_ref(), lists.as_ref());
        let f = pack.read("f").unwrap();
        assert_eq!(f.len(), 3);
        // Columns are used where they lie in the mapped file, never copied.
        let mapped = pack.data.as_slice().as_ptr_range();
        for name in ["f", "s", "l"] {
            let data = pack.read(name).unwrap().to_data();
            let values = data.buffers().last().unwrap().as_ptr();
            assert!(mapped.contains(&values), "column {name} was copied");
        }
        assert!(
            pack.read("nope")
                .unwrap_err()
                .to_string()
                .contains("no column `nope`")
        );
        // A slice of a view array is written as the slice, not with its whole buffers.
        let long: Vec<String> = (0..10_000)
            .map(|i| format!("a string longer than twelve bytes {i}"))
            .collect();
        let big: ArrayRef = Arc::new(StringViewArray::from_iter_values(long.iter()));
        let sliced = big.slice(10, 2);
        let small = dir.path().join("small.pack");
        let mut w = PackWriter::create(&small, 2).unwrap();
        w.add("s", &sliced).unwrap();
        w.finish().unwrap();
        assert!(std::fs::metadata(&small).unwrap().len() < 2_000);
        assert_eq!(
            Pack::open(&small).unwrap().read("s").unwrap().as_ref(),
            sliced.as_ref()
        );
        // A truncated pack is refused, never misread.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(
            Pack::open(&path)
                .unwrap_err()
                .to_string()
                .contains("damaged index")
        );
        // A flipped byte inside a column is an error, or the value it changes.
        let mut flipped = bytes.clone();
        flipped[20] ^= 0xff;
        std::fs::write(&path, &flipped).unwrap();
        if let Ok(pack) = Pack::open(&path) {
            let _ = pack.read("f");
        }
    }
}
