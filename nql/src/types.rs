//! The vocabulary of NQL: attribute types, aggregates and operators.

use std::fmt;

/// An NQL attribute type, spelled in camelCase in queries and dataset column suffixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttrType {
    Int,
    Float,
    Bool,
    String,
    Datetime,
    ExperimentState,
    Artifact,
    StringSet,
    FloatSeries,
    StringSeries,
    FileRef,
    FileRefSeries,
    HistogramSeries,
}

impl AttrType {
    /// Every type, in the order of the spec's table.
    pub const ALL: [AttrType; 13] = [
        AttrType::Int,
        AttrType::Float,
        AttrType::Bool,
        AttrType::String,
        AttrType::Datetime,
        AttrType::ExperimentState,
        AttrType::Artifact,
        AttrType::StringSet,
        AttrType::FloatSeries,
        AttrType::StringSeries,
        AttrType::FileRef,
        AttrType::FileRefSeries,
        AttrType::HistogramSeries,
    ];

    /// The camelCase name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::Int => "int",
            AttrType::Float => "float",
            AttrType::Bool => "bool",
            AttrType::String => "string",
            AttrType::Datetime => "datetime",
            AttrType::ExperimentState => "experimentState",
            AttrType::Artifact => "artifact",
            AttrType::StringSet => "stringSet",
            AttrType::FloatSeries => "floatSeries",
            AttrType::StringSeries => "stringSeries",
            AttrType::FileRef => "fileRef",
            AttrType::FileRefSeries => "fileRefSeries",
            AttrType::HistogramSeries => "histogramSeries",
        }
    }

    /// Reads a type name exactly as the spec spells it (`integer` is accepted as `int`).
    pub fn from_name(name: &str) -> Option<AttrType> {
        if name == "integer" {
            return Some(AttrType::Int);
        }
        AttrType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The type name closest to a misspelled one, for "did you mean" help.
    pub fn closest(name: &str) -> Option<AttrType> {
        let lower = name.to_lowercase();
        if lower == "integer" {
            return Some(AttrType::Int);
        }
        if let Some(t) = AttrType::ALL
            .into_iter()
            .find(|t| t.name().to_lowercase() == lower)
        {
            return Some(t);
        }
        AttrType::ALL
            .into_iter()
            .map(|t| (strsim::damerau_levenshtein(&lower, &t.name().to_lowercase()), t))
            .filter(|(d, t)| *d <= 2.max(t.name().len() / 3))
            .min_by_key(|(d, _)| *d)
            .map(|(_, t)| t)
    }

    /// True for `int` and `float`, which form one numeric family (spec 3).
    pub fn is_numeric(self) -> bool {
        matches!(self, AttrType::Int | AttrType::Float)
    }

    /// The family a type belongs to for attribute identity: int and float are one.
    pub fn family(self) -> AttrType {
        if self.is_numeric() { AttrType::Float } else { self }
    }

    /// The operators this type allows, `EXISTS` included (spec 2).
    pub fn allowed_operators(self) -> &'static [Operator] {
        use Operator::*;
        match self {
            AttrType::Int | AttrType::Float | AttrType::FloatSeries => &[Eq, Ne, Lt, Le, Gt, Ge, Exists],
            AttrType::String => &[Eq, Ne, Lt, Le, Gt, Ge, Contains, Matches, Exists],
            AttrType::Datetime => &[Eq, Ne, Lt, Le, Gt, Ge, Exists],
            AttrType::Bool | AttrType::ExperimentState | AttrType::Artifact => &[Eq, Ne, Exists],
            AttrType::StringSet => &[Contains, Exists],
            AttrType::StringSeries => &[Eq, Ne, Contains, Matches, Exists],
            AttrType::FileRef | AttrType::FileRefSeries | AttrType::HistogramSeries => &[Exists],
        }
    }

    /// True when `op` may be applied to this type.
    pub fn allows(self, op: Operator) -> bool {
        self.allowed_operators().contains(&op)
    }
}

impl fmt::Display for AttrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A floatSeries aggregate function (`last` also reads stringSeries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Aggregate {
    Average,
    Last,
    Max,
    Min,
    Variance,
}

impl Aggregate {
    /// Every aggregate.
    pub const ALL: [Aggregate; 5] = [
        Aggregate::Average,
        Aggregate::Last,
        Aggregate::Max,
        Aggregate::Min,
        Aggregate::Variance,
    ];

    /// The lower-case name used in canonical NQL.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Average => "average",
            Aggregate::Last => "last",
            Aggregate::Max => "max",
            Aggregate::Min => "min",
            Aggregate::Variance => "variance",
        }
    }

    /// Reads an aggregate name in any case.
    pub fn from_name(name: &str) -> Option<Aggregate> {
        Aggregate::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A comparison operator as written, without a leading `NOT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `=` or `==`
    Eq,
    /// `!=`
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    Matches,
    /// Postfix `EXISTS`; listed so that the operator table can name it.
    Exists,
}

impl Operator {
    /// The canonical spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Eq => "=",
            Operator::Ne => "!=",
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Contains => "CONTAINS",
            Operator::Matches => "MATCHES",
            Operator::Exists => "EXISTS",
        }
    }

    /// Human list of operators, `=, !=, <` and so on.
    pub fn list(ops: &[Operator]) -> String {
        ops.iter().map(|o| o.symbol()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}
