//! A ledger from columns handed over one by one, each as the chunks it is stored in.
//!
//! A Polars frame exports a column's chunks as they are, but exports a whole frame of several
//! chunks only after copying it into one (and converting it chunk by chunk to record batches
//! costs a fixed price per chunk, more than the kernels spend on a chunk of a few thousand
//! rows). So the frame's columns come over separately, and the batches are assembled here:
//! the columns' chunks are sliced (no copy) at every chunk boundary of any column, so the
//! batches share them, and a struct column's fields become columns of their own.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{make_array, Array, ArrayRef, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};

use super::input::Ledger;
use crate::Error;

/// One column as its chunks, in row order.
type Chunked = (String, Vec<ArrayRef>);

/// The ledger of `columns`, each a name and its chunks: a struct column `s` gives a column
/// `s.<field>` per field (null where the struct is), not a column `s`. Every column must have
/// as many rows as the others.
pub fn from_columns(columns: Vec<Chunked>) -> Result<Ledger, Error> {
    let columns: Vec<Chunked> = columns
        .into_iter()
        .flat_map(
            |(name, chunks)| match chunks.first().map(|c| c.data_type()) {
                Some(DataType::Struct(_)) => fields_of(&name, &chunks),
                _ => vec![(name, chunks)],
            },
        )
        .collect();
    let rows = |chunks: &[ArrayRef]| chunks.iter().map(|c| c.len()).sum::<usize>();
    let total = columns.first().map_or(0, |(_, c)| rows(c));
    if let Some((name, _)) = columns.iter().find(|(_, c)| rows(c) != total) {
        return Err(Error::Argument(format!(
            "column {name:?} does not have as many rows as column {:?}",
            columns[0].0
        )));
    }
    // Every column's chunk boundaries, merged: each batch lies within one chunk of each column.
    let mut cuts: Vec<usize> = columns
        .iter()
        .flat_map(|(_, chunks)| {
            chunks.iter().scan(0, |end, c| {
                *end += c.len();
                Some(*end)
            })
        })
        .filter(|&end| end < total)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let bounds: Vec<(usize, usize)> = std::iter::once(0)
        .chain(cuts.iter().copied())
        .zip(cuts.iter().copied().chain(std::iter::once(total)))
        .filter(|(start, end)| end > start)
        .collect();
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, chunks)| {
                let data_type = chunks
                    .first()
                    .map_or(DataType::Null, |c| c.data_type().clone());
                Field::new(name, data_type, true)
            })
            .collect::<Vec<_>>(),
    ));
    let per_column: Vec<Vec<ArrayRef>> = columns
        .iter()
        .map(|(_, chunks)| pieces(chunks, &bounds))
        .collect();
    let batches = (0..bounds.len())
        .map(|b| {
            let arrays = per_column.iter().map(|p| Arc::clone(&p[b])).collect();
            RecordBatch::try_new(Arc::clone(&schema), arrays)
                .map_err(|e| Error::Argument(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Ledger::new(schema, batches))
}

/// `chunks` cut into one array per `(start, end)` of `bounds`, which are ascending, cover
/// the rows and cross no chunk boundary. A piece that is a whole chunk is that chunk.
fn pieces(chunks: &[ArrayRef], bounds: &[(usize, usize)]) -> Vec<ArrayRef> {
    let mut out = Vec::with_capacity(bounds.len());
    let mut chunks = chunks.iter().filter(|c| !c.is_empty());
    let (mut chunk, mut chunk_start) = (chunks.next(), 0);
    for &(start, end) in bounds {
        let mut c = chunk.expect("the bounds lie within the rows");
        while start >= chunk_start + c.len() {
            chunk_start += c.len();
            chunk = chunks.next();
            c = chunk.expect("the bounds lie within the rows");
        }
        out.push(if end - start == c.len() {
            Arc::clone(c)
        } else {
            c.slice(start - chunk_start, end - start)
        });
    }
    out
}

/// The fields of struct column `name`, each as column `name.<field>`, null where the struct
/// is null (a field's own value there is unspecified).
fn fields_of(name: &str, chunks: &[ArrayRef]) -> Vec<Chunked> {
    let DataType::Struct(fields) = chunks[0].data_type() else {
        unreachable!("called for struct columns")
    };
    fields
        .iter()
        .enumerate()
        .map(|(f, field)| {
            let pieces = chunks
                .iter()
                .map(|c| {
                    let s = c.as_struct();
                    let child = s.column(f);
                    match s.nulls() {
                        None => Arc::clone(child),
                        Some(outer) => {
                            let nulls = NullBuffer::union(Some(outer), child.nulls());
                            let data = child.to_data().into_builder().nulls(nulls);
                            // SAFETY: the child was valid, and only more of its rows are null,
                            // which any value allows. (`build` would check every string again.)
                            make_array(unsafe { data.build_unchecked() })
                        }
                    }
                })
                .collect();
            (format!("{name}.{}", field.name()), pieces)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, StringViewArray, StructArray};
    use arrow_schema::Fields;

    use super::*;

    fn ints(values: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    #[test]
    fn columns_chunked_apart_become_batches_cut_at_every_boundary() {
        // `a` in chunks of 2 + 3 + 1 (and an empty one), `b` of 4 + 2, `tags` of 6, whose
        // second row is a null struct over a field value that must not show through.
        let a = vec![ints(&[0, 1]), ints(&[]), ints(&[2, 3, 4]), ints(&[5])];
        let b = vec![ints(&[10, 11, 12, 13]), ints(&[14, 15])];
        let tenant: ArrayRef = Arc::new(StringViewArray::from(vec![
            Some("t0"),
            Some("hidden"),
            None,
            Some("t3"),
            Some("a-tenant-longer-than-twelve"),
            Some("t5"),
        ]));
        let fields = Fields::from(vec![Field::new("tenant", DataType::Utf8View, true)]);
        let nulls = NullBuffer::from(vec![true, false, true, true, true, true]);
        let tags: ArrayRef = Arc::new(StructArray::new(fields, vec![tenant], Some(nulls)));
        let ledger = from_columns(vec![
            ("a".into(), a),
            ("b".into(), b),
            ("tags".into(), vec![tags]),
        ])
        .unwrap();
        assert_eq!(ledger.rows(), 6);
        let names: Vec<&str> = ledger
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["a", "b", "tags.tenant"]);
        let lens = |name: &str| -> Vec<usize> {
            ledger
                .column(name)
                .unwrap()
                .iter()
                .map(|c| c.len())
                .collect()
        };
        // Cuts at 2 (a), 4 (b), 5 (a): every column in the same four batches.
        for name in ["a", "b", "tags.tenant"] {
            assert_eq!(lens(name), [2, 2, 1, 1], "{name}");
        }
        let flat = |name: &str| -> Vec<i64> {
            ledger
                .column(name)
                .unwrap()
                .iter()
                .flat_map(|c| {
                    c.as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .to_vec()
                })
                .collect()
        };
        assert_eq!(flat("a"), [0, 1, 2, 3, 4, 5]);
        assert_eq!(flat("b"), [10, 11, 12, 13, 14, 15]);
        let tenants: Vec<Option<String>> = ledger
            .column("tags.tenant")
            .unwrap()
            .iter()
            .flat_map(|c| {
                c.as_string_view()
                    .iter()
                    .map(|v| v.map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            tenants,
            [
                Some("t0".into()),
                None,
                None,
                Some("t3".into()),
                Some("a-tenant-longer-than-twelve".into()),
                Some("t5".into())
            ]
        );
    }

    #[test]
    fn columns_of_different_lengths_are_refused() {
        let err = from_columns(vec![
            ("a".into(), vec![ints(&[1, 2])]),
            ("b".into(), vec![ints(&[1])]),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column \"b\" does not have as many rows as column \"a\""
        );
    }
}
