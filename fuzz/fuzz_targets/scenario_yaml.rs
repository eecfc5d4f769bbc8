//! Scenario files: multi-document YAML given to `lbctl lab up --scenario FILE`.
#![no_main]

use lbctl::lab::scenario::{expand_include, Scenario};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse("fuzz.yaml", text) {
        Ok(s) => {
            for o in &s.objects {
                assert!(o["apiVersion"].is_string() && o["kind"].is_string());
                assert!(o["metadata"]["name"].is_string());
                let _ = expand_include(o);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
