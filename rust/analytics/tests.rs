use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Decimal128Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringViewArray};
use arrow_schema::{DataType, Field, Schema};

use super::codes::Codes;
use super::input::RowRange;
use super::*;
use crate::pricing::{Catalog, BUCKETS};

const DAY: i64 = 86_400_000_000;

/// Model 0: two dated versions and a batch variant; model 1: a 200k tier and a request fee;
/// model 2: daily off-peak rates that wrap midnight, and a flex variant from day 20_000.
fn catalog() -> Catalog {
    Catalog::from_json(
        r#"{"modes": ["batch", "flex"], "models": [
          {"versions": [
             {"when": null, "rates": {"input_mtok": {"base": 2500000}, "output_mtok": {"base": 10000000},
                                      "cache_read_mtok": {"base": 1250000}}},
             {"when": {"from_day": 20454}, "rates": {"input_mtok": {"base": 2000000},
                                      "output_mtok": {"base": 10000000}}}],
           "variants": [{"mode": 0, "when": null,
                         "rates": {"input_mtok": {"base": 1250000}, "output_mtok": {"base": 5000000}}}]},
          {"versions": [{"when": null, "rates": {
             "input_mtok": {"base": 1250000, "tiers": [[200000, 2500000]]},
             "output_mtok": {"base": 10000000, "tiers": [[200000, 15000000]]},
             "cache_write_mtok": {"base": 1562500}, "cache_write_1h_mtok": {"base": 2500000},
             "requests_kcount": {"base": 7000}}}]},
          {"versions": [
             {"when": {"daily": [1800, 59400]}, "rates": {"input_mtok": {"base": 270000}}},
             {"when": {"daily": [59400, 1800]}, "rates": {"input_mtok": {"base": 135000}}}],
           "variants": [{"mode": 1, "when": {"from_day": 20000},
                         "rates": {"input_mtok": {"base": 100000}}}]}
        ]}"#,
    )
    .unwrap()
}

/// A small deterministic generator (SplitMix64), so the test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn repricer_equals_catalog_price_at_every_switch_point_and_tier_edge() {
    let c = catalog();
    let pairs: Vec<(u32, Option<u32>)> = (0..3)
        .flat_map(|m| [(m, None), (m, Some(0)), (m, Some(1))])
        .collect();
    let r = Repricer::new(&c, &pairs).unwrap();
    // Instants around every switch: day 20454 and 20000 midnights, 00:30 and 16:30 daily.
    let edges = [
        20454 * DAY,
        20000 * DAY,
        20100 * DAY + 1_800_000_000,
        20100 * DAY + 59_400_000_000,
    ];
    let mut rng = Rng(7);
    let mut checked = 0;
    for _ in 0..20_000 {
        let ts = match rng.below(3) {
            0 => edges[rng.below(4) as usize] + rng.below(3) as i64 - 1,
            1 => 19_900 * DAY + rng.below(700) as i64 * DAY + rng.below(DAY as u64) as i64,
            _ => -(rng.below(10 * DAY as u64) as i64),
        };
        let mut tokens = [0i64; 8];
        for t in &mut tokens {
            *t = if rng.below(3) == 0 {
                0
            } else {
                rng.below(120_000) as i64
            };
        }
        if rng.below(4) == 0 {
            // Total input exactly at, or one past, the 200k threshold.
            tokens = [
                200_000 - tokens[1] - tokens[2] - tokens[3] - tokens[6],
                tokens[1],
                tokens[2],
                tokens[3],
                tokens[4],
                0,
                tokens[6],
                0,
            ];
            tokens[0] = tokens[0].max(0) + rng.below(2) as i64;
        }
        let ppm = [0, 0, 100_000, 333_333, 5][rng.below(5) as usize];
        let pair = rng.below(pairs.len() as u64) as u32;
        let (model, mode) = pairs[pair as usize];
        let as_u64 = tokens.map(|t| t as u64);
        let want = c
            .price(model as usize, ts, mode, &as_u64, ppm)
            .unwrap()
            .total;
        assert_eq!(
            r.cost(pair, ts, &tokens, ppm).unwrap(),
            want,
            "model {model} mode {mode:?} ts {ts} {tokens:?} ppm {ppm}"
        );
        checked += 1;
    }
    assert_eq!(checked, 20_000);
}

fn ledger(rows: &[(i64, &str, Option<i64>, Option<f64>)]) -> Table {
    let mut fields = vec![
        Field::new("at_us", DataType::Int64, false),
        Field::new("tenant", DataType::Utf8View, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(StringViewArray::from_iter_values(rows.iter().map(|r| r.1))),
    ];
    for (b, name) in BUCKETS.iter().enumerate() {
        fields.push(Field::new(*name, DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|_| b as i64 + 1),
        )));
    }
    fields.push(Field::new("cost", DataType::Int64, true));
    cols.push(Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))));
    fields.push(Field::new("latency_ms", DataType::Float64, true));
    cols.push(Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.3))));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols).unwrap();
    Table::new(Ledger::new(schema, vec![batch]))
}

fn spec(keys: Vec<Key>) -> RollupSpec {
    RollupSpec {
        latency: LatencyOut::Stats,
        keys,
        time_column: "at_us".into(),
        zone: "UTC".parse().unwrap(),
        since_us: None,
        until_us: None,
        filters: vec![],
        rates: None,
    }
}

#[test]
fn rollup_sums_exactly_and_keeps_unpriced_groups_null() {
    // A long tenant name exercises the view path that reads string bytes.
    let long = "a-tenant-name-longer-than-twelve-bytes";
    let t = ledger(&[
        (0, "acme", Some(9_000_000_000_000_000_000), Some(3.0)),
        (DAY - 1, "acme", Some(9_000_000_000_000_000_000), Some(1.0)),
        (DAY, "acme", Some(5), None),
        (DAY + 1, long, None, Some(2.0)),
    ]);
    let batch = rollup(
        &t,
        &spec(vec![
            Key::Column("tenant".into()),
            Key::Time(Unit::Day, "day".into()),
        ]),
    )
    .unwrap();
    assert_eq!(batch.num_rows(), 3);
    let calls = batch
        .column_by_name("calls")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(calls.values().to_vec(), vec![2, 1, 1]);
    let cost = batch
        .column_by_name("cost")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    // 1.8e19 pico-USD: past i64, exact in the i128 sum.
    assert_eq!(cost.value(0), 18_000_000_000_000_000_000);
    assert_eq!(cost.value(1), 5);
    assert!(cost.is_null(2));
    let tenant = batch.column_by_name("tenant").unwrap().as_string::<i32>();
    assert_eq!(tenant.value(2), long);
    let p50 = batch
        .column_by_name("latency_ms_p50")
        .unwrap()
        .as_primitive::<arrow_array::types::Float64Type>();
    assert_eq!(p50.value(0), 2.0);
    assert!(p50.is_null(1));
    let tokens = batch
        .column_by_name("output_tokens")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(tokens.values().to_vec(), vec![10, 5, 5]);
}

#[test]
fn latency_values_give_the_statistics_of_the_groups_they_came_from() {
    let t = ledger(&[
        (0, "acme", Some(1), Some(3.0)),
        (1, "beta", Some(1), None),
        (2, "acme", Some(1), Some(1.0)),
        (3, "acme", Some(1), Some(2.5)),
    ]);
    let keys = vec![Key::Column("tenant".into())];
    let stats = rollup(&t, &spec(keys.clone())).unwrap();
    let mut with_values = spec(keys);
    with_values.latency = LatencyOut::Values;
    let values = rollup(&t, &with_values).unwrap();
    let lists = values
        .column_by_name("latency_ms_values")
        .unwrap()
        .as_list::<i64>();
    assert_eq!(lists.value_offsets(), &[0, 3, 3]); // acme's three in row order, beta none
    assert!(values.column_by_name("latency_ms_p50").is_none());
    let input = RecordBatch::try_from_iter([(
        "latency_ms_values",
        values.column_by_name("latency_ms_values").unwrap().clone(),
    )])
    .unwrap();
    let merged = latency_stats(&[input]).unwrap();
    for name in [
        "latency_ms_mean",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_max",
    ] {
        assert_eq!(
            merged.column_by_name(name).unwrap().as_ref(),
            stats.column_by_name(name).unwrap().as_ref(),
            "{name}"
        );
    }
}

#[test]
fn latency_sums_give_each_groups_sum_count_and_max() {
    let t = ledger(&[
        (0, "acme", Some(1), Some(3.0)),
        (1, "beta", Some(1), None),
        (2, "acme", Some(1), Some(1.0)),
        (3, "acme", Some(1), Some(2.25)),
    ]);
    let mut s = spec(vec![Key::Column("tenant".into())]);
    s.latency = LatencyOut::Sums;
    let sums = rollup(&t, &s).unwrap();
    let column = |name: &str| sums.column_by_name(name).unwrap().clone();
    let sum = column("latency_ms_sum");
    let max = column("latency_ms_max");
    assert_eq!(
        sum.as_primitive::<Float64Type>().values().to_vec(),
        vec![6.25, 0.0]
    );
    assert_eq!(
        column("latency_calls")
            .as_primitive::<Int64Type>()
            .values()
            .to_vec(),
        vec![3, 0]
    );
    let max = max.as_primitive::<Float64Type>();
    assert_eq!((max.value(0), max.is_null(1)), (3.0, true)); // beta has no latency
    assert!(sums.column_by_name("latency_ms_mean").is_none());
}

#[test]
fn rollup_of_nothing_has_the_schema_and_no_rows() {
    let t = ledger(&[(0, "acme", Some(1), None)]);
    let mut s = spec(vec![
        Key::Column("tenant".into()),
        Key::Time(Unit::Month, "month".into()),
    ]);
    s.filters = vec![("tenant".into(), KeyValue::Str("nobody".into()))];
    let batch = rollup(&t, &s).unwrap();
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(batch.schema().field(1).name(), "month");
}

#[test]
fn rollup_of_a_ledger_without_rows_has_no_rows() {
    // No rows, no row ranges: the totals have no span to start from.
    let t = ledger(&[]);
    for keys in [vec![], vec![Key::Column("tenant".into())]] {
        let batch = rollup(&t, &spec(keys)).unwrap();
        assert_eq!(batch.num_rows(), 0);
    }
}

#[test]
fn hour_buckets_in_a_zone_keep_the_repeated_hour_apart() {
    // 2026-10-25 01:00 UTC: Paris goes from 03:00 CEST back to 02:00 CET.
    let switch = 20_386 * DAY + 3_600_000_000;
    let b = timebucket::Buckets::new(
        Unit::Hour,
        "Europe/Paris".parse().unwrap(),
        switch - 3_600_000_000,
        switch + 3_599_999_999,
    );
    assert_eq!(b.starts, vec![switch - 3_600_000_000, switch]);
    let fixed = timebucket::Buckets::new(Unit::Day, "+05:30".parse().unwrap(), 0, DAY);
    assert_eq!(fixed.starts, vec![-19_800_000_000, DAY - 19_800_000_000]);
    assert_eq!(fixed.index(DAY - 19_800_000_001), 0);
    assert_eq!(fixed.index(DAY - 19_800_000_000), 1);
}

/// Re-priced rows, by route and instant, as `Route` defines them: the day tables of
/// `reprice_all` must give exactly this, whether a route switches at midnight, within a day,
/// carries a discount, has time-of-day prices, or has no price.
fn expected_costs(rates: &Rates, table: &Table) -> Vec<Option<i64>> {
    let ledger = table.ledger();
    let at = ledger.ints("at_us").unwrap();
    let models = table.encoded("tenant").unwrap();
    (0..ledger.rows())
        .map(|i| {
            let ts = at[0].raw(i);
            let route = &rates.routes[models.codes.get(i) as usize];
            let rate = if ts >= route.from_us {
                route.main
            } else {
                route.before
            };
            let tokens: [i64; 8] = std::array::from_fn(|b| b as i64 + 1);
            rate.map(|(pair, ppm)| rates.repricer.cost(pair, ts, &tokens, ppm).unwrap())
        })
        .collect()
}

#[test]
fn day_tables_price_every_route_as_its_route_says() {
    let pairs = [(0, None), (1, None), (2, None)];
    let mid = 20454 * DAY + 3 * 3_600_000_000;
    // Routes by the codes of `tenant` (first appearance: r0, r1, ...).
    let routes = vec![
        Route {
            from_us: i64::MIN,
            main: Some((0, 0)),
            before: None,
        },
        Route {
            from_us: mid,
            main: Some((1, 0)),
            before: Some((0, 0)),
        },
        Route {
            from_us: 20455 * DAY,
            main: Some((1, 0)),
            before: Some((0, 0)),
        },
        Route {
            from_us: i64::MIN,
            main: Some((0, 125_000)),
            before: None,
        },
        Route {
            from_us: i64::MIN,
            main: None,
            before: None,
        },
        Route {
            from_us: i64::MIN,
            main: Some((2, 0)),
            before: None,
        },
    ];
    let rates = Rates {
        repricer: Repricer::new(&catalog(), &pairs).unwrap(),
        model_key: vec!["tenant".into()],
        mode_key: None,
        routes,
        id: next_id(),
    };
    let names = ["r0", "r1", "r2", "r3", "r4", "r5"];
    let edges = [
        20453 * DAY,
        20454 * DAY,
        20455 * DAY,
        mid,
        20454 * DAY + 1_800_000_000,
    ];
    let mut rng = Rng(11);
    let near: Vec<(i64, &str, Option<i64>, Option<f64>)> = (0..6_000)
        .map(|i| {
            let ts = if rng.below(2) == 0 {
                edges[rng.below(5) as usize] + rng.below(3) as i64 - 1
            } else {
                20452 * DAY + rng.below(5 * DAY as u64) as i64
            };
            (ts, names[i % 6], None, None)
        })
        .collect();
    // Rows over 60 years: too many days for a table, every row takes the full look-up.
    let far: Vec<_> = near
        .iter()
        .enumerate()
        .map(|(i, r)| (r.0 + (i as i64 % 22_000 - 11_000) * DAY, r.1, None, None))
        .collect();
    for rows in [near, far] {
        let t = ledger(&rows);
        assert_eq!(
            reprice_rows(&t, "at_us", &rates).unwrap(),
            expected_costs(&rates, &t)
        );
    }
}

/// A part with `card` distinct integer values and random codes for `rows` rows, in the width
/// an encoded column of `card` values has.
fn random_part(rng: &mut Rng, card: usize, rows: usize) -> Arc<Encoded> {
    let local: Vec<u32> = (0..rows).map(|_| rng.below(card as u64) as u32).collect();
    let mut codes = Codes::with_capacity(card, rows);
    codes.push(&local, card, rows);
    Arc::new(Encoded {
        codes,
        keys: Keys::Values((0..card as i64).map(KeyValue::Int).collect()),
    })
}

#[test]
fn combine_numbers_tuples_by_first_appearance_in_narrow_and_wide_key_spaces() {
    let mut rng = Rng(7);
    let rows = 20_000; // several blocks, split across threads
                       // 3 * 1000 * 7 keys fit 64 bits; 70_000^5 do not, and take the 128-bit path.
    for cards in [vec![3, 1000, 7], vec![70_000; 5]] {
        let parts: Vec<Arc<Encoded>> = cards
            .iter()
            .map(|&c| random_part(&mut rng, c, rows))
            .collect();
        let combined = encode::combine(&parts, rows);
        let mut seen: std::collections::HashMap<Vec<u32>, u32> = Default::default();
        let mut tuples = Vec::new();
        for i in 0..rows {
            let tuple: Vec<u32> = parts.iter().map(|p| p.codes.get(i)).collect();
            let next = seen.len() as u32;
            let code = *seen.entry(tuple.clone()).or_insert(next);
            if code == next {
                tuples.extend(tuple);
            }
            assert_eq!(
                combined.codes.get(i),
                code,
                "row {i}, cardinalities {cards:?}"
            );
        }
        match &combined.keys {
            Keys::Tuples { codes, .. } => assert_eq!(*codes, tuples),
            Keys::Values(_) | Keys::Radix { .. } => panic!("a combination has tuple keys"),
        }
    }
}

/// A ledger of `rows` calls over 200 days, with a key column `a` (random values below
/// `card`) and `day_a`, each row's day and `a` joined: one column with the same groups as
/// the pair (day, `a`).
fn day_pair_ledger(rng: &mut Rng, rows: usize, card: u64) -> Table {
    let at: Vec<i64> = (0..rows as i64)
        .map(|i| i * 200 * DAY / rows as i64)
        .collect();
    let a: Vec<String> = (0..rows).map(|_| format!("a{}", rng.below(card))).collect();
    let day_a = at.iter().zip(&a).map(|(t, a)| format!("{}|{a}", t / DAY));
    let mut fields = vec![
        Field::new("at_us", DataType::Int64, false),
        Field::new("a", DataType::Utf8View, false),
        Field::new("day_a", DataType::Utf8View, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(at.iter().copied())),
        Arc::new(StringViewArray::from_iter_values(&a)),
        Arc::new(StringViewArray::from_iter_values(day_a)),
    ];
    for name in BUCKETS {
        fields.push(Field::new(name, DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from_iter_values(
            (0..rows).map(|_| rng.below(3) as i64),
        )));
    }
    fields.push(Field::new("cost", DataType::Int64, true));
    cols.push(Arc::new(Int64Array::from_iter((0..rows).map(|_| {
        Some(rng.below(1_000_000) as i64).filter(|c| c % 7 != 0)
    }))));
    fields.push(Field::new("latency_ms", DataType::Float64, true));
    cols.push(Arc::new(Float64Array::from_iter_values(
        (0..rows).map(|_| rng.below(1000) as f64 / 8.0),
    )));
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols).unwrap();
    Table::new(Ledger::new(schema, vec![batch]))
}

#[test]
fn latency_statistics_do_not_depend_on_how_many_groups_are_laid_out_at_a_time() {
    let mut rng = Rng(11);
    let t = day_pair_ledger(&mut rng, 3_000, 40);
    let cols = t.ledger().cols("at_us").unwrap();
    let a = t.encoded("a").unwrap();
    let Codes::U8(gid) = &a.codes else {
        panic!("40 keys take a byte")
    };
    let groups = a.cardinality();
    // Two spans, so a group's values come from both, in row order.
    let r = t.ledger().ranges()[0];
    let halves = [
        RowRange { end: 1_700, ..r },
        RowRange {
            start: 1_700,
            global: 1_700,
            ..r
        },
    ];
    let chunks = [&halves[..1], &halves[1..]];
    let latency::Values {
        mut values,
        offsets,
    } = latency::values(&chunks, &cols, gid, groups);
    let whole = latency::stats_of(&mut values, &offsets);
    // Blocks of one group each, of a few groups, and of all of them; then blocks of up to a
    // quarter of the values.
    for (most, share) in [(1, usize::MAX), (100, usize::MAX), (3_000, 1), (1, 4)] {
        let blocked = latency::stats_by_blocks(&chunks, &cols, gid, groups, most, share);
        assert_eq!(
            blocked, whole,
            "blocks of up to {most} values or a {share}th"
        );
    }
}

#[test]
fn a_day_and_a_column_group_as_one_column_of_both_in_small_and_large_key_spaces() {
    let mut rng = Rng(11);
    // Key spaces of 600 (radix codes: 1/8 of the rows or less) and 80,000 (a dictionary),
    // with the day first and last among the keys.
    for card in [3, 400] {
        let t = day_pair_ledger(&mut rng, 20_000, card);
        let one = rollup(&t, &spec(vec![Key::Column("day_a".into())])).unwrap();
        let day_a = one.column(0).as_string::<i32>();
        let expected: Vec<&str> = (0..one.num_rows()).map(|i| day_a.value(i)).collect();
        for day_first in [true, false] {
            let mut keys = vec![Key::Time(Unit::Day, "day".into()), Key::Column("a".into())];
            if !day_first {
                keys.reverse();
            }
            let pair = rollup(&t, &spec(keys)).unwrap();
            let day = pair
                .column_by_name("day")
                .unwrap()
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            let a = pair.column_by_name("a").unwrap().as_string::<i32>();
            let joined: Vec<String> = (0..pair.num_rows())
                .map(|i| format!("{}|{}", day.value(i) / DAY, a.value(i)))
                .collect();
            assert_eq!(
                joined, expected,
                "first appearance, card {card}, {day_first}"
            );
            for field in one.schema().fields().iter().skip(1) {
                let name = field.name();
                assert_eq!(
                    pair.column_by_name(name).unwrap().as_ref(),
                    one.column_by_name(name).unwrap().as_ref(),
                    "{name}, card {card}, day first {day_first}"
                );
            }
        }
    }
}

#[test]
fn codes_are_as_narrow_as_their_keys_allow_and_dropped_rows_stay_out_at_each_edge() {
    // A width holds one key fewer than its values: its largest marks a dropped row. With one
    // key more the next width is needed, or dropped rows would count in the last group.
    for (card, bytes) in [(255, 1), (256, 2), (65_535, 2), (65_536, 4)] {
        let names: Vec<String> = (0..card).map(|k| format!("k{k}")).collect();
        let rows: Vec<(i64, &str, Option<i64>, Option<f64>)> = names
            .iter()
            .enumerate()
            .map(|(k, name)| (k as i64, name.as_str(), Some(1), Some(1.0)))
            .collect();
        let t = ledger(&rows);
        let width = match &t.encoded("tenant").unwrap().codes {
            Codes::U8(_) => 1,
            Codes::U16(_) => 2,
            Codes::U32(_) => 4,
        };
        assert_eq!(width, bytes, "{card} keys");
        // Only the second half of the keys: the first half's rows are dropped.
        let kept = card - card / 2;
        let mut s = spec(vec![Key::Column("tenant".into())]);
        s.since_us = Some((card / 2) as i64);
        let batch = rollup(&t, &s).unwrap();
        let calls = batch
            .column_by_name("calls")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(calls.values().to_vec(), vec![1; kept], "{card} keys");
        let tenant = batch.column_by_name("tenant").unwrap().as_string::<i32>();
        assert_eq!(tenant.value(kept - 1), names[card - 1]);
    }
}

#[test]
fn strings_are_coded_by_first_appearance_whether_few_or_many_in_every_string_type() {
    // 3 values: the table of recent views stays on; 300 and 5,000: most look-ups miss it
    // and it is turned off after its trial. 40,000 rows: past the trial in every case. One
    // value in 5 is past 12 bytes (coded by its bytes, not a view) and one row in 50 null.
    let mut rng = Rng(5);
    for card in [3, 300, 5_000] {
        let values: Vec<Option<String>> = (0..40_000)
            .map(|_| match rng.below(card) {
                _ if rng.below(50) == 0 => None,
                n if n % 5 == 4 => Some(format!("a-longer-name-{n}")),
                n => Some(format!("t{n}")),
            })
            .collect();
        let strs: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
        let columns: [ArrayRef; 3] = [
            Arc::new(StringViewArray::from(strs.clone())),
            Arc::new(arrow_array::StringArray::from(strs.clone())),
            Arc::new(arrow_array::LargeStringArray::from(strs.clone())),
        ];
        for column in columns {
            let dt = column.data_type().clone();
            let schema = Arc::new(Schema::new(vec![Field::new("k", dt.clone(), true)]));
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap();
            let encoded = Table::new(Ledger::new(schema, vec![batch]))
                .encoded("k")
                .unwrap();
            let mut first: std::collections::HashMap<Option<&str>, u32> = Default::default();
            for (i, &v) in strs.iter().enumerate() {
                let next = first.len() as u32;
                let code = *first.entry(v).or_insert(next);
                assert_eq!(encoded.codes.get(i), code, "row {i}, {card} values, {dt}");
            }
            assert_eq!(encoded.cardinality(), first.len(), "{card} values, {dt}");
        }
    }
}

#[test]
fn codes_widen_within_a_span_and_when_the_spans_merge() {
    // Five batches of one row range each; three threads take spans of two, two and one.
    // Values per batch, as ranges of integers:
    // - the first span goes past 255 keys in its second range, with a range's codes already
    //   written a byte wide; the third brings 70,000 more, so the merge widens the first
    //   span's two-byte codes to four and the second span's one-byte codes with them;
    // - every span stays within a byte, but together they need two.
    let layouts: [(&[std::ops::Range<i64>; 5], usize); 2] = [
        (&[0..200, 0..1_000, 0..100, 50..150, 1_000..71_000], 4),
        (&[0..100, 100..200, 200..250, 250..300, 300..350], 2),
    ];
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for (layout, bytes) in layouts {
        let batches: Vec<Vec<i64>> = layout.iter().map(|r| r.clone().rev().collect()).collect();
        let mut first: std::collections::HashMap<i64, u32> = Default::default();
        let expected: Vec<u32> = batches
            .iter()
            .flatten()
            .map(|&v| {
                let next = first.len() as u32;
                *first.entry(v).or_insert(next)
            })
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let record_batches = batches
            .into_iter()
            .map(|b| {
                let column: ArrayRef = Arc::new(Int64Array::from(b));
                RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap()
            })
            .collect();
        let encoded = threads
            .install(|| Table::new(Ledger::new(schema, record_batches)).encoded("k"))
            .unwrap();
        let width = match &encoded.codes {
            Codes::U8(_) => 1,
            Codes::U16(_) => 2,
            Codes::U32(_) => 4,
        };
        assert_eq!(width, bytes, "{layout:?}");
        let codes: Vec<u32> = (0..expected.len()).map(|i| encoded.codes.get(i)).collect();
        assert_eq!(codes, expected, "{layout:?}");
    }
}

#[test]
fn codes_follow_first_appearance_across_batches_and_row_ranges() {
    // Three batches, five row ranges: spans of ranges cross batch boundaries.
    // Values recur from batch to batch; in the Utf8View column a value's rows share one view
    // (deduplicated), and the same view in another batch names another buffer.
    let mut rng = Rng(7);
    let batches: Vec<Vec<Option<String>>> = [300_000, 100_000, 300_000]
        .iter()
        .map(|&n| {
            (0..n)
                .map(|_| match rng.below(5_000) {
                    _ if rng.below(50) == 0 => None,
                    v if v % 3 == 0 => Some(format!("a-much-longer-value-{v}")),
                    v => Some(format!("v{v}")),
                })
                .collect()
        })
        .collect();
    let mut first: std::collections::HashMap<Option<&str>, u32> = Default::default();
    let expected: Vec<u32> = batches
        .iter()
        .flatten()
        .map(|v| {
            let next = first.len() as u32;
            *first.entry(v.as_deref()).or_insert(next)
        })
        .collect();
    let column = |strs: Vec<Option<&str>>, dt: &DataType| -> ArrayRef {
        match dt {
            DataType::Utf8View => {
                let mut b =
                    arrow_array::builder::StringViewBuilder::new().with_deduplicate_strings();
                b.extend(strs);
                Arc::new(b.finish())
            }
            DataType::Utf8 => Arc::new(arrow_array::StringArray::from(strs)),
            DataType::LargeUtf8 => Arc::new(arrow_array::LargeStringArray::from(strs)),
            _ => Arc::new(
                strs.into_iter()
                    .collect::<arrow_array::DictionaryArray<arrow_array::types::Int32Type>>(),
            ),
        }
    };
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let threads = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for dt in [
        DataType::Utf8View,
        DataType::Utf8,
        DataType::LargeUtf8,
        dictionary,
    ] {
        let schema = Arc::new(Schema::new(vec![Field::new("k", dt.clone(), true)]));
        let record_batches = batches
            .iter()
            .map(|b| {
                let strs = b.iter().map(Option::as_deref).collect();
                RecordBatch::try_new(Arc::clone(&schema), vec![column(strs, &dt)]).unwrap()
            })
            .collect();
        // Three threads: spans of two, two and one ranges, whatever the machine's cores.
        let encoded = threads
            .install(|| Table::new(Ledger::new(schema, record_batches)).encoded("k"))
            .unwrap();
        assert_eq!(encoded.cardinality(), first.len(), "{dt}");
        if matches!(dt, DataType::Dictionary(..)) {
            // A dictionary's values are coded before its rows' nulls: equal values, equal
            // codes, and no code for two values.
            let mut value_of: std::collections::HashMap<u32, u32> = Default::default();
            for (i, &value) in expected.iter().enumerate() {
                let code = encoded.codes.get(i);
                assert_eq!(
                    *value_of.entry(code).or_insert(value),
                    value,
                    "row {i}, {dt}"
                );
            }
            assert_eq!(value_of.len(), first.len(), "{dt}");
            continue;
        }
        for (i, &code) in expected.iter().enumerate() {
            assert_eq!(encoded.codes.get(i), code, "row {i}, {dt}");
        }
    }
}

proptest::proptest! {
    /// Equal keys are equal bytes, at the lengths the word compare covers and around them,
    /// including strings that differ in one byte anywhere.
    #[test]
    fn string_keys_are_equal_exactly_when_their_bytes_are(
        a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        flip in proptest::prelude::any::<proptest::sample::Index>(),
        same in proptest::prelude::any::<bool>(),
    ) {
        let mut b = a.clone();
        if !same && !b.is_empty() {
            let i = flip.index(b.len());
            b[i] ^= 1;
        }
        proptest::prop_assert_eq!(encode::KeyRef::Str(&a) == encode::KeyRef::Str(&b), a == b);
    }
}

#[test]
fn an_advised_large_array_is_filled_whole() {
    // 16 MiB: large enough to be advised, with at least one aligned huge page inside.
    let v = pages::filled(1 << 22, 7u32);
    assert_eq!(v.len(), 1 << 22);
    assert!(v.iter().all(|&x| x == 7));
}

#[test]
fn an_advised_large_array_is_zero_whole() {
    // 16 MiB: large enough to be advised, with at least one aligned huge page inside.
    let v = pages::zeroed::<i64>(1 << 21);
    assert_eq!(v.len(), 1 << 21);
    assert!(v.iter().all(|&x| x == 0));
}
