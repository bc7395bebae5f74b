//! The one way HTML is written: markup only as `&'static str` (written in
//! this crate's source), everything else through [`escape`].
//!
//! Memory text is hostile input (a stored turn may be `<script>…` or
//! `<img onerror=…>`). The builder makes the safe path the only path: no
//! method takes a runtime string as markup, attribute values and text are
//! escaped for both contexts, and links are [`Href`]s, which always start
//! with one of our own paths and percent-encode every part that comes from
//! data, so no page links to an address found in memory text.

use std::fmt::{Display, Write as _};

/// `s` with the five characters that can change the meaning of HTML text
/// or of a quoted attribute value replaced by entities.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `s` percent-encoded for a path segment or a query value: everything
/// but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A link to one of the inspector's own pages.
#[derive(Debug, Clone)]
pub struct Href(String);

impl Href {
    /// `path` is ours (a literal starting with `/`).
    pub fn new(path: &'static str) -> Href {
        debug_assert!(path.starts_with('/') && !path.starts_with("//"));
        Href(path.to_owned())
    }

    /// Appends one path segment, encoded.
    pub fn seg(mut self, s: &str) -> Href {
        self.0.push_str(&encode(s));
        self
    }

    /// Appends `name=value` to the query, the value encoded.
    pub fn q(mut self, name: &'static str, value: &str) -> Href {
        self.0.push(if self.0.contains('?') { '&' } else { '?' });
        self.0.push_str(name);
        self.0.push('=');
        self.0.push_str(&encode(value));
        self
    }

    /// Appends a fragment (`#id`), encoded.
    pub fn frag(mut self, s: &str) -> Href {
        self.0.push('#');
        self.0.push_str(&encode(s));
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An HTML document under construction.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
}

impl Html {
    pub fn new() -> Html {
        Html {
            out: String::with_capacity(16 * 1024),
        }
    }

    /// Markup written in our source.
    pub fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.out.push_str(markup);
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.out.push_str(&escape(s));
        self
    }

    /// A value's `Display`, escaped (numbers, times, …).
    pub fn show(&mut self, v: impl Display) -> &mut Self {
        let s = v.to_string();
        self.text(&s)
    }

    /// `<tag name="value" …>`, each value escaped.
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            self.out.push_str(&escape(value));
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `<tag>text</tag>`.
    pub fn el(&mut self, tag: &'static str, text: &str) -> &mut Self {
        self.open(tag, &[]).text(text).close(tag)
    }

    /// `<tag class="class">text</tag>`.
    pub fn el_class(&mut self, tag: &'static str, class: &str, text: &str) -> &mut Self {
        self.open(tag, &[("class", class)]).text(text).close(tag)
    }

    /// `<td>value</td>` for any `Display`.
    pub fn td(&mut self, v: impl Display) -> &mut Self {
        self.raw("<td>").show(v).raw("</td>")
    }

    /// `<a href="…">text</a>` to one of our pages.
    pub fn link(&mut self, href: &Href, text: &str) -> &mut Self {
        self.open("a", &[("href", href.as_str())])
            .text(text)
            .close("a")
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert_in_text_and_attributes() {
        let evil = r#"<script>alert(1)</script><img src=x onerror="alert('x')">&amp;"#;
        let mut h = Html::new();
        h.el("p", evil).open("input", &[("value", evil)]);
        let out = h.finish();
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(!out.contains("\"alert"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(
            out.contains("onerror=&quot;alert(&#39;x&#39;)&quot;"),
            "{out}"
        );
        assert!(out.contains("&amp;amp;"), "{out}");
        assert_eq!(escape("plain text"), "plain text");
    }

    #[test]
    fn links_stay_on_our_paths() {
        let h = Href::new("/sessions/")
            .seg("javascript:alert(1)//\"><x")
            .q("ns", "a&b=c d")
            .frag("x y");
        assert_eq!(
            h.as_str(),
            "/sessions/javascript%3Aalert%281%29%2F%2F%22%3E%3Cx?ns=a%26b%3Dc%20d#x%20y"
        );
        let h2 = Href::new("/recall").q("q", "1").q("k", "2");
        assert_eq!(h2.as_str(), "/recall?q=1&k=2");
        assert_eq!(encode("é"), "%C3%A9");
    }
}
