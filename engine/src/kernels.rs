//! The filter kernels of a table scan: a lowered NQL filter evaluated to a boolean mask over
//! the columns a query reads, with Arrow's kernels.
//!
//! A scan ([`crate::scan::NqlScanExec`]) hands its filter here instead of to a DataFusion
//! `FilterExec`: AND, OR and NOT combine whole masks bitwise, a clause on a dictionary-encoded
//! column is evaluated once per distinct value, the clauses NQL produces most are single
//! Arrow kernels, and anything else is compiled by DataFusion itself
//! (`create_physical_expr`). The answers are DataFusion's: the differential tests compare
//! them with a row-at-a-time reference and with DataFusion's own evaluation of the same
//! expressions.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, ListArray, RecordBatch, UInt32Array,
};
use datafusion::arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};
use datafusion::arrow::compute::kernels::boolean::{and_kleene, is_not_null, not, or_kleene};
use datafusion::arrow::compute::kernels::{cmp, comparison};
use datafusion::arrow::compute::prep_null_mask_filter;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::DFSchema;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, Operator, lit};
use datafusion::physical_expr::create_physical_expr;

use crate::cancel::Interrupt;
use crate::dictionary::Dictionary;
use crate::load::series::canonical;

/// Rows a costly clause (a regular expression) evaluates between two checks of the
/// interrupt; also the size of the slices other compiled expressions are evaluated in.
const ROWS_PER_CHECK: usize = 4096;

/// The rows of `batch` where `filter` is true, as a mask without nulls. `dictionaries` are
/// those of `batch`'s string columns, by column name. Stops with an error wrapping a
/// [`crate::cancel::Stop`] once `interrupt` says so.
pub(crate) fn filter_mask(
    batch: &RecordBatch,
    dictionaries: &HashMap<String, Arc<Dictionary>>,
    filter: &Expr,
    interrupt: &Interrupt,
) -> Result<BooleanArray> {
    let filter = without_redundant_null_checks(filter.clone(), &batch.schema())?;
    let masks = Masks {
        batch,
        dictionaries: Some(dictionaries),
        interrupt,
    };
    let mask = masks.evaluate(&filter)?;
    Ok(if mask.null_count() > 0 {
        prep_null_mask_filter(&mask)
    } else {
        mask
    })
}

/// `per_value[keys[r]]` for every row `r` (what `take` gives, null where the key or its
/// value is null), by byte lookups rather than a bit-by-bit take.
fn gather(per_value: &BooleanArray, keys: &UInt32Array) -> BooleanArray {
    if let Some(mask) = gather_few(per_value, keys) {
        return mask;
    }
    // Each distinct value's answer as two bits (1: true, 2: valid); a key out of range reads
    // as null. One pass over the keys fills the truth and validity bitmaps 64 rows at a time.
    let states: Vec<u8> = (0..per_value.len())
        .map(|v| u8::from(per_value.is_valid(v)) << 1 | u8::from(per_value.value(v)))
        .collect();
    let at = keys.values();
    let key_nulls = keys.nulls().filter(|n| n.null_count() > 0);
    let words = at.len().div_ceil(64);
    let (mut truth, mut valid) = (Vec::with_capacity(words), Vec::with_capacity(words));
    for (w, chunk) in at.chunks(64).enumerate() {
        let (mut t, mut v) = (0u64, 0u64);
        for (i, &k) in chunk.iter().enumerate() {
            let state = states.get(k as usize).copied().unwrap_or(0);
            t |= u64::from(state & 1) << i;
            v |= u64::from(state >> 1) << i;
        }
        if let Some(nulls) = key_nulls {
            for i in 0..chunk.len() {
                if nulls.is_null(w * 64 + i) {
                    v &= !(1 << i);
                }
            }
        }
        truth.push(t & v);
        valid.push(v);
    }
    let bitmap = |words: Vec<u64>| BooleanBuffer::new(Buffer::from_vec(words), 0, at.len());
    let valid = bitmap(valid);
    let nulls = (valid.count_set_bits() < at.len()).then(|| NullBuffer::new(valid));
    BooleanArray::new(bitmap(truth), nulls)
}

/// [`gather`] when the answer is true, or false, for only a few values besides those it is
/// null for (an equality, its negation): a comparison of the keys with each of them, which
/// Arrow vectorizes. `None` otherwise, or with null keys.
fn gather_few(per_value: &BooleanArray, keys: &UInt32Array) -> Option<BooleanArray> {
    const FEW: usize = 4;
    // (A key past the values reads as null in `gather`.)
    let in_range = datafusion::arrow::compute::max(keys).is_none_or(|k| (k as usize) < per_value.len());
    if keys.null_count() > 0 || !in_range {
        return None;
    }
    let with = |truth: Option<bool>| -> Vec<u32> {
        (0..per_value.len())
            .filter(|&v| per_value.is_valid(v).then(|| per_value.value(v)) == truth)
            .map(|v| v as u32)
            .collect()
    };
    let (nulls, trues, falses) = (with(None), with(Some(true)), with(Some(false)));
    let any_of = |values: &[u32]| -> Option<BooleanBuffer> {
        let mut out = BooleanBuffer::new_unset(keys.len());
        for &v in values {
            let hit = cmp::eq(
                keys,
                &datafusion::arrow::array::Scalar::new(UInt32Array::from(vec![v])),
            )
            .ok()?;
            out = &out | hit.values();
        }
        Some(out)
    };
    let (truth, nulls) = if trues.len() + nulls.len() <= FEW.min(falses.len() + nulls.len()) {
        (any_of(&trues)?, any_of(&nulls)?)
    } else if falses.len() + nulls.len() <= FEW {
        let nulls = any_of(&nulls)?;
        (!&(&any_of(&falses)? | &nulls), nulls)
    } else {
        return None;
    };
    let nulls = (nulls.count_set_bits() > 0).then(|| NullBuffer::new(!&nulls));
    Some(BooleanArray::new(truth, nulls))
}

/// Evaluates a lowered filter to a boolean mask over a batch, with SQL's three-valued logic
/// (the same answer DataFusion gives). AND, OR and NOT combine whole masks with Arrow's
/// bitwise kernels; a clause on one dictionary-encoded column is evaluated over its distinct
/// values and gathered by key; the clauses NQL produces most (a column compared with a
/// literal, a tag in a string set, a substring) run as single Arrow kernels; anything else is
/// compiled to a DataFusion `PhysicalExpr` over the columns it reads. The interrupt is
/// checked before every node and every few thousand rows of a costly clause.
struct Masks<'a> {
    batch: &'a RecordBatch,
    dictionaries: Option<&'a HashMap<String, Arc<Dictionary>>>,
    interrupt: &'a Interrupt,
}

impl Masks<'_> {
    fn evaluate(&self, expr: &Expr) -> Result<BooleanArray> {
        self.interrupt.check()?;
        if let Some(mask) = self.by_dictionary(expr)? {
            return Ok(mask);
        }
        Ok(match expr {
            Expr::BinaryExpr(b) if b.op == Operator::And => {
                let left = self.evaluate(&b.left)?;
                if left.null_count() == 0 && left.true_count() == 0 {
                    return Ok(left);
                }
                and_kleene(&left, &self.evaluate(&b.right)?)?
            }
            Expr::BinaryExpr(b) if b.op == Operator::Or => {
                let left = self.evaluate(&b.left)?;
                if left.null_count() == 0 && left.true_count() == left.len() {
                    return Ok(left);
                }
                or_kleene(&left, &self.evaluate(&b.right)?)?
            }
            Expr::Not(inner) => not(&self.evaluate(inner)?)?,
            Expr::Literal(ScalarValue::Boolean(Some(b)), _) => {
                let rows = self.batch.num_rows();
                let values = if *b {
                    BooleanBuffer::new_set(rows)
                } else {
                    BooleanBuffer::new_unset(rows)
                };
                BooleanArray::new(values, None)
            }
            _ => match self.kernel(expr)? {
                Some(mask) => mask,
                None => self.physical(expr)?,
            },
        })
    }

    /// `expr` over the distinct values of the one string column it reads, gathered by key.
    /// `None` when it reads other columns, or a column without a dictionary.
    fn by_dictionary(&self, expr: &Expr) -> Result<Option<BooleanArray>> {
        let Some(dictionaries) = self.dictionaries else {
            return Ok(None);
        };
        let columns = expr.column_refs();
        let mut columns = columns.iter();
        let (Some(column), None) = (columns.next(), columns.next()) else {
            return Ok(None);
        };
        let Some(dictionary) = dictionaries.get(&column.name) else {
            return Ok(None);
        };
        if matches!(
            self.batch.schema().field_with_name(&column.name)?.data_type(),
            DataType::List(_)
        ) {
            return Ok(None);
        }
        let distinct = Masks {
            batch: &dictionary.values,
            dictionaries: None,
            interrupt: self.interrupt,
        };
        let per_value = distinct.evaluate(expr)?;
        Ok(Some(gather(&per_value, &dictionary.keys)))
    }

    /// The column `expr` names, if it is a column of the batch.
    fn column(&self, expr: &Expr) -> Option<&ArrayRef> {
        match expr {
            Expr::Column(c) => self.batch.column_by_name(&c.name),
            _ => None,
        }
    }

    /// A clause one Arrow kernel answers: `column op literal`, `array_has(column, literal)`,
    /// `contains(column, literal)`, `regexp_like(column, literal)`. `None` for anything else.
    fn kernel(&self, expr: &Expr) -> Result<Option<BooleanArray>> {
        match expr {
            Expr::IsNotNull(inner) => match self.column(inner) {
                Some(column) => Ok(Some(is_not_null(column.as_ref())?)),
                None => Ok(None),
            },
            Expr::BinaryExpr(b) => {
                let (Some(column), Expr::Literal(value, _)) = (self.column(&b.left), b.right.as_ref()) else {
                    return Ok(None);
                };
                // DataFusion's simplifier writes `regexp_like(c, p)` as `c ~ p`.
                if matches!(b.op, Operator::RegexMatch | Operator::RegexNotMatch)
                    && matches!(
                        column.data_type(),
                        DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8
                    )
                    && let Some(Some(pattern)) = value.try_as_str()
                {
                    let matched = self.regex(column, pattern)?;
                    return Ok(Some(match b.op {
                        Operator::RegexMatch => matched,
                        _ => not(&matched)?,
                    }));
                }
                let Some(value) = comparable_scalar(value, column.data_type()) else {
                    return Ok(None);
                };
                let value = value.to_scalar()?;
                let column = column.as_ref();
                Ok(Some(match b.op {
                    Operator::Eq => cmp::eq(&column, &value)?,
                    Operator::NotEq => cmp::neq(&column, &value)?,
                    Operator::Lt => cmp::lt(&column, &value)?,
                    Operator::LtEq => cmp::lt_eq(&column, &value)?,
                    Operator::Gt => cmp::gt(&column, &value)?,
                    Operator::GtEq => cmp::gt_eq(&column, &value)?,
                    _ => return Ok(None),
                }))
            }
            Expr::ScalarFunction(f) => {
                let [target, Expr::Literal(needle, _)] = f.args.as_slice() else {
                    return Ok(None);
                };
                let (Some(column), Some(needle)) = (self.column(target), needle.try_as_str().flatten())
                else {
                    return Ok(None);
                };
                match (f.name(), column.data_type()) {
                    ("array_has", DataType::List(_)) => {
                        let dictionary = match target {
                            Expr::Column(c) => {
                                self.dictionaries.and_then(|d| d.get(&c.name).map(|d| d.as_ref()))
                            }
                            _ => None,
                        };
                        list_has(column.as_list::<i32>(), needle, dictionary)
                    }
                    ("regexp_like", DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8) => {
                        self.regex(column, needle).map(Some)
                    }
                    ("contains", DataType::Utf8View | DataType::Utf8 | DataType::LargeUtf8) => {
                        let needle = ScalarValue::Utf8(Some(needle.to_string()))
                            .cast_to(column.data_type())?
                            .to_scalar()?;
                        Ok(Some(comparison::contains(column, &needle)?))
                    }
                    _ => Ok(None),
                }
            }
            _ => Ok(None),
        }
    }

    /// `regexp_like(column, pattern)` as DataFusion answers it (Arrow's
    /// `regexp_is_match_scalar`: an empty pattern matches everything, NULL stays NULL), with
    /// the pattern compiled once and the interrupt checked every [`ROWS_PER_CHECK`] rows: a
    /// regular expression over long strings is the costliest clause NQL has.
    fn regex(&self, column: &ArrayRef, pattern: &str) -> Result<BooleanArray> {
        let rows = column.len();
        let nulls = column.logical_nulls();
        if pattern.is_empty() {
            return Ok(BooleanArray::new(BooleanBuffer::new_set(rows), nulls));
        }
        // Lowering made every group non-capturing (`nql::lower::without_captures`), so the
        // search allocates no capture slots however many groups the query wrote.
        let re = regex::Regex::new(pattern)
            .map_err(|e| DataFusionError::Execution(format!("Regular expression did not compile: {e}")))?;
        let mut values = BooleanBufferBuilder::new(rows);
        let mut matches = |value: Option<&str>| values.append(value.is_some_and(|v| re.is_match(v)));
        for start in (0..rows).step_by(ROWS_PER_CHECK) {
            self.interrupt.check()?;
            let end = (start + ROWS_PER_CHECK).min(rows);
            match column.data_type() {
                DataType::Utf8View => column
                    .as_string_view()
                    .slice(start, end - start)
                    .iter()
                    .for_each(&mut matches),
                DataType::Utf8 => column
                    .as_string::<i32>()
                    .slice(start, end - start)
                    .iter()
                    .for_each(&mut matches),
                DataType::LargeUtf8 => column
                    .as_string::<i64>()
                    .slice(start, end - start)
                    .iter()
                    .for_each(&mut matches),
                other => return Err(DataFusionError::Internal(format!("regexp_like over {other}"))),
            }
        }
        Ok(BooleanArray::new(values.finish(), nulls))
    }

    /// Any other expression, compiled by DataFusion and evaluated over a zero-copy projection
    /// of the columns it reads, in slices of [`ROWS_PER_CHECK`] rows with a check of the
    /// interrupt between two.
    fn physical(&self, expr: &Expr) -> Result<BooleanArray> {
        let schema = self.batch.schema();
        let mut indices: Vec<usize> = expr
            .column_refs()
            .into_iter()
            .map(|c| schema.index_of(&c.name))
            .collect::<Result<_, _>>()?;
        indices.sort_unstable();
        indices.dedup();
        let batch = self.batch.project(&indices)?;
        let df_schema = DFSchema::try_from(batch.schema().as_ref().clone())?;
        let physical = create_physical_expr(
            expr,
            &df_schema,
            &ExecutionProps::new(),
            &PhysicalPlanningContext::default(),
        )?;
        let rows = batch.num_rows();
        let mut masks = Vec::with_capacity(rows.div_ceil(ROWS_PER_CHECK));
        for start in (0..rows.max(1)).step_by(ROWS_PER_CHECK) {
            self.interrupt.check()?;
            let slice = batch.slice(start.min(rows), ROWS_PER_CHECK.min(rows - start.min(rows)));
            masks.push(physical.evaluate(&slice)?.into_array(slice.num_rows())?);
        }
        let mask = match masks.as_slice() {
            [one] => one.clone(),
            many => {
                let many: Vec<&dyn Array> = many.iter().map(|m| m.as_ref()).collect();
                datafusion::arrow::compute::concat(&many)?
            }
        };
        Ok(mask
            .as_boolean_opt()
            .ok_or_else(|| DataFusionError::Internal(format!("filter `{expr}` is not boolean")))?
            .clone())
    }
}

/// `value` as a scalar of exactly the column's type, compared the way DataFusion compares it:
/// floats with -0.0 as 0.0 and one NaN (the columns are stored that way). `None` when the
/// types differ, so that DataFusion's coercion handles the clause.
fn comparable_scalar(value: &ScalarValue, column: &DataType) -> Option<ScalarValue> {
    if value.is_null() || &value.data_type() != column {
        return None;
    }
    Some(match value {
        ScalarValue::Float64(Some(v)) => ScalarValue::Float64(Some(canonical(*v))),
        v => v.clone(),
    })
}

/// For each list, whether it holds `needle` (NULL for a NULL list), as `array_has` answers.
/// With the dictionary of the elements, the needle is looked up once and then compared as a
/// key.
fn list_has(
    lists: &ListArray,
    needle: &str,
    dictionary: Option<&Dictionary>,
) -> Result<Option<BooleanArray>> {
    let offsets = lists.value_offsets();
    let (first, last) = (offsets[0] as usize, offsets[lists.len()] as usize);
    let hits = match dictionary {
        Some(dictionary) => {
            let distinct = dictionary.values.column(0);
            let needle = ScalarValue::Utf8(Some(needle.to_string()))
                .cast_to(distinct.data_type())?
                .to_scalar()?;
            let matching = cmp::eq(distinct, &needle)?;
            let key = matching.iter().position(|m| m == Some(true)).map(|k| k as u32);
            let keys = &dictionary.keys.values()[first..last];
            match key {
                Some(key) => BooleanBuffer::collect_bool(keys.len(), |i| keys[i] == key),
                None => BooleanBuffer::new_unset(keys.len()),
            }
        }
        None => {
            let values = lists.values().slice(first, last - first);
            if !matches!(
                values.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) {
                return Ok(None);
            }
            let needle = ScalarValue::Utf8(Some(needle.to_string()))
                .cast_to(values.data_type())?
                .to_scalar()?;
            let hits = cmp::eq(&values, &needle)?;
            match hits.nulls() {
                Some(nulls) => hits.values() & nulls.inner(),
                None => hits.values().clone(),
            }
        }
    };
    let mut found = BooleanBufferBuilder::new(lists.len());
    found.append_n(lists.len(), false);
    let mut row = 0;
    for hit in hits.set_indices() {
        while offsets[row + 1] as usize - first <= hit {
            row += 1;
        }
        found.set_bit(row, true);
    }
    Ok(Some(BooleanArray::new(found.finish(), lists.nulls().cloned())))
}

/// Drops the `c IS NOT NULL` guards of columns that hold no nulls (`x AND true` is `x`), so
/// that most filters need no AND at all.
fn without_redundant_null_checks(filter: Expr, schema: &Schema) -> Result<Expr> {
    let always = |e: &Expr| match e {
        Expr::IsNotNull(inner) => match inner.as_ref() {
            Expr::Column(c) => schema.field_with_name(&c.name).is_ok_and(|f| !f.is_nullable()),
            _ => false,
        },
        _ => false,
    };
    filter
        .transform_up(|e| {
            Ok(match e {
                Expr::BinaryExpr(b) if b.op == Operator::And && always(&b.right) => Transformed::yes(*b.left),
                Expr::BinaryExpr(b) if b.op == Operator::And && always(&b.left) => Transformed::yes(*b.right),
                e if always(&e) => Transformed::yes(lit(true)),
                e => Transformed::no(e),
            })
        })
        .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::compute::take;

    #[test]
    fn gathering_by_key_is_a_take() {
        let per_value = BooleanArray::from(vec![Some(true), None, Some(false), Some(true)]);
        let plain = UInt32Array::from(vec![3, 0, 2, 2, 1, 0]);
        let with_nulls = UInt32Array::from(vec![Some(3), None, Some(1), Some(2), None, Some(0)]);
        for keys in [&plain, &with_nulls] {
            let want = take(&per_value, keys, None).unwrap();
            assert_eq!(&gather(&per_value, keys), want.as_boolean(), "{keys:?}");
        }
        let no_nulls = BooleanArray::from(vec![true, false]);
        let keys = UInt32Array::from(vec![1, 1, 0]);
        assert_eq!(
            &gather(&no_nulls, &keys),
            take(&no_nulls, &keys, None).unwrap().as_boolean()
        );
    }

    #[test]
    fn gathering_many_keys_across_words_is_a_take() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for (rows, values) in [0, 1, 63, 64, 65, 1000]
            .into_iter()
            .flat_map(|r| [(r, 5), (r, 12)])
        {
            let per_value: BooleanArray = (0..values)
                .map(|_| match next(3) {
                    0 => None,
                    v => Some(v == 1),
                })
                .collect();
            let keys: UInt32Array = (0..rows).map(|_| Some(next(5) as u32)).collect();
            let with_nulls: UInt32Array = (0..rows).map(|_| (next(4) > 0).then(|| next(5) as u32)).collect();
            for keys in [&keys, &with_nulls] {
                let want = take(&per_value, keys, None).unwrap();
                assert_eq!(&gather(&per_value, keys), want.as_boolean(), "{rows} rows");
            }
        }
    }
}
