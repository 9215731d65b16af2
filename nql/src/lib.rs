//! The Neptune Query Language: text → syntax tree → checked query → DataFusion plan.
//!
//! ```text
//!   parse(&str) ──► ast::Query ──analyze(&Query, &dyn Catalog, now)──► hir::CheckedQuery
//!                                                                         │
//!                                          lower::plan / lower::filter_expr ◄┘──► LogicalPlan
//! ```
//!
//! * [`syntax`]: the pest grammar and the tree builder; syntax errors as [`Diagnostic`]s.
//! * [`ast`]: the syntax tree, with spans; `Display` prints canonical NQL.
//! * [`analyze`]: types, operators, values and attribute lookup against a [`Catalog`].
//! * [`hir`]: the checked query, with every negation explicit.
//! * [`lower`]: DataFusion expressions that keep NQL's two-valued logic for missing values.
//!
//! The crate does no I/O and needs no DataFusion session.
//!
//! ```
//! use nql::{AttrType, TableCatalog, ColumnInfo};
//! use datafusion::arrow::datatypes::DataType;
//!
//! let mut catalog = TableCatalog::new();
//! catalog.add_attribute("f1", AttrType::Float, 10, ColumnInfo { name: "f1:float".into(), data_type: DataType::Float64 });
//! let checked = nql::check("`f1`:float >= 0.85", &catalog, chrono::Utc::now()).unwrap();
//! assert_eq!(checked.predicate.unwrap().to_string(), "`f1`:float >= 0.85");
//! ```

pub mod analyze;
pub mod ast;
pub mod catalog;
pub mod diagnostic;
pub mod hir;
pub mod lower;
pub mod span;
pub mod syntax;
pub mod types;

pub use analyze::analyze;
pub use catalog::{AttributeInfo, Catalog, ColumnInfo, TableCatalog};
pub use diagnostic::{ClauseMatches, Diagnostic, DiagnosticKind, Diagnostics, Severity};
pub use hir::CheckedQuery;
pub use span::{Span, Spanned};
pub use syntax::parse;
pub use types::{Aggregate, AttrType, Operator};

/// Parses and analyzes `text` in one step.
pub fn check(
    text: &str,
    catalog: &dyn Catalog,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<CheckedQuery, Diagnostics> {
    analyze(&parse(text)?, catalog, now)
}
