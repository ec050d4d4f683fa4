"""Clients written for SearXNG, pointed at trawl unchanged.

Run by crates/trawl/tests/api/searxng.rs with TRAWL_URL set to a trawl
serving the test corpus (fillers answering "zebrafill word", dated) and an
engine that cannot be reached ("deadweb"). Exits non-zero on the first
check that fails; prints "every client check passed" at the end.

1. LangChain's SearxSearchWrapper (langchain-community, from PyPI), as its
   users configure it: the instance's root URL, and the /search URL.
2. A plain script, standard library only, reading SearXNG's keys from
   format=json, and parsing format=csv and format=rss back.
"""

import csv
import datetime
import io
import json
import os
import sys
import urllib.parse
import urllib.request
import warnings
import xml.etree.ElementTree as ET

warnings.simplefilter("ignore")  # langchain-community warns that it is being sunset

BASE = os.environ["TRAWL_URL"].rstrip("/")
QUERY = "zebrafill word"


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def langchain():
    from langchain_community.utilities import SearxSearchWrapper

    for host in (BASE, BASE + "/search"):
        searx = SearxSearchWrapper(searx_host=host, k=3)
        text = searx.run(QUERY)
        check(text.count("zebrafill") == 3, f"run() via {host} joins three results' content")
        results = searx.results(QUERY, num_results=5)
        check(len(results) == 5, f"results() via {host} gives five results")
        for r in results:
            check(r["link"].startswith("https://filler.example.org/"), f"a link: {r['link']}")
            check("zebrafill" in r["snippet"] and r["title"].startswith("Filler"), "snippet and title")
            check(r["engines"] == ["local"] and r["category"] == "general", "engines and category")
        only = searx.results(QUERY, num_results=3, engines=["local"], categories=["general"])
        check(len(only) == 3, "engines= and categories= pass through")
        nothing = searx.results("qqqqnothingmatches", num_results=3)
        check(nothing == [{"Result": "No good Search Result was found"}], "no results, said as LangChain says it")
    try:
        SearxSearchWrapper(searx_host=BASE).run(QUERY, pageno="0")
        check(False, "a bad pageno raises")
    except ValueError as error:
        check("Invalid value 0 for parameter pageno" in str(error), "a refused request raises SearXNG's error")


def get(params):
    url = BASE + "/search?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, answer.headers.get("content-type"), answer.read().decode("utf-8")


def plain_script():
    status, ctype, body = get({"q": QUERY, "format": "json"})
    check(status == 200 and ctype == "application/json", "format=json answers JSON")
    data = json.loads(body)
    for key in ("query", "number_of_results", "results", "answers", "corrections",
                "infoboxes", "suggestions", "unresponsive_engines"):
        check(key in data, f"top-level key {key}")
    check(data["query"] == QUERY and data["number_of_results"] >= 23, "query and number_of_results")
    check(len(data["results"]) >= 10, "results")
    for r in data["results"]:
        for key in ("url", "title", "content", "engine", "engines", "score", "category",
                    "positions", "parsed_url", "template", "publishedDate"):
            check(key in r, f"result key {key}")
        check(urllib.parse.urlparse(r["url"]) == tuple(r["parsed_url"]), "parsed_url is urlparse(url)")
        when = datetime.datetime.fromisoformat(r["publishedDate"])
        check(when.tzinfo is not None and when < datetime.datetime.now(datetime.timezone.utc),
              "publishedDate reads as a date in the past")
    # By now the dead engine has failed often enough to be suspended.
    [[name, reason]] = data["unresponsive_engines"]
    check(name == "deadweb" and (reason == "HTTP connection error" or reason.startswith("Suspended: ")),
          f"unresponsive_engines: {name}, {reason}")

    status, ctype, body = get({"q": QUERY, "format": "csv"})
    check(status == 200 and ctype.startswith("text/csv"), "format=csv answers CSV")
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    check(list(rows[0].keys()) == ["title", "url", "content", "host", "engine", "score", "type"], "CSV columns")
    check([row["url"] for row in rows] == [r["url"] for r in data["results"]], "CSV rows are the results")
    check(all(row["type"] == "result" and float(row["score"]) > 0 for row in rows), "CSV type and score")

    status, ctype, body = get({"q": QUERY, "format": "rss"})
    check(status == 200 and ctype.startswith("text/xml"), "format=rss answers XML")
    channel = ET.fromstring(body).find("channel")
    items = channel.findall("item")
    check([i.findtext("link") for i in items] == [r["url"] for r in data["results"]], "RSS items are the results")
    check(all(i.findtext("type") == "result" and i.findtext("pubDate") for i in items), "RSS type and pubDate")
    ns = {"opensearch": "http://a9.com/-/spec/opensearch/1.1/"}
    check(channel.find("opensearch:Query", ns).get("searchTerms") == QUERY, "opensearch:Query")

    try:
        get({"format": "json"})
        check(False, "no query is refused")
    except urllib.error.HTTPError as error:
        check(error.code == 400 and json.loads(error.read())["error"] == "No query", "no query: 400, No query")


langchain()
plain_script()
print("every client check passed")
