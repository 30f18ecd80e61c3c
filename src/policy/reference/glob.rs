//! IAM's wildcards in action names: `*` is any run of characters, `?` any one
//! character, and the comparison ignores case, as IAM does for actions.
//! Action names are ASCII, so this works on bytes.

/// Whether `text` is matched by `pattern`, ignoring ASCII case.
pub(crate) fn matches(pattern: &str, text: &str) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen and where in `text` it was tried from: on a mismatch
    // the star takes one more character (the classic linear-space matcher).
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, from)) => {
                    p = star + 1;
                    t = from + 1;
                    backtrack = Some((star, from + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether `text` holds an IAM wildcard.
pub(crate) fn is_pattern(text: &str) -> bool {
    text.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_case() {
        assert!(matches("Put*", "PutObject"));
        assert!(matches("put*", "PutObject"));
        assert!(matches("*Object", "PutObject"));
        assert!(matches("*object*", "GetObjectAcl"));
        assert!(matches("Get?bject", "GetObject"));
        assert!(matches("*", ""));
        assert!(matches("**", "x"));
        assert!(!matches("Put*", "GetObject"));
        assert!(!matches("Get?bject", "GetObjectAcl"));
        assert!(!matches("", "x"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn is_pattern_sees_both_wildcards() {
        assert!(is_pattern("Put*"));
        assert!(is_pattern("Get?"));
        assert!(!is_pattern("PutObject"));
    }
}
