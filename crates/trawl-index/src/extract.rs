//! Text and title out of HTML, Markdown and plain text.

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
use scraper::{ElementRef, Html, Node, Selector};

/// What a file contributes to a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The document's own title, when it has one.
    pub title: Option<String>,
    /// Text with single spaces, one line per block.
    pub body: String,
}

/// Elements whose content is never body text.
const SKIPPED_ELEMENTS: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
    "button", "select", "svg", "iframe", "object", "head",
];
/// ARIA roles of page furniture.
const SKIPPED_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "search",
    "complementary",
];
/// Class or id words that mark navigation and other boilerplate in common
/// generators (DocBook, Sphinx, MkDocs, static-site themes).
const SKIPPED_CLASSES: &[&str] = &[
    "navheader",
    "navfooter",
    "navbar",
    "nav",
    "sidebar",
    "sphinxsidebar",
    "related",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "header",
    "menu",
    "skip-link",
    "headerlink",
    "cookie-banner",
    "mobile-nav",
    "toctree-wrapper-nav",
];
/// Elements that start a new line of text.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "blockquote",
    "table",
    "tr",
    "td",
    "th",
    "br",
    "hr",
    "figcaption",
    "caption",
    "details",
    "summary",
];

/// Title from `<title>` (else the first `<h1>`), body text from `<main>` or
/// its kin when the page has one, else from `<body>`, without scripts,
/// styles and navigation.
pub fn extract_html(html: &str) -> Extracted {
    extract_html_document(&Html::parse_document(html))
}

/// [`extract_html`] of a document parsed already (a crawler that reads its
/// links too parses it once).
pub fn extract_html_document(doc: &Html) -> Extracted {
    let first_text = |selector: &str| {
        let selector = Selector::parse(selector).expect("static selector");
        doc.select(&selector)
            .map(|el| collapse(&el.text().collect::<String>()))
            .find(|text| !text.is_empty())
    };
    let title = first_text("title").or_else(|| first_text("h1"));

    let content = ["main", "[role=main]", "article", "body"]
        .iter()
        .find_map(|s| {
            doc.select(&Selector::parse(s).expect("static selector"))
                .next()
        })
        .unwrap_or_else(|| doc.root_element());
    let mut raw = String::new();
    walk(content, false, &mut raw);
    Extracted {
        title,
        body: collapse_lines(&raw),
    }
}

/// Appends the text under `element`; outside `<pre>`, source line breaks are
/// just spaces.
fn walk(element: ElementRef<'_>, in_pre: bool, out: &mut String) {
    for child in element.children() {
        match child.value() {
            Node::Text(text) if in_pre => out.push_str(text),
            Node::Text(text) => out.extend(
                text.chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
            ),
            Node::Element(el) => {
                let name = el.name();
                if SKIPPED_ELEMENTS.contains(&name)
                    || el.attr("role").is_some_and(|r| SKIPPED_ROLES.contains(&r))
                    || el.attr("hidden").is_some()
                    || el.attr("aria-hidden") == Some("true")
                    || el.classes().any(|c| SKIPPED_CLASSES.contains(&c))
                    || el.id().is_some_and(|id| SKIPPED_CLASSES.contains(&id))
                {
                    continue;
                }
                let block = BLOCK_ELEMENTS.contains(&name);
                if block {
                    out.push('\n');
                }
                if let Some(child) = ElementRef::wrap(child) {
                    walk(child, in_pre || name == "pre", out);
                }
                if block {
                    out.push('\n');
                }
            }
            _ => {}
        }
    }
}

/// Title from YAML front matter `title:` or the first heading (level 1
/// preferred); body as plain text without markup.
pub fn extract_markdown(markdown: &str) -> Extracted {
    let (front_title, markdown) = split_front_matter(markdown);
    let mut body = String::new();
    let mut headings: Vec<(HeadingLevel, String)> = Vec::new();
    let mut in_heading: Option<HeadingLevel> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                in_heading = Some(level);
                headings.push((level, String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                in_heading = None;
                body.push('\n');
            }
            Event::Text(text) | Event::Code(text) => {
                if in_heading.is_some()
                    && let Some((_, heading)) = headings.last_mut()
                {
                    heading.push_str(&text);
                }
                body.push_str(&text);
            }
            Event::SoftBreak => body.push(' '),
            Event::HardBreak
            | Event::Rule
            | Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::List(_)
                | TagEnd::TableHead
                | TagEnd::TableRow
                | TagEnd::TableCell,
            ) => body.push('\n'),
            _ => {}
        }
    }
    let heading_title = headings
        .iter()
        .find(|(level, _)| *level == HeadingLevel::H1)
        .or_else(|| headings.first())
        .map(|(_, text)| collapse(text))
        .filter(|t| !t.is_empty());
    Extracted {
        title: front_title.or(heading_title),
        body: collapse_lines(&body),
    }
}

fn split_front_matter(markdown: &str) -> (Option<String>, &str) {
    let Some(rest) = markdown.strip_prefix("---\n") else {
        return (None, markdown);
    };
    let Some(end) = rest.find("\n---") else {
        return (None, markdown);
    };
    let title = rest[..end].lines().find_map(|line| {
        let value = line
            .strip_prefix("title:")?
            .trim()
            .trim_matches(['"', '\'']);
        (!value.is_empty()).then(|| value.to_owned())
    });
    let after = &rest[end + 4..];
    (title, after.split_once('\n').map_or("", |(_, body)| body))
}

/// Title from the first line when it is short enough to be one.
pub fn extract_text(text: &str) -> Extracted {
    let title = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .filter(|line| line.chars().count() <= 120)
        .map(collapse);
    Extracted {
        title,
        body: collapse_lines(text),
    }
}

/// Collapses all whitespace runs to one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Collapses whitespace within lines and drops empty lines.
fn collapse_lines(text: &str) -> String {
    text.lines()
        .map(collapse)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_content_and_drops_furniture() {
        let page = r##"<!doctype html><html><head><title> CREATE   INDEX </title>
            <style>body { color: red }</style><script>var tracking = 1;</script></head>
            <body><div class="navheader"><a href="a.html">Prev</a> Up</div>
            <nav>Home | Docs</nav>
            <h1>CREATE INDEX</h1><p>Builds an <b>index</b> on the specified
            column(s).</p><pre>CREATE INDEX CONCURRENTLY</pre>
            <h2>Notes<a class="headerlink" href="#n">¶</a></h2>
            <footer>Copyright</footer><div class="navfooter">Next</div></body></html>"##;
        let extracted = extract_html(page);
        assert_eq!(extracted.title.as_deref(), Some("CREATE INDEX"));
        assert_eq!(
            extracted.body,
            "CREATE INDEX\nBuilds an index on the specified column(s).\nCREATE INDEX CONCURRENTLY\nNotes"
        );
    }

    #[test]
    fn html_prefers_main_and_falls_back_to_h1_for_the_title() {
        let page = r#"<html><body><div class="sphinxsidebar">Search box</div>
            <div role="main"><h1>asyncio.gather</h1><p>Run awaitables concurrently.</p></div>
            <div class="other">not main</div></body></html>"#;
        let extracted = extract_html(page);
        assert_eq!(extracted.title.as_deref(), Some("asyncio.gather"));
        assert_eq!(
            extracted.body,
            "asyncio.gather\nRun awaitables concurrently."
        );
    }

    #[test]
    fn markdown_title_and_text() {
        let md = "---\ntitle: \"Front Title\"\n---\n# Heading\n\nSome *emphasis* and `code`.\n";
        let extracted = extract_markdown(md);
        assert_eq!(extracted.title.as_deref(), Some("Front Title"));
        assert_eq!(extracted.body, "Heading\nSome emphasis and code.");
        let md = "Intro\n\n## Second\n\n# First\n";
        assert_eq!(extract_markdown(md).title.as_deref(), Some("First"));
    }

    #[test]
    fn text_title_is_the_first_short_line() {
        assert_eq!(
            extract_text("\n  Notes on X  \nbody").title.as_deref(),
            Some("Notes on X")
        );
        assert_eq!(extract_text(&"long ".repeat(50)).title, None);
    }
}
