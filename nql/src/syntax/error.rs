//! Syntax errors: pest's failure turned into "expected X, found Y" with the special cases
//! people actually hit (unterminated strings, backquotes inside names, empty parentheses).

use pest::error::{ErrorVariant, InputLocation};

use super::{MAX_NESTING, Rule};
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::span::Span;
use crate::types::Aggregate;

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
/// Converts pest's error into a diagnostic.
pub(super) fn from_pest(source: &str, err: &pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    if let ErrorVariant::CustomError { message } = &err.variant
        && message.contains("limit reached")
    {
        // pest's own guard: the thread's stack is too small even for MAX_NESTING levels.
        return Diagnostic::error(
            DiagnosticKind::TooDeep { max: MAX_NESTING },
            token_at(source, pos).1,
            "the parser ran out of stack here",
        )
        .with_help("flatten the query, or parse it on a thread with a larger stack");
    }
    let positives: &[Rule] = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    if let Some(d) = special_case(source, pos, positives) {
        return d;
    }
    let open = unclosed_parens(source, pos);
    // pest names rules, not literals: add the `)` that would close an open group or aggregate.
    let in_aggregate = open.last().is_some_and(|&p| ends_with_aggregate(&source[..p]));
    let closing = (in_aggregate && positives.contains(&Rule::type_annotation))
        || (!in_aggregate && !open.is_empty() && positives.contains(&Rule::or_kw));
    let expected = match &err.variant {
        ErrorVariant::ParsingError { positives, .. } => describe(positives, closing),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let (found, span) = token_at(source, pos);
    let mut d = Diagnostic::error(
        DiagnosticKind::Syntax {
            expected: expected.clone(),
            found: found.clone(),
        },
        span,
        format!("expected {expected}"),
    );
    if closing && source[pos..].trim().is_empty() {
        let p = *open.last().expect("closing implies an open parenthesis");
        d = d.with_related(Span::new(p, p + 1), "this parenthesis is never closed");
    }
    let previous = token_before(source, pos).map(|(t, _)| t.to_ascii_uppercase());
    let help = if found.eq_ignore_ascii_case("`NOT`") {
        Some("NOT goes before the operator (`x NOT = 1`), before EXISTS (`x NOT EXISTS`) or before a clause")
    } else if previous.as_deref() == Some("EXISTS") {
        Some("EXISTS takes no value and ends its clause; join the next clause with AND or OR")
    } else if found == "`!`" {
        Some("not equal is written != or NOT =")
    } else if found == "`)`" && open.is_empty() {
        d.label = "no `(` opens this parenthesis".into();
        Some("remove it, or add the `(` it closes")
    } else if found == "`(`"
        && positives
            .iter()
            .any(|r| matches!(r, Rule::dq_string | Rule::bare_value))
    {
        Some("a value cannot be parenthesised; quote a value that holds parentheses: \"(a)\"")
    } else if found.starts_with("`\"") || found.starts_with("`'") {
        Some("a clause starts with an attribute name, such as `sys/name`:string = \"x\"")
    } else {
        None
    };
    match help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

/// The errors whose generic "expected X" would not help.
fn special_case(source: &str, pos: usize, positives: &[Rule]) -> Option<Diagnostic> {
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
    // `()`, and `last()`.
    if rest.starts_with(')') && before.trim_end().ends_with('(') {
        let open = before.trim_end().len() - 1;
        if let Some(agg) = aggregate_before(&source[..open]) {
            return Some(
                Diagnostic::error(
                    DiagnosticKind::Syntax {
                        expected: "an attribute name".into(),
                        found: "`)`".into(),
                    },
                    Span::new(open, pos + 1),
                    format!("`{agg}()` needs a series"),
                )
                .with_help(format!(
                    "write the series inside the parentheses: {agg}(`metrics/acc`)"
                )),
            );
        }
        return Some(
            Diagnostic::error(
                DiagnosticKind::EmptyGroup,
                Span::new(open, pos + 1),
                "nothing between the parentheses",
            )
            .with_help("put a clause inside the parentheses, or remove them"),
        );
    }
    // `median(x)` or `last(max(x))`: a name glued to `(` where an operator should follow.
    if rest.starts_with('(')
        && positives
            .iter()
            .any(|r| matches!(r, Rule::operator | Rule::type_annotation))
        && let Some((word, span)) = token_before(source, pos).filter(|(_, s)| s.end == pos)
    {
        let nested = Aggregate::from_name(&word).is_some();
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: if nested {
                        "an attribute name".into()
                    } else {
                        "an aggregate (average, last, max, min, variance)".into()
                    },
                    found: format!("`{word}(`"),
                },
                span,
                if nested {
                    "an aggregate inside an aggregate"
                } else {
                    "not an aggregate"
                },
            )
            .with_help(if nested {
                "aggregates cannot be nested: apply one to a floatSeries, as in max(`metrics/acc`)"
            } else {
                "the aggregates are average, last, max, min and variance"
            }),
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
    let (previous, previous_span) = token_before(source, pos)?;
    let keyword = previous.to_ascii_uppercase();
    let ahead = source[..previous_span.start].trim_end();
    // `AND x = 1`, `x = 1 AND AND y = 2`, `(OR x = 1)`: AND or OR where a clause should start
    // (the grammar read it as an attribute name).
    if (keyword == "AND" || keyword == "OR")
        && (ahead.is_empty() || ahead.ends_with('(') || ends_with_keyword(ahead, &["AND", "OR", "NOT"]))
    {
        let label = if ahead.is_empty() || ahead.ends_with('(') {
            "nothing before this to join"
        } else {
            "a clause should come here"
        };
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: "a clause".into(),
                    found: format!("`{previous}`"),
                },
                previous_span,
                label,
            )
            .with_help(format!(
                "{keyword} joins two clauses; remove it or put a clause before it"
            )),
        );
    }
    // `x = AND y = 1`, `x > NOT 1`: a keyword read as the value.
    if matches!(keyword.as_str(), "AND" | "OR" | "NOT") && ends_with_operator(ahead) {
        let help = if keyword == "NOT" {
            format!("NOT goes before the operator: `NOT {}`", last_word(ahead))
        } else {
            format!("the value is missing; if you mean the word {previous}, quote it: \"{previous}\"")
        };
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: "a value".into(),
                    found: format!("`{previous}`"),
                },
                previous_span,
                "read as the value",
            )
            .with_help(help),
        );
    }
    // `x => 1`, `x === 1`, `x <> 1`: the grammar took a prefix as the operator and the rest as
    // the value.
    if !previous.is_empty()
        && previous.chars().all(|c| "=<>!".contains(c))
        && !matches!(previous.as_str(), "=" | "==" | "!=" | "<" | "<=" | ">" | ">=")
    {
        return Some(
            Diagnostic::error(
                DiagnosticKind::Syntax {
                    expected: "an operator (= != < <= > >= CONTAINS MATCHES)".into(),
                    found: format!("`{previous}`"),
                },
                previous_span,
                "not an operator",
            )
            .with_help("the operators are = (or ==), !=, <, <=, >, >=, CONTAINS and MATCHES, each optionally after NOT"),
        );
    }
    None
}

/// True when `text` ends with a comparison operator, so that what follows is a value.
fn ends_with_operator(text: &str) -> bool {
    text.ends_with(['=', '<', '>']) || ends_with_keyword(text, &["CONTAINS", "MATCHES"])
}

/// True when `text` ends with one of `keywords` (any case) as a whole word.
fn ends_with_keyword(text: &str, keywords: &[&str]) -> bool {
    let word = last_word(text);
    keywords.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// The last run of characters of `text` without white space or parentheses.
fn last_word(text: &str) -> &str {
    let start = text
        .rfind(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .map_or(0, |i| i + text[i..].chars().next().map_or(1, char::len_utf8));
    &text[start..]
}

/// The aggregate named right before an opening parenthesis at the end of `text`, if any.
fn aggregate_before(text: &str) -> Option<Aggregate> {
    Aggregate::from_name(last_word(text.trim_end()))
}

/// True when `text` (the source before an opening parenthesis) ends with an aggregate name.
fn ends_with_aggregate(text: &str) -> bool {
    aggregate_before(text).is_some()
}

/// The positions of the parentheses still open at `upto`, outside names and strings.
fn unclosed_parens(source: &str, upto: usize) -> Vec<usize> {
    let bytes = source.as_bytes();
    let mut open = Vec::new();
    let mut i = 0;
    while i < upto.min(bytes.len()) {
        match bytes[i] {
            b'(' => open.push(i),
            b')' => {
                open.pop();
            }
            b'`' => i = skip_until(bytes, i + 1, b'`', false),
            q @ (b'"' | b'\'') if opens_string(source, i) => i = skip_until(bytes, i + 1, q, true),
            _ => {}
        }
        i += 1;
    }
    open
}

/// The token that ends before `pos` (white space skipped) and its span: a quoted string or
/// name as a whole, a parenthesis, or a run of other characters.
fn token_before(source: &str, pos: usize) -> Option<(String, Span)> {
    let before = source[..pos].trim_end();
    let last = before.chars().last()?;
    let end = before.len();
    let start = match last {
        '(' | ')' => end - 1,
        '"' | '\'' | '`' => {
            // Back to the opening quote, skipping escaped quotes in strings.
            let body = &before[..end - 1];
            let mut s = body.len();
            loop {
                match body[..s].rfind(last) {
                    Some(i) if last != '`' && body[..i].ends_with('\\') => s = i,
                    Some(i) => break i,
                    None => break end - 1,
                }
            }
        }
        _ => end - last_word(before).len(),
    };
    Some((before[start..].to_string(), Span::new(start, end)))
}

/// The text at `pos` (a word, a quoted string or name, or "end of query") and its span, for
/// "found ...".
fn token_at(source: &str, pos: usize) -> (String, Span) {
    let rest = &source[pos..];
    let Some(first) = rest.chars().next() else {
        return ("end of query".into(), Span::at(pos));
    };
    let len = if "()=<>!".contains(first) {
        rest.find(|c: char| !"=<>!".contains(c) || c == '(' || c == ')')
            .filter(|&n| n > 0)
            .unwrap_or(first.len_utf8())
    } else if matches!(first, '"' | '\'' | '`') {
        let end = skip_until(rest.as_bytes(), 1, first as u8, first != '`');
        (end + 1).min(rest.len())
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

/// "an attribute, NOT or `(`" from the rules pest tried; `closing` adds `)`.
fn describe(positives: &[Rule], closing: bool) -> String {
    let mut names: Vec<(u8, &str)> = positives
        .iter()
        .filter_map(|r| {
            Some(match r {
                Rule::not_kw => (1, "NOT"),
                Rule::group => (2, "`(`"),
                Rule::query | Rule::expr | Rule::and_expr | Rule::unary | Rule::clause => (0, "a clause"),
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
                Rule::EOI => (12, "end of query"),
                _ => return None,
            })
        })
        .collect();
    if closing {
        names.push((11, "`)`"));
    }
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.into_iter().map(|(_, n)| n).collect();
    match names.as_slice() {
        [] => "something else".into(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
