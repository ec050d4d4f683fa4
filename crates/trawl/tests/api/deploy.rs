//! The deployment files, checked without a cluster or a container engine:
//! `scripts/check-deploy.sh manifests` renders each Kubernetes layout and
//! validates every object against the Kubernetes schemas and trawl's
//! promises (security context, probes, resources, drain, network paths),
//! validates compose.yaml against the Compose specification, and has this
//! build of trawl read the shared trawl.toml. (The image itself, the
//! static binary in an empty root, is `check-deploy.sh image`, which CI
//! runs beside the suite: it needs root and a build of its own.)

use std::process::Command;

use crate::helpers::{skip_loudly, workspace_root};

/// kustomize (or kubectl, which carries it) and the Python tools, or a loud
/// skip (a failure under `TRAWL_REQUIRE_SERVICES=1`).
fn tools_or_skip() -> bool {
    let root = workspace_root();
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing = if !root.join(".tools/deploy/bin/python").is_file() {
        Some("kubernetes-validate and check-jsonschema are not installed (.tools/deploy)")
    } else if !has("kustomize") && !has("kubectl") {
        Some("neither kustomize nor kubectl is installed")
    } else {
        None
    };
    if let Some(missing) = missing {
        let message = format!(
            "{missing}: run `bash scripts/install-test-tools.sh` (the deployment checks did NOT run)"
        );
        skip_loudly(&message);
        return false;
    }
    true
}

#[test]
fn the_kubernetes_layouts_and_compose_file_are_valid_and_keep_their_promises() {
    if !tools_or_skip() {
        return;
    }
    let out = Command::new("bash")
        .arg("scripts/check-deploy.sh")
        .arg("manifests")
        .current_dir(workspace_root())
        .env("TRAWL_BIN", env!("CARGO_BIN_EXE_trawl"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for layout in ["one-binary", "services"] {
        assert!(
            stdout.contains(&format!("deploy/k8s/overlays/{layout}: "))
                && !stdout.contains("problems"),
            "{stdout}"
        );
    }
    assert!(stdout.contains("compose.yaml: valid"), "{stdout}");
}
