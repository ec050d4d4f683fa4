//! A downstream service that is down or hangs gives a clear error at once or
//! at the timeout, never a hang.

use std::time::Duration;

use url::Url;

use crate::helpers::*;

#[tokio::test]
async fn results_with_search_down_answers_503_problem() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.services.search_url = Url::parse(&format!("http://{}", closed_address())).unwrap();
    let results = spawn(&config, trawl::Role::Results).await;
    let body = results.get_json("/v1/results?q=index", 503).await;
    assert_eq!(body["code"], "upstream_unavailable");
    assert_eq!(
        body["detail"],
        "the search service cannot be reached; try again shortly"
    );
    let ready = results.get_json("/readyz", 503).await;
    assert_eq!(
        (
            ready["ready"].as_bool(),
            ready["checks"][0]["name"].as_str()
        ),
        (Some(false), Some("search"))
    );
    assert_eq!(results.get_json("/livez", 200).await["status"], "ok");
}

#[tokio::test]
async fn results_with_search_hanging_answers_504_at_its_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.services.search_url = Url::parse(&format!("http://{hung}")).unwrap();
    config.services.search_timeout_ms = 300;
    let results = spawn(&config, trawl::Role::Results).await;
    let body = results.get_json("/v1/results?q=index", 504).await;
    assert_eq!(body["code"], "upstream_timeout");
    assert_eq!(
        body["detail"],
        "the search service did not answer within 300 ms"
    );
}

#[tokio::test]
async fn web_with_results_down_shows_a_readable_error() {
    let data = fixture_data_dir();
    let mut config = test_config(data.path());
    config.services.results_url = Url::parse(&format!("http://{}", closed_address())).unwrap();
    let web = spawn(&config, trawl::Role::Web).await;
    let (status, html) = web.get_html("/search?q=index").await;
    assert_eq!(status, 503);
    assert!(
        html.contains("the results service cannot be reached"),
        "{html}"
    );
    assert!(
        html.contains(r#"name="q" value="index""#),
        "the form stays usable"
    );
    let body = web.get_json("/api/v1/search?q=index", 503).await;
    assert_eq!(body["code"], "upstream_unavailable");
    let (status, _) = web.get_html("/").await;
    assert_eq!(status, 200, "the home page needs no other service");
    assert_eq!(web.get_json("/readyz", 503).await["ready"], false);
}

#[tokio::test]
async fn when_search_stops_the_web_page_says_so_through_results() {
    let data = fixture_data_dir();
    let three = spawn_three(data.path()).await;
    let (status, _) = three.web.get_html("/search?q=index").await;
    assert_eq!(status, 200);
    let ThreeApps {
        search,
        results,
        web,
    } = three;
    drop(search);
    // The stopped server closes its listener; wait until it refuses.
    let search_gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if web.get("/readyz").await.status() == 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    search_gone.await.expect("readiness notices within 10 s");
    let (status, html) = web.get_html("/search?q=index").await;
    assert_eq!(status, 503);
    assert!(
        html.contains("the search service cannot be reached"),
        "{html}"
    );
    let ready = results.get_json("/readyz", 503).await;
    assert_eq!(ready["checks"][0]["ok"], false);
}
