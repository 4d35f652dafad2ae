#![no_main]
//! Format detection (`--format auto`) followed by whichever reader it picks.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lbebm_fuzz::parse(data, lbebm_data::Format::Auto);
});
