//! Fuzzes the configuration grammar and the options layer: any input must
//! either parse or fail with an error, never panic or hang. Includes are
//! refused so the fuzzer cannot make the parser read files.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nats_server::config::{parse_str, tokenize, Includes, Options};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = tokenize(&text);
    if let Ok(root) = parse_str(&text, "fuzz.conf", Includes::Refuse) {
        let mut o = Options::default();
        if o.apply_map(&root, "fuzz.conf").is_ok() {
            let _ = o.validate();
            let _ = nats_server::config::diff(&Options::default(), &o);
        }
    }
});
