//! A newcomer's first start: the bundled corpus is indexed and answers.

use crate::helpers::*;

#[tokio::test]
async fn first_start_indexes_the_demo_corpus_and_finds_the_right_manual_pages() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.demo = true;
    let app = spawn(&config, trawl::Role::All).await;
    let engines = app.get_json("/v1/engines", 200).await;
    assert_eq!(engines["engines"][0]["documents"], 1667);
    for (query, expected) in [
        (
            "create+index+concurrently",
            "https://www.postgresql.org/docs/15/sql-createindex.html",
        ),
        (
            "asyncio+gather",
            "https://docs.python.org/3.11/library/asyncio-task.html",
        ),
    ] {
        let body = app
            .get_json(&format!("/api/v1/search?q={query}"), 200)
            .await;
        assert_eq!(result_urls(&body)[0], expected, "{query}");
        let (status, html) = app.get_html(&format!("/search?q={query}")).await;
        assert_eq!(status, 200);
        let first_link = html.split("<li class=\"result\">").nth(1).unwrap();
        assert!(
            first_link.contains(&format!("href=\"{expected}\"")),
            "{query}"
        );
    }
    drop(app);

    // A second start finds the index filled and leaves it alone.
    let app = spawn(&config, trawl::Role::All).await;
    assert_eq!(
        app.get_json("/v1/engines", 200).await["engines"][0]["documents"],
        1667
    );
}
