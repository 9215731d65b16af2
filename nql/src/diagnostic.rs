//! Errors and warnings about a query, each pointing at the place in the text it is about.
//!
//! A [`Diagnostic`] is data: a [`DiagnosticKind`] (what went wrong, as a type), a primary span
//! with a label saying what was expected and what was found, optional secondary labels and an
//! optional help line. Rendering with carets under the query text is done by miette, only
//! when asked ([`Diagnostic::render`]).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan};

use crate::span::Span;
use crate::types::{Aggregate, AttrType, Operator};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The query is refused.
    Error,
    /// The query runs, but probably not as meant (an unknown attribute, say).
    Warning,
}

/// What a diagnostic is about.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DiagnosticKind {
    /// The text does not follow the grammar.
    #[error("syntax error: expected {expected}, found {found}")]
    Syntax { expected: String, found: String },
    /// A `"` or `'` that is never closed.
    #[error("unterminated string")]
    UnterminatedString,
    /// A backquote that is never closed.
    #[error("unterminated backquoted name")]
    UnterminatedName,
    /// `` `weird`name` ``: names cannot hold a backquote.
    #[error("a backquoted name cannot contain a backquote")]
    BackquoteInName,
    /// `()`.
    #[error("empty parentheses")]
    EmptyGroup,
    /// Parentheses and NOTs nested beyond what the engine accepts.
    #[error("the query nests more than {max} levels deep")]
    TooDeep { max: usize },
    /// A type name that NQL does not have (`Float`, `StringSet`).
    #[error("unknown type `{found}`")]
    UnknownType { found: String },
    /// An operator the attribute's type does not allow (spec 2).
    #[error("`{op}` is not defined for attributes of type `{ty}`")]
    OperatorNotAllowed { op: Operator, ty: AttrType },
    /// An aggregate over something that is not a series of the right kind.
    #[error("`{aggregate}()` cannot be applied to an attribute of type `{ty}`")]
    AggregateNotAllowed { aggregate: Aggregate, ty: AttrType },
    /// Two type annotations on one reference that contradict each other.
    #[error("`{inner}` and `{outer}` contradict each other")]
    ConflictingTypes { inner: AttrType, outer: AttrType },
    /// A value that cannot be read as the clause's type (spec 3).
    #[error("expected {expected}, found `{found}`")]
    BadValue { expected: String, found: String },
    /// A MATCHES pattern the regex engine rejects.
    #[error("invalid regular expression: {reason}")]
    BadRegex { reason: String },
    /// An untyped reference to a path that holds several types (spec 4.3).
    #[error("`{path}` has several types in this table ({types}); write the one you mean")]
    AmbiguousType { path: String, types: String },
    /// An untyped reference to a path that exists nowhere (spec 4.3, a warning).
    #[error("unknown attribute `{path}`: the clause matches {matches}")]
    UnknownPath { path: String, matches: ClauseMatches },
    /// A typed reference to an attribute that exists nowhere (spec 4.4, a warning).
    #[error("attribute `{attribute}` does not exist: the clause matches {matches}")]
    UnknownAttribute {
        attribute: String,
        matches: ClauseMatches,
    },
}

/// What a clause on an attribute that exists nowhere matches (spec 4.1, 4.4): a positive
/// clause is false for every object, a negative one (its negation written inside the clause:
/// `!=`, `NOT =`, `NOT CONTAINS`, `NOT MATCHES`, `NOT EXISTS`) true for every object. A `NOT`
/// in front of the clause is a node of its own and does not change what the clause matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClauseMatches {
    Nothing,
    Everything,
}

impl fmt::Display for ClauseMatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClauseMatches::Nothing => "nothing",
            ClauseMatches::Everything => "every object",
        })
    }
}

impl DiagnosticKind {
    /// A stable code naming the kind, such as `nql::syntax`.
    pub fn code(&self) -> &'static str {
        match self {
            DiagnosticKind::Syntax { .. } => "nql::syntax",
            DiagnosticKind::UnterminatedString => "nql::unterminated_string",
            DiagnosticKind::UnterminatedName => "nql::unterminated_name",
            DiagnosticKind::BackquoteInName => "nql::backquote_in_name",
            DiagnosticKind::EmptyGroup => "nql::empty_group",
            DiagnosticKind::TooDeep { .. } => "nql::too_deep",
            DiagnosticKind::UnknownType { .. } => "nql::unknown_type",
            DiagnosticKind::OperatorNotAllowed { .. } => "nql::operator",
            DiagnosticKind::AggregateNotAllowed { .. } => "nql::aggregate",
            DiagnosticKind::ConflictingTypes { .. } => "nql::conflicting_types",
            DiagnosticKind::BadValue { .. } => "nql::value",
            DiagnosticKind::BadRegex { .. } => "nql::regex",
            DiagnosticKind::AmbiguousType { .. } => "nql::ambiguous_type",
            DiagnosticKind::UnknownPath { .. } => "nql::unknown_path",
            DiagnosticKind::UnknownAttribute { .. } => "nql::unknown_attribute",
        }
    }
}

/// One error or warning about a query.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub kind: DiagnosticKind,
    /// Where the problem is.
    pub span: Span,
    /// Text under the primary caret: what was found there, or what was expected.
    pub label: String,
    /// Further places worth pointing at, each with its own text.
    pub related: Vec<(Span, String)>,
    /// What to do about it, when there is something to suggest.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(kind: DiagnosticKind, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            kind,
            span,
            label: label.into(),
            related: Vec::new(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(kind: DiagnosticKind, span: Span, label: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(kind, span, label)
        }
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// True for errors, false for warnings.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic with carets under `source`, the query it is about.
    /// `color` adds ANSI colours (for terminals).
    ///
    /// A long query (over 2 KiB) is shown as an excerpt around the primary span, with its real
    /// line numbers, so that rendering stays cheap and miette's column limit (65,535) is never
    /// reached. Finding the excerpt's line number reads the query up to it: to render many
    /// diagnostics of one long query (warnings included), put them in a [`Diagnostics`] and
    /// use [`Diagnostics::render`], which indexes the lines once.
    pub fn render(&self, source: &str, color: bool) -> String {
        self.render_with(source, color, &OnceCell::new())
    }

    /// [`Diagnostic::render`] with the query's newline positions computed at most once for
    /// every diagnostic of a query.
    fn render_with(&self, source: &str, color: bool, newlines: &OnceCell<Vec<usize>>) -> String {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        // Never break "2024-01-01" or "cunning-blobfish" at a hyphen when wrapping help text.
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_word_splitter(textwrap::WordSplitter::NoHyphenation);
        let (lo, hi) = self.window(source);
        let mut text = Cow::Borrowed(&source[lo..hi]);
        // miette draws nothing for an empty label at the very end of the text ("expected a
        // value, found end of query"): give it a blank column to point at.
        let at_end = std::iter::once(self.span)
            .chain(self.related.iter().map(|(s, _)| *s))
            .any(|s| s.is_empty() && s.start >= source.len());
        if at_end && hi == source.len() {
            text.to_mut().push(' ');
        }
        let (line, column) = if lo == 0 {
            (0, 0)
        } else {
            let newlines = newlines.get_or_init(|| source.match_indices('\n').map(|(i, _)| i).collect());
            let line = newlines.partition_point(|&n| n < lo);
            // The column of the excerpt's start, for miette's `[line:column]` header, which it
            // only prints for excerpts of several lines.
            let column = if text.contains('\n') {
                let line_start = line.checked_sub(1).map_or(0, |l| newlines[l] + 1);
                source[line_start..lo].chars().count()
            } else {
                0
            };
            (line, column)
        };
        let report = WithSource {
            diagnostic: self,
            excerpt: Excerpt {
                text: &text,
                offset: lo,
                line,
                column,
            },
            end: hi + usize::from(at_end && hi == source.len()),
        };
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail in practice; fall back to the plain message.
            out = format!("{self}");
        }
        out
    }

    /// The byte range of `source` to show: all of it when it is short, else the primary span
    /// (its first 240 bytes) with 120 bytes of context on either side.
    fn window(&self, source: &str) -> (usize, usize) {
        const WHOLE: usize = 2048;
        const CONTEXT: usize = 120;
        const LONGEST_LABEL: usize = 240;
        if source.len() <= WHOLE {
            return (0, source.len());
        }
        let mut start = self.span.start.min(source.len());
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = self
            .span
            .end
            .clamp(start, (start + LONGEST_LABEL).min(source.len()));
        while !source.is_char_boundary(end) {
            end += 1;
        }
        let mut lo = start.saturating_sub(CONTEXT);
        while !source.is_char_boundary(lo) {
            lo -= 1;
        }
        let mut hi = (end + CONTEXT).min(source.len());
        while !source.is_char_boundary(hi) {
            hi += 1;
        }
        // Start and end at white space when there is some, not in the middle of a word.
        if lo > 0
            && let Some((i, c)) = source[lo..start].char_indices().find(|(_, c)| c.is_whitespace())
        {
            lo += i + c.len_utf8();
        }
        if hi < source.len()
            && let Some(i) = source[end..hi].rfind(char::is_whitespace)
        {
            hi = end + i;
        }
        (lo, hi)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}..{}", self.kind, self.span.start, self.span.end)?;
        if !self.label.is_empty() {
            write!(f, ": {}", self.label)?;
        }
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// A diagnostic paired with (an excerpt of) its query text, which is what miette renders.
struct WithSource<'a> {
    diagnostic: &'a Diagnostic,
    excerpt: Excerpt<'a>,
    /// Where the excerpt ends in the query (a padding blank included).
    end: usize,
}

/// The part of the query a diagnostic shows: `text` starts at byte `offset` of the query, on
/// line `line` (0-based). Spans stay offsets into the whole query.
struct Excerpt<'a> {
    text: &'a str,
    offset: usize,
    line: usize,
    /// The column (in characters) the excerpt starts at on its first line.
    column: usize,
}

impl miette::SourceCode for Excerpt<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let local = miette::SourceSpan::new(span.offset().saturating_sub(self.offset).into(), span.len());
        let contents = self
            .text
            .read_span(&local, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new(
            contents.data(),
            miette::SourceSpan::new(
                (contents.span().offset() + self.offset).into(),
                contents.span().len(),
            ),
            contents.line() + self.line,
            if contents.line() == 0 {
                contents.column() + self.column
            } else {
                contents.column()
            },
            contents.line_count(),
        )))
    }
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.fmt(f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diagnostic.kind.fmt(f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl miette::Diagnostic for WithSource<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.kind.code()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.excerpt)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (lo, hi) = (self.excerpt.offset, self.end);
        let clamp = move |s: Span| {
            let end = s.end.clamp(lo, hi);
            Span::new(s.start.clamp(lo, end), end)
        };
        let d = self.diagnostic;
        let primary =
            LabeledSpan::new_primary_with_span((!d.label.is_empty()).then(|| d.label.clone()), clamp(d.span));
        // Secondary labels outside the excerpt of a long query are left out.
        let related = d
            .related
            .iter()
            .filter(move |(s, _)| s.start >= lo && s.end <= hi)
            .map(move |(s, l)| LabeledSpan::new_with_span(Some(l.clone()), clamp(*s)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Every diagnostic a query produced; the error type of parsing and analysis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Renders every diagnostic with carets under `source`, one after the other.
    pub fn render(&self, source: &str, color: bool) -> String {
        let newlines = OnceCell::new();
        self.0
            .iter()
            .map(|d| d.render_with(source, color, &newlines))
            .collect()
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            d.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
