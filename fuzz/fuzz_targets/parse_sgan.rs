#![no_main]
//! Social-GAN text (`frame id x y`) reader on arbitrary bytes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lbebm_fuzz::parse(data, lbebm_data::Format::Sgan);
});
