//! Bytes → parse, analyze and lower against a fixed catalog. Invalid UTF-8 is read lossily,
//! so the front end also sees replacement characters.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => nql_fuzz::frontend(text),
        Err(_) => nql_fuzz::frontend(&String::from_utf8_lossy(data)),
    }
});
