#![no_main]
//! Bytes → rows → tracks → histories / Social-GAN windows → model input.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((rows, kind)) = lbebm_fuzz::parse(data, lbebm_data::Format::Auto) {
        let scenes = lbebm_fuzz::build_scenes(&rows, kind);
        #[cfg(feature = "model")]
        {
            let dev = lbebm_model::Device::Cpu;
            let b = lbebm_model::batch::SceneBatch::new(&scenes, 60.0, None, &dev)
                .expect("SceneBatch::new");
            assert_eq!(b.len(), scenes.iter().map(|s| s.len()).sum::<usize>());
        }
        #[cfg(not(feature = "model"))]
        let _ = scenes;
    }
});
