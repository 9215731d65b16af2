//! A project laid out for a cluster: every table split into buckets by a stable hash of
//! `sys/id`, each bucket's summaries stored beside it, so that each bucket is indexed on its
//! own and a distributed engine reads plain Parquet (docs/cluster.md).
//!
//! ```text
//! OUT/
//!   runs/b00003.parquet                 the objects of bucket 3 (models/, model_versions/ alike)
//!   float_series/b00003.parquet         the points of bucket 3's objects (string_series/ alike)
//!   runs_summary/b00003.parquet         bucket 3's runs with every summary column
//! ```
//!
//! The object and series files are a native project (docs/dataset.md): the single-process
//! engine opens `OUT` as it opens any project. A summary file holds a table as the engine
//! holds it: `sys/id:string` and a column per attribute named `path:type`, and for a series
//! `last(path:floatSeries)`, `average(..)`, `max(..)`, `min(..)`, `variance(..)` (a string
//! series: `last(path:stringSeries)`). An object's points all lie in its bucket, so a
//! bucket's summaries are the ones the whole project's index holds, bit for bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::logical_expr::{LogicalPlan, TableSource};
use datafusion::object_store::ObjectStore;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::properties::EnabledStatistics;
use datafusion::parquet::schema::types::ColumnPath;
use datasets::layout::{ID_COLUMN, ObjectKind, SeriesKind, split_column_name};
use datasets::write::{TableWriter, WriteOptions, prepare_dir};
use nql::{Aggregate, AttrType, AttributeInfo, CheckedQuery, TableCatalog};
use twox_hash::XxHash64;

use crate::error::{LoadError, QueryError};
use crate::index::Project;
use crate::load::{self, LoadOptions, Progress, Sources, guarded, objects};
use crate::query::{FetchOptions, Request};
use crate::table::{ColumnSource, ColumnSpec, ObjectTable, OutputColumn, Read};

/// The largest number of buckets [`partition`] writes.
pub const MAX_BUCKETS: u32 = 65_536;

/// The schema metadata key of a summary file holding, as a JSON object, how many of the
/// file's objects have each column.
pub const COUNTS_KEY: &str = "nql:counts";

/// The bucket of an object: xxHash64 (seed 0) of its `sys/id`'s UTF-8 bytes, modulo
/// `buckets`. Stable across versions, machines and runs.
pub fn bucket_of(id: &str, buckets: u32) -> u32 {
    (XxHash64::oneshot(0, id.as_bytes()) % u64::from(buckets.max(1))) as u32
}

/// The file name of a bucket's objects and summaries (`b00003.parquet`); its series files
/// are named so, or `b00003-N.parquet` when the source's series files differ in schema.
pub fn bucket_file_name(bucket: u32) -> String {
    format!("{}.parquet", bucket_stem(bucket))
}

fn bucket_stem(bucket: u32) -> String {
    format!("b{bucket:05}")
}

/// The directory of a table's summary files in a bucketed project (`runs_summary`).
pub fn summary_dir(dir: &Path, kind: ObjectKind) -> PathBuf {
    dir.join(format!("{}_summary", kind.table_name()))
}

/// What [`partition`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionReport {
    pub buckets: u32,
    /// Objects written, by table.
    pub objects: Vec<(String, usize)>,
    /// Series points and entries written.
    pub points: u64,
    /// Every file written: objects, series, then summaries.
    pub files: Vec<PathBuf>,
}

/// Writes the project at `src` (a native project, a Neptune export, an MLflow store) into
/// `out` bucketed `buckets` ways by [`bucket_of`] `sys/id`, then each bucket's summaries
/// ([`summarize_bucket`]). `out` is made if needed and must hold no project tables yet. A
/// foreign source is first converted to the native layout in a hidden directory of `out`,
/// removed at the end. The objects of a table are held in memory while they are split; the
/// points are streamed, with one open file per bucket.
pub fn partition(
    src: &Path,
    out: &Path,
    buckets: u32,
    options: &LoadOptions,
) -> Result<PartitionReport, LoadError> {
    let mut report = split(src, out, buckets, options)?;
    let progress = Progress::new("summaries", buckets as usize);
    for bucket in 0..buckets {
        report.files.extend(summarize_bucket(out, bucket, options)?);
        progress.advance(options);
    }
    Ok(report)
}

/// [`partition`] without the summaries: the object and series files of each bucket, for
/// [`summarize_bucket`] to summarize where the buckets lie (a cluster's executors).
pub fn split(
    src: &Path,
    out: &Path,
    buckets: u32,
    options: &LoadOptions,
) -> Result<PartitionReport, LoadError> {
    if buckets == 0 || buckets > MAX_BUCKETS {
        return Err(LoadError::Choice(format!(
            "cannot partition into {buckets} buckets: give 1 to {MAX_BUCKETS}"
        )));
    }
    prepare_dir(out).map_err(|e| LoadError::Source {
        path: out.to_path_buf(),
        problem: e.to_string(),
    })?;
    let converted = out.join(".nql-partition-source");
    let sources = match Project::detect(src, options)? {
        Project::Native(sources) => sources,
        Project::Foreign { source, .. } => {
            let _ = std::fs::remove_dir_all(&converted);
            crate::convert::write_native(source.as_ref(), &converted, options)?;
            Sources::list(&converted)?
        }
    };
    let result = write_buckets(&sources, out, buckets, options);
    let _ = std::fs::remove_dir_all(&converted);
    result
}

/// The buckets of the bucketed project in `dir` that hold objects, in order (from the
/// names of its object files, `TABLE/bNNNNN.parquet`).
pub fn buckets(dir: &Path) -> Result<Vec<u32>, LoadError> {
    let mut found = Vec::new();
    for kind in ObjectKind::NATIVE {
        for file in load::files_of(dir, kind.table_name())?.unwrap_or_default() {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let number = name
                .strip_prefix('b')
                .and_then(|n| n.strip_suffix(".parquet"))
                .and_then(|n| n.parse::<u32>().ok());
            match number {
                Some(b) => found.push(b),
                None => {
                    return Err(LoadError::Source {
                        path: file,
                        problem: "not a bucket's file (bNNNNN.parquet): is this a project written by nql partition?"
                            .to_string(),
                    });
                }
            }
        }
    }
    if found.is_empty() {
        return Err(LoadError::MissingRuns {
            dir: dir.to_path_buf(),
        });
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// Splits the object and series files of `sources` into `buckets` buckets under `out`.
fn write_buckets(
    sources: &Sources,
    out: &Path,
    buckets: u32,
    options: &LoadOptions,
) -> Result<PartitionReport, LoadError> {
    let write = WriteOptions::default();
    let mut report = PartitionReport {
        buckets,
        ..PartitionReport::default()
    };
    for (kind, files) in &sources.objects {
        let progress = Progress::new("objects", files.len());
        let mut chunks = Vec::with_capacity(files.len());
        for file in files {
            let batch = guarded(file, || load::read_whole(file))?;
            chunks.push(objects::normalize(file, &batch)?);
            progress.advance(options);
        }
        let (ids, attributes) = objects::assemble(chunks)?;
        let dir = out.join(kind.table_name());
        let batch = crate::convert::native_batch(&dir, &ids, &attributes)?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); buckets as usize];
        for (row, id) in ids.iter().enumerate() {
            let id = id.unwrap_or_default();
            rows[bucket_of(id, buckets) as usize].push(row as u32);
        }
        create_dir(&dir)?;
        for (bucket, rows) in rows.into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let path = dir.join(bucket_file_name(bucket as u32));
            let part =
                take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|e| write_error(&path, e))?;
            let mut writer = TableWriter::create(&path, kind.table_name(), part.schema(), &write)
                .map_err(|e| write_error(&path, e))?;
            writer.write(&part).map_err(|e| write_error(&path, e))?;
            report
                .files
                .push(writer.finish().map_err(|e| write_error(&path, e))?);
        }
        report.objects.push((kind.table_name().to_string(), ids.len()));
    }
    for (kind, files) in &sources.series {
        let (points, written) = split_series(*kind, files, out, buckets, &write, options)?;
        report.points += points;
        report.files.extend(written);
    }
    Ok(report)
}

/// Streams the points of a series table's files into one file per bucket (and per distinct
/// file schema: columns are never cast, so a point is stored exactly as the source held it).
fn split_series(
    kind: SeriesKind,
    files: &[PathBuf],
    out: &Path,
    buckets: u32,
    write: &WriteOptions,
    options: &LoadOptions,
) -> Result<(u64, Vec<PathBuf>), LoadError> {
    let dir = out.join(kind.table_name());
    create_dir(&dir)?;
    let mut schemas: Vec<SchemaRef> = Vec::new();
    let mut writers: HashMap<(u32, usize), TableWriter> = HashMap::new();
    let mut points = 0u64;
    let progress = Progress::new("series", files.len());
    for file in files {
        let metadata = guarded(file, || load::series_metadata(file))?;
        let schema = Arc::clone(metadata.schema());
        let group = match schemas.iter().position(|s| s.fields() == schema.fields()) {
            Some(g) => g,
            None => {
                schemas.push(Arc::clone(&schema));
                schemas.len() - 1
            }
        };
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(load::open(file)?, metadata)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| load::parquet_error(file, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| load::parquet_error(file, e))?;
            let ids = batch
                .column_by_name(ID_COLUMN)
                .ok_or_else(|| LoadError::SeriesColumn {
                    file: file.clone(),
                    column: ID_COLUMN.to_string(),
                    problem: "missing".to_string(),
                })?;
            let ids = cast(ids, &DataType::Utf8View).map_err(|e| LoadError::SeriesColumn {
                file: file.clone(),
                column: ID_COLUMN.to_string(),
                problem: format!("not a string column: {e}"),
            })?;
            let mut rows: HashMap<u32, Vec<u32>> = HashMap::new();
            // Points come in runs of one object: hash each run once.
            let mut last: Option<(&str, u32)> = None;
            for (row, id) in ids.as_string_view().iter().enumerate() {
                let Some(id) = id else {
                    return Err(LoadError::SeriesColumn {
                        file: file.clone(),
                        column: ID_COLUMN.to_string(),
                        problem: format!("row {row} is null"),
                    });
                };
                let bucket = match last {
                    Some((previous, bucket)) if previous == id => bucket,
                    _ => bucket_of(id, buckets),
                };
                last = Some((id, bucket));
                rows.entry(bucket).or_default().push(row as u32);
            }
            for (bucket, rows) in rows {
                let name = match group {
                    0 => bucket_file_name(bucket),
                    g => format!("{}-{g}.parquet", bucket_stem(bucket)),
                };
                let path = dir.join(name);
                let part =
                    take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|e| write_error(&path, e))?;
                let writer = match writers.entry((bucket, group)) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(
                        TableWriter::create(&path, kind.table_name(), Arc::clone(&schemas[group]), write)
                            .map_err(|e| write_error(&path, e))?,
                    ),
                };
                writer.write(&part).map_err(|e| write_error(&path, e))?;
                points += part.num_rows() as u64;
            }
        }
        progress.advance(options);
    }
    let mut written = Vec::with_capacity(writers.len());
    for (_, writer) in writers {
        written.push(writer.finish().map_err(|e| write_error(&dir, e))?);
    }
    written.sort();
    Ok((points, written))
}

/// Computes the summaries of one bucket of the bucketed project in `dir` from that bucket's
/// files alone, and writes each of its tables to `TABLE_summary/bNNNNN.parquet`
/// ([`summary_dir`]), with [`COUNTS_KEY`] in the schema metadata. Returns the files written
/// (none for a bucket without objects).
pub fn summarize_bucket(dir: &Path, bucket: u32, options: &LoadOptions) -> Result<Vec<PathBuf>, LoadError> {
    let stem = bucket_stem(bucket);
    let in_bucket = |f: &Path| {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name == format!("{stem}.parquet")
            || (name.starts_with(&format!("{stem}-")) && name.ends_with(".parquet"))
    };
    let mut objects = Vec::new();
    for kind in ObjectKind::NATIVE {
        let file = dir.join(kind.table_name()).join(bucket_file_name(bucket));
        if file.is_file() {
            objects.push((kind, vec![file]));
        }
    }
    let mut series = Vec::new();
    for kind in [SeriesKind::Float, SeriesKind::String] {
        let files: Vec<PathBuf> = load::files_of(dir, kind.table_name())?
            .unwrap_or_default()
            .into_iter()
            .filter(|f| in_bucket(f))
            .collect();
        if !files.is_empty() {
            series.push((kind, files));
        }
    }
    if objects.is_empty() && series.is_empty() {
        return Ok(Vec::new());
    }
    let sources = Sources {
        dir: dir.to_path_buf(),
        objects,
        series,
    };
    let project = load::load_sources(&sources, options)?;
    let mut written = Vec::new();
    for table in &project.tables {
        let out = summary_dir(dir, table.kind);
        create_dir(&out)?;
        let path = out.join(bucket_file_name(bucket));
        let indices: Vec<usize> = (0..table.schema.fields().len()).collect();
        let (batch, _) = table.batch(&indices).map_err(LoadError::DataFusion)?;
        let counts: serde_json::Map<String, serde_json::Value> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, a)| {
                (
                    f.name().clone(),
                    serde_json::Value::from(a.len() - a.null_count()),
                )
            })
            .collect();
        let metadata = HashMap::from([(
            COUNTS_KEY.to_string(),
            serde_json::Value::Object(counts).to_string(),
        )]);
        let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata));
        let batch = batch
            .with_schema(Arc::clone(&schema))
            .map_err(|e| write_error(&path, e))?;
        write_summary(&path, table.kind, &batch)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes a summary file. Its float columns carry no statistics: Parquet's minimum and
/// maximum leave NaN out, and a reader pruning row groups by them would skip the rows where
/// `x = NaN` or `x > inf` hold in NQL's total order of floats.
fn write_summary(path: &Path, kind: ObjectKind, batch: &RecordBatch) -> Result<(), LoadError> {
    let mut properties = WriteOptions::default()
        .writer_properties(kind.table_name())
        .into_builder();
    for field in batch.schema().fields() {
        if matches!(
            field.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        ) {
            properties = properties.set_column_statistics_enabled(
                ColumnPath::from(field.name().as_str()),
                EnabledStatistics::None,
            );
        }
    }
    let file = std::fs::File::create(path).map_err(|e| write_error(path, e))?;
    let mut writer = ArrowWriter::try_new(
        std::io::BufWriter::new(file),
        batch.schema(),
        Some(properties.build()),
    )
    .map_err(|e| write_error(path, e))?;
    writer.write(batch).map_err(|e| write_error(path, e))?;
    writer.close().map_err(|e| write_error(path, e))?;
    Ok(())
}

/// A table of a bucketed project as its summary files hold it: its columns (the union of
/// the files'), its NQL catalog, and the plans of queries over any table of those files (a
/// `ListingTable` on a cluster). Opening reads the files' footers, nothing else.
#[derive(Debug)]
pub struct SummaryTable {
    table: ObjectTable,
    /// The directory of the files (or the URL of their folder in an object store).
    folder: PathBuf,
    /// The folder as a listing table reads it: an absolute path or a store's URL, ending in `/`.
    url: String,
    files: Vec<PathBuf>,
    schema: SchemaRef,
}

impl SummaryTable {
    /// The summary tables of the bucketed project in `dir` (runs first), or an error when it
    /// has no runs summaries (not partitioned: `nql partition` writes them).
    pub fn open_all(dir: &Path) -> Result<Vec<SummaryTable>, LoadError> {
        let mut tables = Vec::new();
        for kind in ObjectKind::NATIVE {
            match SummaryTable::open(dir, kind)? {
                Some(t) => tables.push(t),
                None if kind == ObjectKind::Runs => {
                    return Err(LoadError::Choice(format!(
                        "{}: no runs summaries ({}/*.parquet): partition the project first (nql partition)",
                        dir.display(),
                        summary_dir(dir, kind).display()
                    )));
                }
                None => {}
            }
        }
        Ok(tables)
    }

    /// A table's summaries in `dir`, if it has any.
    pub fn open(dir: &Path, kind: ObjectKind) -> Result<Option<SummaryTable>, LoadError> {
        let folder = summary_dir(dir, kind);
        if !folder.is_dir() {
            return Ok(None);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map_err(|source| LoadError::Io {
                file: folder.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "parquet") && p.is_file())
            .collect();
        files.sort();
        let mut footers = Vec::with_capacity(files.len());
        for file in files {
            let (schema, rows) = guarded(&file, || {
                let builder = ParquetRecordBatchReaderBuilder::try_new(load::open(&file)?)
                    .map_err(|e| load::parquet_error(&file, e))?;
                Ok((
                    Arc::clone(builder.schema()),
                    builder.metadata().file_metadata().num_rows() as usize,
                ))
            })?;
            footers.push((file, schema, rows));
        }
        let absolute = std::path::absolute(&folder).map_err(|source| LoadError::Io {
            file: folder.clone(),
            source,
        })?;
        let url = format!("{}/", absolute.display());
        SummaryTable::from_footers(kind, folder, url, footers)
    }

    /// The summary tables of the bucketed project at `root`, a URL of `store` (`s3://bucket/
    /// project`, `file:///dir`), read as [`SummaryTable::open_all`] reads a directory: the
    /// files listed and their footers read through the store.
    pub async fn open_all_in_store(
        store: Arc<dyn ObjectStore>,
        root: &str,
    ) -> Result<Vec<SummaryTable>, LoadError> {
        let root = root.trim_end_matches('/');
        let mut tables = Vec::new();
        for kind in ObjectKind::NATIVE {
            let url = format!("{root}/{}_summary/", kind.table_name());
            match SummaryTable::open_in_store(&store, &url, kind).await? {
                Some(t) => tables.push(t),
                None if kind == ObjectKind::Runs => {
                    return Err(LoadError::Choice(format!(
                        "{root}: no runs summaries ({url}*.parquet): partition the project first (nql partition)"
                    )));
                }
                None => {}
            }
        }
        Ok(tables)
    }

    /// A table's summaries in the folder `url` (ending in `/`) of `store`, if it has any.
    async fn open_in_store(
        store: &Arc<dyn ObjectStore>,
        url: &str,
        kind: ObjectKind,
    ) -> Result<Option<SummaryTable>, LoadError> {
        use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
        use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
        use futures::TryStreamExt;

        let folder = PathBuf::from(url);
        let prefix = ListingTableUrl::parse(url)?.prefix().clone();
        let depth = prefix.parts().count() + 1;
        let mut objects: Vec<_> =
            store
                .list(Some(&prefix))
                .try_collect()
                .await
                .map_err(|e| LoadError::Source {
                    path: folder.clone(),
                    problem: format!("the object store: {e}"),
                })?;
        objects.retain(|o| o.location.parts().count() == depth && o.location.extension() == Some("parquet"));
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        let mut footers = Vec::with_capacity(objects.len());
        for object in objects {
            let file = PathBuf::from(format!("{url}{}", object.location.filename().unwrap_or_default()));
            let unreadable = |message: String| LoadError::Parquet {
                file: file.clone(),
                message,
            };
            let metadata = DFParquetMetadata::new(store.as_ref(), &object)
                .fetch_metadata()
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            let footer = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::new())
                .map_err(|e| unreadable(e.to_string()))?;
            let rows = footer.metadata().file_metadata().num_rows() as usize;
            footers.push((file, Arc::clone(footer.schema()), rows));
        }
        SummaryTable::from_footers(kind, folder, url.to_string(), footers)
    }

    /// The table of summary files whose footers say `(file, schema, rows)`, in `folder`
    /// (which a listing table reads at `url`); `None` without files.
    fn from_footers(
        kind: ObjectKind,
        folder: PathBuf,
        url: String,
        footers: Vec<(PathBuf, SchemaRef, usize)>,
    ) -> Result<Option<SummaryTable>, LoadError> {
        if footers.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<(Field, usize)> = Vec::new();
        let mut rows = 0usize;
        let mut files = Vec::with_capacity(footers.len());
        for (file, schema, file_rows) in footers {
            let counts = file_counts(&file, &schema)?;
            rows += file_rows;
            // Each file's columns are in the table's order with some left out: a column new
            // here goes after the column before it in this file.
            let mut after = 0;
            for field in schema.fields() {
                let count = counts.get(field.name()).copied().unwrap_or(0);
                match columns.iter().position(|(f, _)| f.name() == field.name()) {
                    Some(i) => {
                        if columns[i].0.data_type() != field.data_type() {
                            return Err(LoadError::Column {
                                file: file.clone(),
                                column: field.name().clone(),
                                problem: format!(
                                    "is {} here but {} in another summary file",
                                    field.data_type(),
                                    columns[i].0.data_type()
                                ),
                            });
                        }
                        columns[i].1 += count;
                        after = i + 1;
                    }
                    None => {
                        columns.insert(after, (field.as_ref().clone().with_nullable(true), count));
                        after += 1;
                    }
                }
            }
            files.push(file);
        }
        let id = crate::table::id_column();
        if columns.first().is_none_or(|(f, _)| *f.name() != id) {
            return Err(LoadError::Column {
                file: folder,
                column: id,
                problem: "not the first column of the summary files".to_string(),
            });
        }
        let mut specs = Vec::with_capacity(columns.len());
        for (field, count) in &columns[1..] {
            let Some((path, ty, aggregate)) = parse_column(field.name()) else {
                return Err(LoadError::Column {
                    file: folder,
                    column: field.name().clone(),
                    problem: "not a summary column (`path:type` or `aggregate(path:type)`)".to_string(),
                });
            };
            specs.push(ColumnSpec {
                name: field.name().clone(),
                data_type: field.data_type().clone(),
                path,
                ty,
                aggregate,
                count: *count,
            });
        }
        let table = ObjectTable::lazy(kind, rows, specs, Box::new(StoredElsewhere));
        let schema = Arc::new(Schema::new(
            columns.into_iter().map(|(f, _)| f).collect::<Vec<Field>>(),
        ));
        Ok(Some(SummaryTable {
            table,
            folder,
            url,
            files,
            schema,
        }))
    }

    /// Which table this is.
    pub fn kind(&self) -> ObjectKind {
        self.table.kind
    }

    /// How many objects the files hold.
    pub fn rows(&self) -> usize {
        self.table.rows
    }

    /// The directory of the summary files.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// A DataFusion table over the summary files: a `ListingTable` of the folder's Parquet
    /// files with [`SummaryTable::schema`], which any session (a cluster's too) can scan.
    pub fn listing_table(&self) -> Result<Arc<ListingTable>, LoadError> {
        let url = ListingTableUrl::parse(&self.url)?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(self.schema());
        Ok(Arc::new(ListingTable::try_new(config)?))
    }

    /// The summary files, sorted by name.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The columns of the files, every one nullable: the schema to read them with (a file
    /// without a column reads as nulls there).
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// The NQL catalog over [`SummaryTable::schema`].
    pub fn catalog(&self) -> &TableCatalog {
        &self.table.catalog
    }

    /// Every attribute with its type and how many objects have it.
    pub fn attributes(&self) -> Vec<AttributeInfo> {
        self.table.attributes()
    }

    /// The columns results have, in order.
    pub fn columns(&self) -> &[OutputColumn] {
        &self.table.outputs
    }

    /// `query` parsed and analyzed against the table, as [`crate::Engine::check`] does.
    pub fn check(&self, query: &str, options: &FetchOptions) -> Result<CheckedQuery, QueryError> {
        crate::check(&self.table, query, options)
    }

    /// The plan of `query` with `options` (and, for model versions, `model`) over `source`,
    /// a table of the summary files with [`SummaryTable::schema`]: a scan, the lowered
    /// filter above it, a sort by the requested order with ties broken by `sys/id` (always:
    /// a distributed plan returns rows in no order), the limit, and the projection naming
    /// the result columns as [`crate::Engine::fetch`] does.
    pub fn plan(
        &self,
        query: &str,
        options: &FetchOptions,
        model: Option<&str>,
        source: Arc<dyn TableSource>,
    ) -> Result<(LogicalPlan, CheckedQuery), QueryError> {
        let checked = self.check(query, options)?;
        let request = Request::new(&self.table, &checked, options, model)?;
        Ok((
            request.portable_plan(self.table.kind.table_name(), source)?,
            checked,
        ))
    }
}

/// The column source of a [`SummaryTable`]: its values are read by whoever runs its plans.
#[derive(Debug)]
struct StoredElsewhere;

impl ColumnSource for StoredElsewhere {
    fn read(&self, _indices: &[usize], _order: bool) -> Result<Read, LoadError> {
        Err(LoadError::Choice(
            "a summary table's values are read from its files by the plan that scans them".to_string(),
        ))
    }
}

/// The counts a summary file's metadata holds, by column.
fn file_counts(file: &Path, schema: &Schema) -> Result<HashMap<String, usize>, LoadError> {
    let problem = |problem: String| LoadError::Column {
        file: file.to_path_buf(),
        column: COUNTS_KEY.to_string(),
        problem,
    };
    let text = schema
        .metadata()
        .get(COUNTS_KEY)
        .ok_or_else(|| problem("missing from the schema metadata: not a summary file".to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| problem(format!("not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| problem("not a JSON object".to_string()))?;
    object
        .iter()
        .map(|(k, v)| {
            v.as_u64()
                .map(|n| (k.clone(), n as usize))
                .ok_or_else(|| problem(format!("the count of `{k}` is not a number")))
        })
        .collect()
}

/// The attribute a summary column holds: `path:type` or `aggregate(path:floatSeries)` /
/// `last(path:stringSeries)`, with the aggregate unless it is a series' `last`.
fn parse_column(name: &str) -> Option<(String, AttrType, Option<Aggregate>)> {
    if let Some(inner) = name.strip_suffix(')')
        && let Some((aggregate, column)) = inner.split_once('(')
        && let Some(aggregate) = Aggregate::from_name(aggregate)
        && let (path, Some(ty @ (AttrType::FloatSeries | AttrType::StringSeries))) = split_column_name(column)
    {
        if ty == AttrType::StringSeries && aggregate != Aggregate::Last {
            return None;
        }
        return Some((
            path.to_string(),
            ty,
            (aggregate != Aggregate::Last).then_some(aggregate),
        ));
    }
    match split_column_name(name) {
        (_, Some(AttrType::FloatSeries | AttrType::StringSeries)) => None,
        (path, Some(ty)) => Some((path.to_string(), ty, None)),
        (_, None) => None,
    }
}

fn create_dir(dir: &Path) -> Result<(), LoadError> {
    std::fs::create_dir_all(dir).map_err(|source| LoadError::Io {
        file: dir.to_path_buf(),
        source,
    })
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> LoadError {
    LoadError::Source {
        path: path.to_path_buf(),
        problem: format!("cannot write: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_in_range() {
        // xxHash64 of "NQ-1" with seed 0 is fixed: the layout must not change between versions.
        let first = bucket_of("NQ-1", 16);
        assert_eq!(first, bucket_of("NQ-1", 16));
        assert_eq!(first as u64, XxHash64::oneshot(0, b"NQ-1") % 16);
        assert!((0..1000).all(|i| bucket_of(&format!("NQ-{i}"), 7) < 7));
        assert_eq!(bucket_of("anything", 1), 0);
    }

    #[test]
    fn summary_column_names_parse_back() {
        assert_eq!(
            parse_column("params/lr:float"),
            Some(("params/lr".into(), AttrType::Float, None))
        );
        assert_eq!(
            parse_column("average(metrics/acc:floatSeries)"),
            Some((
                "metrics/acc".into(),
                AttrType::FloatSeries,
                Some(Aggregate::Average)
            ))
        );
        assert_eq!(
            parse_column("last(a(b):floatSeries)"),
            Some(("a(b)".into(), AttrType::FloatSeries, None))
        );
        assert_eq!(
            parse_column("last(log:stringSeries)"),
            Some(("log".into(), AttrType::StringSeries, None))
        );
        assert_eq!(parse_column("max(log:stringSeries)"), None);
        assert_eq!(parse_column("metrics/acc:floatSeries"), None);
        assert_eq!(parse_column("no_type"), None);
    }
}
