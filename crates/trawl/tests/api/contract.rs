//! The published contract: each role's OpenAPI document is what the code
//! generates, is committed under docs/openapi/, is what the running service
//! serves, and holds up when Schemathesis fuzzes the running service.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use trawl::Role;
use trawl_service::openapi::render;

use crate::helpers::*;

const ROLES: [Role; 5] = Role::ALL;

fn committed_path(role: Role) -> PathBuf {
    workspace_root().join(format!("docs/openapi/{}.json", role.name()))
}

/// With `TRAWL_UPDATE_OPENAPI=1`, writes the generated documents instead of
/// comparing (then review the diff and commit it).
#[test]
fn the_committed_documents_are_what_the_code_generates() {
    let update = std::env::var("TRAWL_UPDATE_OPENAPI").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for role in ROLES {
        let generated = render(&trawl::openapi(role));
        let path = committed_path(role);
        if update {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "the API changed but these documents did not: {stale:?}\n\
         regenerate them with `TRAWL_UPDATE_OPENAPI=1 cargo nextest run -p trawl the_committed_documents`, \
         review the diff (a breaking change needs a new version, see docs/api.md) and commit it"
    );
}

#[test]
fn documents_describe_every_operation_with_an_id_and_its_errors() {
    let doc: serde_json::Value = serde_json::from_str(&render(&trawl::openapi(Role::All))).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            ids.push(id.to_owned());
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                ["200", "201", "202", "303"]
                    .iter()
                    .any(|s| responses.contains_key(*s)),
                "{method} {path} documents its success"
            );
            if operation["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["in"] == "query"))
                && path.starts_with("/v") | path.starts_with("/api")
            {
                let problem = &responses["400"]["content"]["application/problem+json"];
                assert!(problem.is_object(), "{method} {path} documents its 400");
            }
        }
    }
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids are unique");
    for v1 in ["/v1/search", "/api/v1/search"] {
        let operation = &doc["paths"][v1]["get"];
        assert_eq!(operation["deprecated"], true, "{v1}");
        let headers = &operation["responses"]["200"]["headers"];
        assert_eq!(
            headers["Sunset"]["schema"]["enum"][0],
            "Sat, 22 May 2027 00:00:00 GMT"
        );
    }
    // The parameters come from the parser's own vocabularies.
    let params = doc["paths"]["/v2/search"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let time_range = params.iter().find(|p| p["name"] == "time_range").unwrap();
    assert_eq!(
        time_range["schema"]["enum"],
        serde_json::json!(["", "day", "week", "month", "year"])
    );
    assert!(
        params.iter().all(|p| p["name"] != "page"),
        "v2 pages by cursor"
    );
}

#[tokio::test]
async fn every_service_serves_its_committed_document() {
    let data = fixture_data_dir();
    let one = spawn_one_process(data.path()).await;
    let three = spawn_three(data.path()).await;
    let indexer = spawn(&test_config(data.path()), Role::Indexer).await;
    for (app, role) in [
        (&one, Role::All),
        (&three.search, Role::Search),
        (&three.results, Role::Results),
        (&three.web, Role::Web),
        (&indexer, Role::Indexer),
    ] {
        let response = app.get("/openapi.json").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let served = response.text().await.unwrap();
        let committed = std::fs::read_to_string(committed_path(role)).unwrap();
        assert!(
            served == committed,
            "{} serves another document than docs/openapi/{}.json",
            app.address,
            role.name()
        );
    }
}

/// Where Schemathesis is: `TRAWL_SCHEMATHESIS`, else what
/// `scripts/install-test-tools.sh` installed.
fn schemathesis() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TRAWL_SCHEMATHESIS") {
        return Some(path.into());
    }
    let installed = workspace_root().join(".tools/venv/bin/st");
    installed.exists().then_some(installed)
}

/// Schemathesis against each service in three-process mode: every
/// operation, valid and invalid input, every check but
/// `positive_data_acceptance` (which cannot know that a well-formed engine
/// name must also be configured, or a cursor signed). Zero failures allowed.
///
/// Bounded: `TRAWL_SCHEMATHESIS_EXAMPLES` examples per operation (default
/// 100) and a fixed seed (`TRAWL_SCHEMATHESIS_SEED`), so a CI run is
/// repeatable; raise both locally to dig deeper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(st) = schemathesis() else {
        let message = "Schemathesis is not installed: run `bash scripts/install-test-tools.sh` \
                       (the contract fuzzing test did NOT run)";
        skip_loudly(message);
        return;
    };
    let examples = std::env::var("TRAWL_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".into());
    let seed = std::env::var("TRAWL_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261122".into());
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    let mut config = test_config(data.path());
    // Schemathesis sends hundreds of requests without a key from one
    // address: the refused-key throttle (which no address is exempt from)
    // would answer them 429 and hide the 401 being checked.
    config.auth.failures_per_minute = 0;
    let indexer = spawn(&config, Role::Indexer).await;
    let key = make_key(&config, "schemathesis").await;
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, app, headers) in [
        ("search", &three.search, vec![]),
        ("results", &three.results, vec![]),
        ("web", &three.web, vec![]),
        (
            "indexer",
            &indexer,
            vec![
                "--header".to_owned(),
                format!("Authorization: Bearer {key}"),
            ],
        ),
    ] {
        let run = tokio::process::Command::new(&st)
            .arg("run")
            .arg(app.url("/openapi.json"))
            .args(&headers)
            .args([
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
            ])
            .args(["--max-examples", &examples, "--seed", &seed])
            .args(["--generation-database", "none", "--request-timeout", "10"])
            // No `--max-time`: it turns fuzzing into a loop that fills the
            // budget; the examples bound the run, the timeout below the wait.
            .args(["--no-color", "--warnings", "off"])
            .current_dir(scratch.path())
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(240), run)
            .await
            .unwrap_or_else(|_| panic!("schemathesis against {name} ran over 240 s"))
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = stdout
            .lines()
            .filter(|l| l.contains("generated") || l.contains(" in ") && l.contains('='))
            .collect::<Vec<_>>()
            .join(" | ");
        eprintln!("schemathesis vs {name}: {summary}");
        if !output.status.success() {
            failures.push(format!(
                "--- {name} ({}) ---\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
