//! Every engine type with a double, through the fan-out of three servers:
//! web → results → search → the engine's loopback double, shaped like the
//! real API's documented answers (`trawl_search::doubles`).

use trawl::config::EngineConfig;
use trawl_search::doubles::{Case, Double, catalogue};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_answers_its_double_through_three_services() {
    let cases = catalogue();
    let double = Double::start(cases.iter().flat_map(|c| c.answers.clone()).collect()).await;
    let root = double.at("/");
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.engines = std::iter::once(EngineConfig::local())
        .chain(cases.iter().map(|case| {
            EngineConfig {
                // Asked only when named: the local index stays the default.
                enabled: false,
                ..EngineConfig::new(case.kind, case.spec_at(&root))
            }
        }))
        .collect();
    let three = spawn_three_with(&config).await;

    let listed = three.search.get_json("/v1/engines", 200).await;
    let kinds: Vec<&str> = listed["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for case in &cases {
        assert!(kinds.contains(&case.kind), "{} in {kinds:?}", case.kind);
    }

    let request = Case::request();
    for case in &cases {
        let path = format!(
            "/api/v1/search?q=rust+search&page={}&per_page={}&engines={}",
            request.page, request.per_page, case.kind
        );
        let body = three.web.get_json(&path, 200).await;
        let report = &body["engines"][0];
        assert_eq!(report["name"], case.kind, "{body}");
        assert_eq!(report["status"], "ok", "{}: {report}", case.kind);
        let expected = case.first_url(&root);
        let found = body["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["url"] == expected.as_str())
            .unwrap_or_else(|| panic!("{}: no result for {expected}: {body}", case.kind));
        assert_eq!(found["title"], case.first.0, "{}", case.kind);
        assert_eq!(
            found["engines"],
            serde_json::json!([case.kind]),
            "{}",
            case.kind
        );
    }
    // Every route of every API was asked, through the search service.
    let asked: Vec<String> = double.seen().into_iter().map(|s| s.path).collect();
    for (route, _) in cases.iter().flat_map(|c| c.answers.iter()) {
        assert!(
            asked.iter().any(|path| path.starts_with(route)),
            "{route} not asked: {asked:?}"
        );
    }
}
