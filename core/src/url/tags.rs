//! The `Cache-Tag` both hosts send, so a CDN in front (Cloudflare's purge by tag) can drop
//! every cached response made from one original, or from every original under a prefix.

/// Most directory levels tagged: a key nested deeper gets tags for its first eight levels.
pub const MAX_TAGGED_DIRS: usize = 8;

/// The `Cache-Tag` value for responses made from the original at `key`: the key itself, then
/// each of its parent directories with a trailing `/`, comma-separated, e.g.
/// `photos/2024/cat.jpg,photos/,photos/2024/`. Purging the tag `photos/` drops every response
/// made from an original under `photos/`.
///
/// Tags are percent-encoded (everything but letters, digits, `-._~/`), so a key holding a comma,
/// a space or non-ASCII text is still one tag, and the header is plain ASCII. A tag longer than
/// Cloudflare's 1,024 characters is left out rather than cut (a cut tag would name something
/// else).
pub fn cache_tags(key: &str) -> String {
    const MAX_TAG: usize = 1024;
    let mut tags = Vec::new();
    let whole = encode(key);
    if whole.len() <= MAX_TAG {
        tags.push(whole);
    }
    let mut dir = String::new();
    for segment in key
        .split('/')
        .rev()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        if tags.len() > MAX_TAGGED_DIRS {
            break;
        }
        dir.push_str(&encode(segment));
        dir.push('/');
        if dir.len() > MAX_TAG {
            break;
        }
        tags.push(dir.clone());
    }
    tags.join(",")
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cache_tags;

    #[test]
    fn a_key_and_its_directories() {
        assert_eq!(cache_tags("cat.jpg"), "cat.jpg");
        assert_eq!(
            cache_tags("photos/2024/cat.jpg"),
            "photos/2024/cat.jpg,photos/,photos/2024/"
        );
    }

    #[test]
    fn commas_spaces_and_unicode_stay_inside_one_tag() {
        assert_eq!(cache_tags("a,b/c d.jpg"), "a%2Cb/c%20d.jpg,a%2Cb/");
        assert_eq!(cache_tags("é.png"), "%C3%A9.png");
    }

    #[test]
    fn deep_and_long_keys_are_bounded() {
        let deep = "d/".repeat(50) + "x.jpg";
        let tags = cache_tags(&deep);
        assert_eq!(tags.split(',').count(), 1 + super::MAX_TAGGED_DIRS);
        let long = format!("{}/x.jpg", "a".repeat(1030));
        assert_eq!(cache_tags(&long), "");
        let long_name = format!("p/{}", "b".repeat(1030));
        assert_eq!(cache_tags(&long_name), "p/");
    }
}
