//! Markers, checked on the XML before usvg converts the document. usvg instantiates a marker's
//! content at every vertex (`marker-mid`) or end (`marker-start`, `marker-end`) of every shape
//! that uses it, while it converts, before [`super::guard`] can count the result: a 1,000-element
//! marker on a path of 10,000 vertices made 10 million nodes and took 18 s; a 1 MiB document
//! could ask for a hundred times that. So a document with markers is measured first, on the
//! parsed XML (the same parse usvg makes), with `<use>` expanded by counting, never by copying:
//! the instances it could make, by a bound that assumes every shape carries every kind of
//! marker the document uses anywhere (markers are inherited and can come from a stylesheet),
//! each of them the largest marker.

use std::collections::HashMap;

use resvg::usvg::roxmltree::{Document, Node, NodeId, ParsingOptions};

use crate::Error;

/// Marker content instances usvg may create: about 2 s of its conversion.
const MAX_MARKER_INSTANCES: f64 = 1e6;

/// Sizes of a subtree with `<use>` expanded.
#[derive(Clone, Copy, Default)]
struct Size {
    elements: f64,
    shapes: f64,
    vertices: f64,
}

impl std::ops::AddAssign for Size {
    fn add_assign(&mut self, o: Size) {
        self.elements += o.elements;
        self.shapes += o.shapes;
        self.vertices += o.vertices;
    }
}

pub(super) fn check(bytes: &[u8]) -> Result<(), Error> {
    if !bytes.windows(6).any(|w| w == b"marker") {
        return Ok(());
    }
    // What does not parse is usvg's to report.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let Ok(doc) = Document::parse_with_options(text, options) else {
        return Ok(());
    };
    let sizes = expanded_sizes(&doc);
    let size = |n: Node| sizes.get(&n.id()).copied().unwrap_or_default();
    let largest = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "marker")
        .map(|n| size(n).elements)
        .fold(0.0, f64::max);
    let (mid, ends) = doc
        .descendants()
        .map(marker_properties)
        .fold((false, false), |(m, e), (nm, ne)| (m || nm, e || ne));
    let whole = size(doc.root());
    let per_marker =
        if mid { whole.vertices } else { 0.0 } + if ends { 2.0 * whole.shapes } else { 0.0 };
    let instances = per_marker * largest;
    if instances > MAX_MARKER_INSTANCES {
        return Err(Error::undecodable(
            "SVG",
            format!(
                "refused to render: its markers could make {:.1} million elements (the limit \
                 is {:.0} million)",
                instances / 1e6,
                MAX_MARKER_INSTANCES / 1e6
            ),
        ));
    }
    Ok(())
}

/// Which marker properties `n` sets, (mid, start or end): from its attributes and `style`, or
/// for text (a stylesheet) from the text. The `marker` shorthand sets all three.
fn marker_properties(n: Node) -> (bool, bool) {
    let in_text = |t: &str| {
        let short = t.contains("marker:") || t.contains("marker :");
        (
            short || t.contains("marker-mid"),
            short || t.contains("marker-start") || t.contains("marker-end"),
        )
    };
    if n.is_text() {
        return n.text().map_or((false, false), in_text);
    }
    n.attributes()
        .map(|a| match a.name() {
            "marker" => (true, true),
            "marker-mid" => (true, false),
            "marker-start" | "marker-end" => (false, true),
            "style" => in_text(a.value()),
            _ => (false, false),
        })
        .fold((false, false), |(m, e), (nm, ne)| (m || nm, e || ne))
}

/// Every element's size with `<use>` expanded (a reference counted as the size of what it
/// names), computed bottom-up without recursion (documents nest deeply); a reference cycle
/// counts as nothing (usvg drops it).
fn expanded_sizes(doc: &Document) -> HashMap<NodeId, Size> {
    let ids: HashMap<&str, Node> = doc
        .descendants()
        .filter_map(|n| n.attribute("id").map(|id| (id, n)))
        .collect();
    let mut sizes: HashMap<NodeId, Size> = HashMap::new();
    let mut open: std::collections::HashSet<NodeId> = Default::default();
    let mut stack = vec![(doc.root(), false)];
    while let Some((n, ready)) = stack.pop() {
        if ready {
            let mut s = own_size(n);
            for d in deps(n, &ids) {
                s += sizes.get(&d.id()).copied().unwrap_or_default();
            }
            sizes.insert(n.id(), s);
            open.remove(&n.id());
            continue;
        }
        if sizes.contains_key(&n.id()) || !open.insert(n.id()) {
            continue;
        }
        stack.push((n, true));
        for d in deps(n, &ids) {
            if !sizes.contains_key(&d.id()) && !open.contains(&d.id()) {
                stack.push((d, false));
            }
        }
    }
    sizes
}

/// The children of `n` and, for a `<use>`, the element it names.
fn deps<'a, 'i>(n: Node<'a, 'i>, ids: &HashMap<&'a str, Node<'a, 'i>>) -> Vec<Node<'a, 'i>> {
    let mut d: Vec<Node> = n.children().filter(Node::is_element).collect();
    if n.tag_name().name() == "use" {
        let href = n
            .attributes()
            .find(|a| a.name() == "href")
            .map(|a| a.value());
        d.extend(href.and_then(|h| ids.get(h.strip_prefix('#')?)).copied());
    }
    d
}

/// An element alone: 1, and for a shape its vertices (an upper bound: every number pair).
fn own_size(n: Node) -> Size {
    if !n.is_element() {
        return Size::default();
    }
    let data = match n.tag_name().name() {
        "path" => n.attribute("d"),
        "polyline" | "polygon" => n.attribute("points"),
        "line" | "rect" | "circle" | "ellipse" => Some("0 0 0 0"),
        _ => None,
    };
    Size {
        elements: 1.0,
        shapes: if data.is_some() { 1.0 } else { 0.0 },
        vertices: data.map_or(0.0, |d| numbers(d).div_ceil(2) as f64),
    }
}

/// How many numbers `text` holds (digits, at most one point, an exponent).
fn numbers(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i].is_ascii_digit() || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            n += 1;
            let mut point = b[i] == b'.';
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || (b[i] == b'.' && !point)) {
                point |= b[i] == b'.';
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    n
}
