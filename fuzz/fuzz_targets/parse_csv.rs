#![no_main]
//! CSV-with-header reader on arbitrary bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lbebm_fuzz::parse(data, lbebm_data::Format::Csv);
});
