use super::*;

const DAY_US: i64 = 86_400_000_000;

/// 2026-01-01T00:00:00Z in microseconds.
const JAN_2026: i64 = 20_454 * DAY_US;

fn catalog() -> Catalog {
    // Model 0: $2.50 / $10 per MTok, cache reads $1.25; from 2026-01-01 input drops to $2;
    // a batch variant halves input and output (not cache reads).
    // Model 1: $1.25 / $10 with a 200k tier at $2.50 / $15, cache write 5m $1.5625, 1h $2.50.
    // Model 2: off-peak between 16:30 and 00:30 UTC (wraps midnight) at half price.
    Catalog::from_json(
        r#"{
        "modes": ["batch", "flex"],
        "models": [
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
             "cache_write_mtok": {"base": 1562500}, "cache_write_1h_mtok": {"base": 2500000}}}]},
          {"versions": [
             {"when": {"daily": [1800, 59400]}, "rates": {"input_mtok": {"base": 270000}}},
             {"when": {"daily": [59400, 1800]}, "rates": {"input_mtok": {"base": 135000}}}]}
        ]}"#,
    )
    .unwrap()
}

fn tokens(pairs: &[(usize, u64)]) -> Tokens {
    let mut t = [0; 8];
    for &(b, n) in pairs {
        t[b] = n;
    }
    t
}

#[test]
fn plain_call_before_and_after_a_price_change() {
    let c = catalog();
    let usage = tokens(&[(0, 1000), (1, 500), (4, 200)]);
    let before = c.price(0, JAN_2026 - 1, None, &usage, 0).unwrap();
    // 1000 x 2.5e6 + 500 x 1.25e6 + 200 x 10e6 pico-USD
    assert_eq!(
        before.costs[..5],
        [2_500_000_000, 625_000_000, 0, 0, 2_000_000_000]
    );
    assert_eq!(before.total, 5_125_000_000);
    assert_eq!(before.version, 0);
    let after = c.price(0, JAN_2026, None, &usage, 0).unwrap();
    // The new version has no cache-read rate: reads fall back to the input rate.
    assert_eq!(
        after.costs[..5],
        [2_000_000_000, 1_000_000_000, 0, 0, 2_000_000_000]
    );
    assert_eq!(after.version, 1);
}

#[test]
fn variant_replaces_only_its_own_keys() {
    let c = catalog();
    let usage = tokens(&[(0, 1000), (4, 100)]);
    let batch = c
        .price(0, JAN_2026 - 1, c.mode_index("batch"), &usage, 0)
        .unwrap();
    assert_eq!(batch.total, 1000 * 1_250_000 + 100 * 5_000_000);
    assert!(batch.variant_applied);
    // A mode the model has no variant for prices at standard rates.
    let flex = c
        .price(0, JAN_2026 - 1, c.mode_index("flex"), &usage, 0)
        .unwrap();
    assert_eq!(flex.total, 1000 * 2_500_000 + 100 * 10_000_000);
    assert!(!flex.variant_applied);
}

#[test]
fn tier_applies_strictly_above_its_start_to_the_whole_request() {
    let c = catalog();
    let at = tokens(&[(0, 150_000), (2, 50_000), (4, 1000)]);
    let q = c.price(1, 0, None, &at, 0).unwrap();
    assert_eq!(q.tier_start, None);
    assert_eq!(
        q.total,
        150_000 * 1_250_000 + 50_000 * 1_562_500 + 1000 * 10_000_000
    );
    let over = tokens(&[(0, 150_000), (3, 50_001), (4, 1000)]);
    let q = c.price(1, 0, None, &over, 0).unwrap();
    assert_eq!(q.tier_start, Some(200_000));
    // Cache-write rates have no tier; input and output switch to the tier rates.
    assert_eq!(
        q.total,
        150_000 * 2_500_000 + 50_001 * 2_500_000 + 1000 * 15_000_000
    );
}

#[test]
fn daily_window_wraps_midnight() {
    let c = catalog();
    let usage = tokens(&[(0, 1_000_000)]);
    let at = |h: i64, m: i64| JAN_2026 + (h * 3600 + m * 60) * 1_000_000;
    assert_eq!(
        c.price(2, at(12, 0), None, &usage, 0).unwrap().total,
        270_000_000_000
    );
    assert_eq!(
        c.price(2, at(16, 30), None, &usage, 0).unwrap().total,
        135_000_000_000
    );
    assert_eq!(
        c.price(2, at(0, 29), None, &usage, 0).unwrap().total,
        135_000_000_000
    );
    assert_eq!(
        c.price(2, at(0, 30), None, &usage, 0).unwrap().total,
        270_000_000_000
    );
}

#[test]
fn discount_rounds_half_to_even_per_bucket() {
    let c = catalog();
    // 1 token at 2.5e6 less 12.5% = 2_187_500; 3 tokens of output at 10e6 less 12.5%.
    let q = c
        .price(0, 0, None, &tokens(&[(0, 1), (4, 3)]), 125_000)
        .unwrap();
    assert_eq!(q.costs[0], 2_187_500);
    assert_eq!(q.costs[4], 26_250_000);
    assert_eq!(div_round_half_even(5, 2), 2);
    assert_eq!(div_round_half_even(7, 2), 4);
    assert_eq!(div_round_half_even(9, 4), 2);
}

#[test]
fn errors_are_reported_not_panicked() {
    let c = catalog();
    assert!(matches!(
        c.price(9, 0, None, &[0; 8], 0),
        Err(Error::NoSuchModel(9))
    ));
    let huge = tokens(&[(4, u64::MAX / 2)]);
    assert!(matches!(
        c.price(0, 0, None, &huge, 0),
        Err(Error::Overflow)
    ));
    assert!(matches!(
        Catalog::from_json(r#"{"modes": [], "models": [{"versions": []}]}"#),
        Err(Error::InvalidCatalog(_))
    ));
    assert!(matches!(Catalog::from_json("{"), Err(Error::Catalog(_))));
}
