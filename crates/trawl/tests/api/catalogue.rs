//! Every engine type with a double, through the fan-out: web → results →
//! search (three processes of the real binary) → the engine's loopback
//! double, shaped like the real API's documented answers
//! (`trawl_search::doubles`); and categories through three servers.

use trawl::config::EngineConfig;
use trawl_search::doubles::{Case, Double, catalogue};

use crate::helpers::*;
use crate::processes::Trawl;

/// The configuration file of every engine of the catalogue, each pointed at
/// the double at `root` and asked only when named.
fn catalogue_config(cases: &[Case], root: &url::Url) -> String {
    #[derive(serde::Serialize)]
    struct File {
        engines: Vec<EngineConfig>,
    }
    let engines = std::iter::once(EngineConfig::local())
        .chain(cases.iter().map(|case| EngineConfig {
            enabled: false,
            ..EngineConfig::new(case.kind, case.spec_at(root))
        }))
        .collect();
    toml::to_string(&File { engines }).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_answers_its_double_through_three_processes() {
    let cases = catalogue();
    let double = Double::start(cases.iter().flat_map(|c| c.answers.clone()).collect()).await;
    let root = double.at("/");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trawl.toml");
    std::fs::write(&file, catalogue_config(&cases, &root)).unwrap();
    let config = file.to_str().unwrap();
    // The real binary, one process a role, as an operator runs it; the
    // engines' settings read from the file as any configuration is.
    let exempt = [("TRAWL_RATE_LIMIT_EXEMPT", "127.0.0.0/8")];
    let search = Trawl::start(
        dir.path(),
        &["--role", "search", "--config", config],
        &exempt,
    );
    let results = Trawl::start(
        dir.path(),
        &[
            "--role",
            "results",
            "--config",
            config,
            "--search-url",
            &search.url("/"),
        ],
        &exempt,
    );
    let web = Trawl::start(
        dir.path(),
        &[
            "--role",
            "web",
            "--config",
            config,
            "--results-url",
            &results.url("/"),
        ],
        &exempt,
    );
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url}");
            response.json::<serde_json::Value>().await.unwrap()
        }
    };

    let listed = get(search.url("/v1/engines")).await;
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
        let body = get(web.url(&format!(
            "/api/v1/search?q=rust+search&page={}&per_page={}&engines={}",
            request.page, request.per_page, case.kind
        )))
        .await;
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
    // Every route of every API was asked, by the search process.
    let asked: Vec<String> = double.seen().into_iter().map(|s| s.path).collect();
    for (route, _) in cases.iter().flat_map(|c| c.answers.iter()) {
        assert!(
            asked.iter().any(|path| path.starts_with(route)),
            "{route} not asked: {asked:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_pick_the_engines_on_the_api_and_the_page() {
    let cases: Vec<Case> = catalogue()
        .into_iter()
        .filter(|c| ["arxiv", "crossref", "github"].contains(&c.kind))
        .collect();
    let double = Double::start(cases.iter().flat_map(|c| c.answers.clone()).collect()).await;
    let root = double.at("/");
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.engines = std::iter::once(EngineConfig::local())
        .chain(
            cases
                .iter()
                .map(|case| EngineConfig::new(case.kind, case.spec_at(&root))),
        )
        .chain(std::iter::once(EngineConfig {
            // A disabled engine is asked only when named, category or not.
            enabled: false,
            categories: Some(vec!["science".to_owned(), "papers".to_owned()]),
            ..EngineConfig::new("openalex", catalogue()[1].spec_at(&root))
        }))
        .collect();
    let three = spawn_three_with(&config).await;

    let listed = three.search.get_json("/v1/engines", 200).await;
    let categories = |name: &str| -> Vec<String> {
        let engine = listed["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap();
        serde_json::from_value(engine["categories"].clone()).unwrap()
    };
    assert_eq!(categories("local"), ["general", "local"]);
    assert_eq!(categories("arxiv"), ["science"]);
    assert_eq!(categories("github"), ["code"]);
    assert_eq!(categories("openalex"), ["science", "papers"]);

    let asked = |body: &serde_json::Value| -> Vec<String> {
        body["engines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let science = three
        .web
        .get_json("/api/v1/search?q=rust+search&categories=science", 200)
        .await;
    assert_eq!(asked(&science), ["arxiv", "crossref"]);
    let both = three
        .web
        .get_json(
            "/api/v1/search?q=rust+search&categories=code&engines=openalex",
            200,
        )
        .await;
    assert_eq!(
        asked(&both),
        ["github", "openalex"],
        "named, or in the category"
    );
    let unknown = three
        .web
        .get_json("/api/v1/search?q=rust+search&categories=music", 400)
        .await;
    assert_eq!(unknown["code"], "invalid_parameter", "{unknown}");
    assert_eq!(unknown["param"], "categories", "{unknown}");
    assert!(
        unknown["detail"].as_str().unwrap().contains("`science`"),
        "names the categories there are: {unknown}"
    );
    let v2 = three
        .web
        .get_json(
            "/api/v2/search?q=rust+search&categories=science&per_page=1",
            200,
        )
        .await;
    let next = v2["next_cursor"].as_str().expect("a next page");
    let page2 = three
        .web
        .get_json(&format!("/api/v2/search?cursor={next}"), 200)
        .await;
    assert_eq!(
        asked(&page2),
        ["arxiv", "crossref"],
        "the cursor keeps the category"
    );

    let (status, page) = three
        .web
        .get_html("/search?q=rust+search&categories=code")
        .await;
    assert_eq!(status, 200);
    for tab in ["All", "Code", "General", "Local", "Science"] {
        assert!(page.contains(&format!(">{tab}</a>")), "tab {tab}: {page}");
    }
    assert!(
        page.contains(
            r#"<a href="/search?q=rust%20search&#38;categories=code" aria-current="page">Code</a>"#
        ),
        "{page}"
    );
    assert!(page.contains(r#"<input type="hidden" name="categories" value="code">"#));
    assert!(
        !page.contains(">Papers</a>"),
        "a disabled engine's category is no tab"
    );
}
