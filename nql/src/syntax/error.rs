//! Syntax errors: pest's failure turned into "expected X, found Y" with the special cases
//! people actually hit (unterminated strings, backquotes inside names, empty parentheses).

use pest::error::{ErrorVariant, InputLocation};

use super::{MAX_NESTING, Rule};
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::span::Span;

/// Refuses queries whose parentheses nest deeper than [`MAX_NESTING`], before pest (which
/// recurses once per level) sees them.
pub(super) fn check_nesting(source: &str) -> Result<(), Diagnostics> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Diagnostic::error(
                        DiagnosticKind::TooDeep { max: MAX_NESTING },
                        Span::new(i, i + 1),
                        format!("parenthesis number {depth} opens here"),
                    )
                    .with_help("flatten the query: AND/OR chains need no parentheses")
                    .into());
                }
            }
            b')' => depth = depth.saturating_sub(1),
            b'`' => i = skip_until(bytes, i + 1, b'`', false),
            q @ (b'"' | b'\'') if opens_string(source, i) => i = skip_until(bytes, i + 1, q, true),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The index of the closing `end` byte at or after `from` (or the last index when there is
/// none), honouring backslash escapes when `escapes`.
fn skip_until(bytes: &[u8], mut from: usize, end: u8, escapes: bool) -> usize {
    while from < bytes.len() {
        if escapes && bytes[from] == b'\\' {
            from += 2;
            continue;
        }
        if bytes[from] == end {
            return from;
        }
        from += 1;
    }
    bytes.len()
}

/// True when the quote at `at` is where a value starts: after an operator or a keyword
/// operator, not in the middle of a bare word.
fn opens_string(source: &str, at: usize) -> bool {
    let before = source[..at].trim_end();
    if before.len() == at && !before.is_empty() {
        // Glued to the previous character: only operators may touch a string.
        return before.ends_with(['=', '<', '>']);
    }
    before.ends_with(['=', '<', '>'])
        || ["CONTAINS", "MATCHES"].iter().any(|k| {
            before.len() >= k.len()
                && before.is_char_boundary(before.len() - k.len())
                && before[before.len() - k.len()..].eq_ignore_ascii_case(k)
        })
}

/// Converts pest's error into a diagnostic.
pub(super) fn from_pest(source: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    if let Some(d) = special_case(source, pos) {
        return d;
    }
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => describe(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let (found, span) = token_at(source, pos);
    Diagnostic::error(
        DiagnosticKind::Syntax {
            expected: expected.clone(),
            found: found.clone(),
        },
        span,
        format!("expected {expected}"),
    )
}

/// The errors whose generic "expected X" would not help.
fn special_case(source: &str, pos: usize) -> Option<Diagnostic> {
    let rest = &source[pos..];
    let before = &source[..pos];

    // An opening quote of a value that never closes.
    for (q, c) in source
        .char_indices()
        .filter(|&(i, c)| i <= pos && (c == '"' || c == '\''))
    {
        if opens_string(source, q) && skip_until(source.as_bytes(), q + 1, c as u8, true) >= source.len() {
            return Some(
                Diagnostic::error(
                    DiagnosticKind::UnterminatedString,
                    Span::new(q, q + 1),
                    "this quote is never closed",
                )
                .with_help(format!("close the string with {c}")),
            );
        }
    }
    // An opening backquote that never closes.
    let backquotes: Vec<usize> = source.match_indices('`').map(|(i, _)| i).collect();
    if backquotes.len() % 2 == 1 {
        let last = *backquotes.last().expect("odd count means at least one");
        if last <= pos || rest.trim().is_empty() {
            return Some(
                Diagnostic::error(
                    DiagnosticKind::UnterminatedName,
                    Span::new(last, last + 1),
                    "this backquote is never closed",
                )
                .with_help("close the name with `"),
            );
        }
    }
    // `weird`name`: the name ended at the second backquote and text follows right away.
    if before.ends_with('`') && rest.starts_with(|c: char| !c.is_whitespace() && c != ':' && c != ')') {
        let start = before[..before.len() - 1].rfind('`').unwrap_or(0);
        let end = rest.find('`').map(|i| pos + i + 1).unwrap_or(pos);
        return Some(
            Diagnostic::error(
                DiagnosticKind::BackquoteInName,
                Span::new(start, end.max(pos)),
                "the name ends at the second backquote",
            )
            .with_help("NQL has no escape for a backquote inside a name; such attributes cannot be queried"),
        );
    }
    // `()`
    if rest.starts_with(')') && before.trim_end().ends_with('(') {
        let open = before.trim_end().len() - 1;
        return Some(
            Diagnostic::error(
                DiagnosticKind::EmptyGroup,
                Span::new(open, pos + 1),
                "nothing between the parentheses",
            )
            .with_help("put a clause inside the parentheses, or remove them"),
        );
    }
    // `"o"brien"`: a string closed where the writer meant a quote character.
    if let Some(q) = before.chars().last().filter(|c| *c == '"' || *c == '\'')
        && rest.starts_with(|c: char| !c.is_whitespace() && c != ')')
    {
        let (found, span) = token_at(source, pos);
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: "AND, OR, `)` or end of query".into(),
                    found,
                },
                span,
                "the string ended at the quote before this",
            )
            .with_help(format!("to put {q} inside a string, escape it as \\{q}")),
        );
    }
    // `AND x = 1`: a keyword where a clause should start.
    let word = rest
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if ["AND", "OR"].iter().any(|k| k.eq_ignore_ascii_case(word)) && before.trim().is_empty() {
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: "a clause".into(),
                    found: format!("`{word}`"),
                },
                Span::new(pos, pos + word.len()),
                "nothing before this to join",
            )
            .with_help(format!(
                "{} joins two clauses; remove it or put a clause before it",
                word.to_uppercase()
            )),
        );
    }
    None
}

/// The text at `pos` (a word, or "end of query") and its span, for "found ...".
fn token_at(source: &str, pos: usize) -> (String, Span) {
    let rest = &source[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of query".into(), Span::at(pos));
    };
    let len = if "()=<>!".contains(first) {
        rest.find(|c: char| !"=<>!".contains(c) || c == '(' || c == ')')
            .filter(|&n| n > 0)
            .unwrap_or(first.len_utf8())
    } else {
        rest.find(|c: char| c.is_whitespace() || c == '(' || c == ')')
            .unwrap_or(rest.len())
    };
    let len = len.max(first.len_utf8());
    let mut text: String = rest[..len].chars().take(24).collect();
    if text.len() < len {
        text.push('…');
    }
    (format!("`{text}`"), Span::new(pos, pos + len))
}

/// "an attribute, NOT or `(`" from the rules pest tried.
fn describe(positives: &[Rule]) -> String {
    let mut names: Vec<(u8, &str)> = positives
        .iter()
        .filter_map(|r| {
            Some(match r {
                Rule::not_kw => (1, "NOT"),
                Rule::group => (2, "`(`"),
                Rule::expr | Rule::and_expr | Rule::unary | Rule::clause => (0, "a clause"),
                Rule::reference
                | Rule::aggregated
                | Rule::attribute
                | Rule::quoted_name
                | Rule::quoted_text
                | Rule::bare_name
                | Rule::aggregate => (3, "an attribute name"),
                Rule::type_annotation => (4, "`:type`"),
                Rule::type_name => (5, "a type name"),
                Rule::operator | Rule::comparison | Rule::contains_kw | Rule::matches_kw => {
                    (6, "an operator (= != < <= > >= CONTAINS MATCHES)")
                }
                Rule::exists_kw | Rule::exists_test => (7, "EXISTS"),
                Rule::dq_string | Rule::sq_string | Rule::bare_value | Rule::dq_text | Rule::sq_text => {
                    (8, "a value")
                }
                Rule::and_kw => (9, "AND"),
                Rule::or_kw => (10, "OR"),
                Rule::EOI => (11, "end of query"),
                _ => return None,
            })
        })
        .collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.into_iter().map(|(_, n)| n).collect();
    match names.as_slice() {
        [] => "something else".into(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
