//! The plain scanning the rules share: a source with its comments (and, on request, the insides
//! of its literals) blanked in place by [`mask`], so a rule sees only code and every offset still
//! points into the file; its identifiers, brackets and string literals; and line numbers.

/// The language a source is masked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lang {
    /// Nested block comments, raw strings, character literals and lifetimes.
    Rust,
    /// `'`, `"` and `` ` `` strings; regular expression literals are not told from division, so a
    /// quote or `//` inside one would be misread.
    Js,
}

/// Whether [`mask`] keeps the insides of string literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strings {
    Keep,
    Blank,
}

/// `source` with every comment replaced by spaces and, with [`Strings::Blank`], the insides of
/// string and character literals too (their quotes stay). Newlines are kept and every byte stays
/// at its offset, so positions in the result are positions in the file.
pub(super) fn mask(source: &str, lang: Lang, strings: Strings) -> String {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to.min(bytes.len())] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    let blank_strings = strings == Strings::Blank;
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let byte = bytes[at];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&byte| byte == b'\n')
                .map_or(bytes.len(), |i| at + i);
            blank(&mut out, at, end);
            at = end;
        } else if rest.starts_with(b"/*") {
            let end = comment_end(bytes, at, lang);
            blank(&mut out, at, end);
            at = end;
        } else if lang == Lang::Rust
            && let Some((quote, hashes)) = raw_string_start(bytes, at)
        {
            let closing: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let content_end = bytes[quote + 1..]
                .windows(closing.len())
                .position(|window| window == closing.as_slice())
                .map_or(bytes.len(), |i| quote + 1 + i);
            if blank_strings {
                blank(&mut out, quote + 1, content_end);
            }
            at = content_end + closing.len();
        } else if byte == b'"' || (lang == Lang::Js && matches!(byte, b'\'' | b'`')) {
            let content_end = quoted_end(bytes, at + 1, byte);
            if blank_strings {
                blank(&mut out, at + 1, content_end);
            }
            at = content_end + 1;
        } else if lang == Lang::Rust
            && byte == b'\''
            && let Some(content_end) = char_literal_end(source, at)
        {
            if blank_strings {
                blank(&mut out, at + 1, content_end);
            }
            at = content_end + 1;
        } else {
            at += 1;
        }
    }
    // Only whole runs between ASCII delimiters were replaced, so the bytes are still UTF-8.
    String::from_utf8_lossy(&out).into_owned()
}

/// The offset just past the block comment opening at `at` (nested in Rust).
pub(super) fn comment_end(bytes: &[u8], at: usize, lang: Lang) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") && (depth == 0 || lang == Lang::Rust) {
            depth += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// For a raw string (`r"`, `r#"`, `br#"`, `cr"` ...) starting at `at`: its opening quote's
/// offset and its number of `#`.
fn raw_string_start(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    if at > 0 && is_ident_byte(bytes[at - 1]) {
        return None;
    }
    let mut i = at;
    if matches!(bytes.get(i), Some(b'b' | b'c')) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'r') {
        return None;
    }
    i += 1;
    let hashes = bytes[i..].iter().take_while(|&&byte| byte == b'#').count();
    i += hashes;
    (bytes.get(i) == Some(&b'"')).then_some((i, hashes))
}

/// The offset of the quote closing a string whose contents start at `from`.
fn quoted_end(bytes: &[u8], from: usize, quote: u8) -> usize {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            byte if byte == quote => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// For a character literal opening at `at` (`'x'`, `'\n'`, `'\u{..}'`): the offset of its closing
/// quote. `None` for a lifetime or a label.
fn char_literal_end(source: &str, at: usize) -> Option<usize> {
    let mut chars = source[at + 1..].char_indices();
    match chars.next()? {
        (_, '\\') => source[at + 2..]
            .char_indices()
            .skip(1)
            .take(10)
            .find(|&(_, c)| c == '\'')
            .map(|(i, _)| at + 2 + i),
        (_, '\'') => None,
        (_, c) => {
            let close = at + 1 + c.len_utf8();
            (source.as_bytes().get(close) == Some(&b'\'')).then_some(close)
        }
    }
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Every identifier (ASCII) in masked code, with its offset; numbers are not identifiers.
pub(super) fn identifiers(code: &str) -> Vec<(usize, &str)> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if is_ident_byte(bytes[at]) && (at == 0 || !is_ident_byte(bytes[at - 1])) {
            let end = bytes[at..]
                .iter()
                .position(|&byte| !is_ident_byte(byte))
                .map_or(bytes.len(), |i| at + i);
            if !bytes[at].is_ascii_digit() {
                found.push((at, &code[at..end]));
            }
            at = end;
        } else {
            at += 1;
        }
    }
    found
}

/// The first byte that is not whitespace at or after `from`, with its offset.
pub(super) fn next_code_byte(code: &str, from: usize) -> Option<(usize, u8)> {
    code.as_bytes()
        .get(from..)?
        .iter()
        .enumerate()
        .find(|(_, byte)| !byte.is_ascii_whitespace())
        .map(|(i, &byte)| (from + i, byte))
}

/// The last byte that is not whitespace before `to`.
pub(super) fn previous_code_byte(code: &str, to: usize) -> Option<u8> {
    code.as_bytes()[..to]
        .iter()
        .rev()
        .find(|byte| !byte.is_ascii_whitespace())
        .copied()
}

/// Whether the identifier at `start..end` is called as a method: `.name(`.
pub(super) fn is_method_call(code: &str, start: usize, end: usize) -> bool {
    previous_code_byte(code, start) == Some(b'.')
        && next_code_byte(code, end).is_some_and(|(_, byte)| byte == b'(')
}

/// The offset of the bracket closing the one at `open`, in code whose strings are blanked.
pub(super) fn matching_close(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &byte) in code.as_bytes().iter().enumerate().skip(open) {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Where the expression going on at `from` ends: a `;` or `,` at its own depth, or the bracket
/// closing the one it is in.
pub(super) fn statement_end(code: &str, from: usize) -> usize {
    let mut depth = 0usize;
    for (i, &byte) in code.as_bytes().iter().enumerate().skip(from) {
        match byte {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => return i,
            b')' | b']' | b'}' => depth -= 1,
            b';' | b',' if depth == 0 => return i,
            _ => {}
        }
    }
    code.len()
}

/// The string literals between `from` and `to`: the offset of each opening quote and the text
/// inside, read from `code` at the quotes found in `blank` (the same source masked with its
/// strings blanked, so a quote inside a string cannot be mistaken for its end).
pub(super) fn string_literals(
    code: &str,
    blank: &str,
    from: usize,
    to: usize,
) -> Vec<(usize, String)> {
    let bytes = blank.as_bytes();
    let mut found = Vec::new();
    let mut at = from;
    while at < to {
        let quote = bytes[at];
        if matches!(quote, b'"' | b'\'' | b'`')
            && let Some(length) = bytes[at + 1..to].iter().position(|&byte| byte == quote)
        {
            found.push((at, code[at + 1..at + 1 + length].to_owned()));
            at += length + 2;
        } else {
            at += 1;
        }
    }
    found
}

/// `code` without ASCII whitespace, and for each byte left its offset in `code`.
pub(super) fn without_whitespace(code: &str) -> (String, Vec<usize>) {
    let mut compact = String::with_capacity(code.len());
    let mut offsets = Vec::with_capacity(code.len());
    for (i, c) in code.char_indices() {
        if !c.is_ascii_whitespace() {
            compact.push(c);
            offsets.extend(std::iter::repeat_n(i, c.len_utf8()));
        }
    }
    (compact, offsets)
}

/// The 1-based line of an offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_blanks_comments_and_optionally_strings_and_keeps_offsets() {
        let source = "let a = \"x // y\"; // tauri\n/* outer /* inner */ tauri */ let c = '\"';\n\
                      let r = r#\"a \"quoted\" b\"#; fn f<'a>(s: &'a str) {}";
        let kept = mask(source, Lang::Rust, Strings::Keep);
        let blanked = mask(source, Lang::Rust, Strings::Blank);
        assert_eq!(kept.len(), source.len());
        assert_eq!(blanked.len(), source.len());
        assert!(kept.contains("\"x // y\""), "{kept}");
        assert!(!kept.contains("tauri"), "{kept}");
        assert!(kept.contains("r#\"a \"quoted\" b\"#"), "{kept}");
        assert!(blanked.contains("\"      \""), "{blanked}");
        assert!(blanked.contains("' '"), "{blanked}");
        assert!(!blanked.contains("quoted"), "{blanked}");
        assert!(blanked.contains("fn f<'a>(s: &'a str)"), "{blanked}");
        assert_eq!(line_of(&blanked, blanked.find("let c").expect("c")), 2);
    }

    #[test]
    fn masking_javascript_reads_all_three_quotes() {
        let source = "const a = 'it\\'s'; // \"no\"\nconst b = `x ${y} \"z\"`; /* 'c' */";
        let blanked = mask(source, Lang::Js, Strings::Blank);
        assert_eq!(blanked.len(), source.len());
        assert!(blanked.starts_with("const a = '     ';"), "{blanked}");
        assert!(blanked.contains("const b = `"), "{blanked}");
        for gone in ["it", "no", "z", "'c'"] {
            assert!(!blanked.contains(gone), "{gone} in {blanked}");
        }
    }
}
