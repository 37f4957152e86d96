//! Architecture invariants that a test can see.

use crate::root;
use std::process::Command;

#[test]
fn the_implementation_never_depends_on_the_model_or_the_harness() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let implementation = packages
        .iter()
        .find(|p| p["name"] == "fabric-impl")
        .expect("fabric-impl is a member");
    let deps: Vec<&str> = implementation["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(
        deps.contains(&"rustls"),
        "sanity: the dependency list was read: {deps:?}"
    );
    for forbidden in ["fabric-model", "fabric-conformance"] {
        assert!(
            !deps.contains(&forbidden),
            "fabric-impl depends on {forbidden}"
        );
    }
    let model = packages
        .iter()
        .find(|p| p["name"] == "fabric-model")
        .expect("fabric-model is a member");
    let model_deps: Vec<&str> = model["dependencies"]
        .as_array()
        .expect("deps")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    for impure in ["tokio", "rand", "fabric-impl"] {
        assert!(
            !model_deps.contains(&impure),
            "the model must stay pure but depends on {impure}"
        );
    }
}
