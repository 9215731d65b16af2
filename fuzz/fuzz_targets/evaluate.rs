//! Text → `fetch_runs_table` on a small in-memory project: a result or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nql_fuzz::evaluate(&String::from_utf8_lossy(data));
});
