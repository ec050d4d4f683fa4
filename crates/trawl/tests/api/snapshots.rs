//! The v1 and v2 JSON shapes, frozen: an accidental change to a field's name, type
//! or presence fails here. A deliberate one within v1 may only add fields;
//! review the new snapshot (`INSTA_UPDATE=always`, then `git diff`).

use serde_json::Value;

use crate::helpers::*;

async fn snapshot_of(app: &TestApp, path: &str, status: u16) -> Value {
    let mut value = without_timings(app.get_json(path, status).await);
    // The fixture's dates are days before now: that they are there, and
    // their form, is what stays the same.
    if let Some(results) = value.get_mut("results").and_then(Value::as_array_mut) {
        for result in results {
            if let Some(date) = result.get_mut("published") {
                let text = date.as_str().expect("a string");
                assert!(
                    trawl_api::dates::normalize(text).as_deref() == Some(text),
                    "{text}"
                );
                *date = Value::from("[RFC 3339, UTC]");
            }
        }
    }
    value
}

#[tokio::test]
async fn api_shapes() {
    let data = fixture_data_dir();
    let app = spawn_one_process(data.path()).await;
    insta::assert_json_snapshot!(
        "v1_search",
        snapshot_of(
            &app,
            "/v1/search?q=create+index+concurrently&per_page=3",
            200
        )
        .await
    );
    insta::assert_json_snapshot!(
        "v1_results",
        snapshot_of(
            &app,
            "/v1/results?q=create+index+concurrently&per_page=3",
            200
        )
        .await
    );
    insta::assert_json_snapshot!(
        "api_v1_search",
        snapshot_of(&app, "/api/v1/search?q=zebrafill&per_page=2&page=2", 200).await
    );
    insta::assert_json_snapshot!("v1_engines", snapshot_of(&app, "/v1/engines", 200).await);
    insta::assert_json_snapshot!(
        "api_v2_search",
        snapshot_of(&app, "/api/v2/search?q=zebrafill&per_page=2", 200).await
    );
    insta::assert_json_snapshot!(
        "v2_search",
        snapshot_of(&app, "/v2/search?q=zebrafill&per_page=2", 200).await
    );
    insta::assert_json_snapshot!("readyz", app.get_json("/readyz", 200).await["ready"]);
    insta::assert_json_snapshot!(
        "problem_invalid_parameter",
        snapshot_of(&app, "/v1/search?q=x&page=0", 400).await
    );
    let response = app
        .client
        .post(app.url("/v1/results"))
        .header("content-type", "application/json")
        .body("{\"query\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    insta::assert_json_snapshot!(
        "problem_invalid_body",
        response.json::<Value>().await.unwrap()
    );
}
