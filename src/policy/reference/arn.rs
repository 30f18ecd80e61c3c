//! Whether a statement's resource can name a resource of a given type.
//!
//! Both sides are patterns, not strings: the reference gives ARN formats with
//! placeholders (`arn:${Partition}:s3:::${BucketName}/${ObjectName}`) and a
//! manifest's resource may hold IAM wildcards (`arn:aws:s3:::bucket*`) and
//! policy variables (`${aws:username}`). The question "could this statement
//! ever grant this action?" is therefore whether the two patterns have a
//! string in common, decided exactly by walking both at once (the product
//! of two small automata). It never answers "no" for a pair that some real
//! ARN satisfies, which is what keeps "grants nothing" free of false alarms;
//! the few ways it is looser than AWS are listed on [`Placeholder`].

/// What a placeholder of a reference ARN format may stand for.
///
/// Deliberately loose, so that a mismatch is only reported when no ARN at all
/// fits both sides:
/// * in the partition, service, region and account fields a placeholder is
///   any run without `:` (those fields never hold one);
/// * in the resource part it is any run at all, `:` and `/` included, since
///   names such as a Lambda function's may be followed by `:alias` and object
///   keys hold `/`;
/// * except `${BucketName}`, which never holds `/`: that is what tells a
///   bucket (`arn:aws:s3:::b`) from its objects (`arn:aws:s3:::b/*`), the
///   same special case parliament makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Any,
    NoColon,
    NoSlash,
}

impl Placeholder {
    fn allows(self, c: char) -> bool {
        match self {
            Placeholder::Any => true,
            Placeholder::NoColon => c != ':',
            Placeholder::NoSlash => c != '/' && c != ':',
        }
    }
}

/// One step of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    /// This character; compared ASCII case-insensitively, so a difference
    /// of case alone never makes a mismatch (over-cautious, by intent).
    Char(char),
    /// Exactly one character (IAM `?`).
    One,
    /// Any run of characters the placeholder allows, the empty run included
    /// (IAM `*`, a policy variable, a reference placeholder).
    Run(Placeholder),
}

/// A compiled pattern, either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    atoms: Vec<Atom>,
}

impl Pattern {
    /// An ARN format of the reference: `${…}` are placeholders, every other
    /// character (including `*`, which some formats hold literally) is itself.
    pub(crate) fn reference(format: &str) -> Pattern {
        let mut atoms = Vec::with_capacity(format.len());
        let mut colons = 0;
        let mut rest = format;
        while let Some(c) = rest.chars().next() {
            if let Some((name, after)) = placeholder(rest) {
                let kind = if colons < 5 {
                    Placeholder::NoColon
                } else if name == "BucketName" {
                    Placeholder::NoSlash
                } else {
                    Placeholder::Any
                };
                atoms.push(Atom::Run(kind));
                rest = after;
                continue;
            }
            if c == ':' {
                colons += 1;
            }
            atoms.push(Atom::Char(c));
            rest = &rest[c.len_utf8()..];
        }
        Pattern { atoms }
    }

    /// A resource of a policy statement: `*` and `?` are IAM wildcards, a
    /// policy variable (`${aws:username}`) may become anything, and `${*}`,
    /// `${?}`, `${$}` are IAM's escapes for those characters.
    pub(crate) fn resource(text: &str) -> Pattern {
        let mut atoms = Vec::with_capacity(text.len());
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if let Some((name, after)) = placeholder(rest) {
                atoms.push(match name {
                    "*" => Atom::Char('*'),
                    "?" => Atom::Char('?'),
                    "$" => Atom::Char('$'),
                    _ => Atom::Run(Placeholder::Any),
                });
                rest = after;
                continue;
            }
            atoms.push(match c {
                '*' => Atom::Run(Placeholder::Any),
                '?' => Atom::One,
                _ => Atom::Char(c),
            });
            rest = &rest[c.len_utf8()..];
        }
        Pattern { atoms }
    }

    /// The single string `*`: what an action that supports no resource type
    /// is authorized against, so only a resource that can be `*` grants it.
    pub(crate) fn star() -> Pattern {
        Pattern {
            atoms: vec![Atom::Char('*')],
        }
    }

    /// Whether the pattern matches every string (`*`, `**`, `${aws:userid}`):
    /// lets callers skip the walk.
    pub(crate) fn matches_everything(&self) -> bool {
        self.atoms
            .iter()
            .all(|atom| matches!(atom, Atom::Run(Placeholder::Any)))
    }

    /// Whether some string matches both patterns.
    pub(crate) fn intersects(&self, other: &Pattern) -> bool {
        if self.matches_everything() || other.matches_everything() {
            return true;
        }
        let (a, b) = (&self.atoms, &other.atoms);
        let width = b.len() + 1;
        let mut seen = vec![false; (a.len() + 1) * width];
        let mut stack = vec![(0usize, 0usize)];
        seen[0] = true;
        while let Some((i, j)) = stack.pop() {
            if i == a.len() && j == b.len() {
                return true;
            }
            let mut next = |i: usize, j: usize, stack: &mut Vec<(usize, usize)>| {
                let slot = &mut seen[i * width + j];
                if !*slot {
                    *slot = true;
                    stack.push((i, j));
                }
            };
            // A run may stand for nothing.
            if let Some(Atom::Run(_)) = a.get(i) {
                next(i + 1, j, &mut stack);
            }
            if let Some(Atom::Run(_)) = b.get(j) {
                next(i, j + 1, &mut stack);
            }
            // Or both sides read one character they agree on.
            if let (Some(&x), Some(&y)) = (a.get(i), b.get(j)) {
                if share_a_character(x, y) {
                    let i2 = if matches!(x, Atom::Run(_)) { i } else { i + 1 };
                    let j2 = if matches!(y, Atom::Run(_)) { j } else { j + 1 };
                    if (i2, j2) != (i, j) {
                        next(i2, j2, &mut stack);
                    }
                }
            }
        }
        false
    }
}

/// `${name}` at the start of `text`: the name and what follows the `}`.
fn placeholder(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix("${")?;
    let end = inner.find('}')?;
    Some((&inner[..end], &inner[end + 1..]))
}

/// Whether one character can be read by both atoms.
fn share_a_character(x: Atom, y: Atom) -> bool {
    match (x, y) {
        (Atom::Char(c), Atom::Char(d)) => c.eq_ignore_ascii_case(&d),
        (Atom::Char(c), Atom::Run(p)) | (Atom::Run(p), Atom::Char(c)) => p.allows(c),
        // Any letter fits every placeholder and `?`.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(format: &str, resource: &str) -> bool {
        Pattern::reference(format).intersects(&Pattern::resource(resource))
    }

    const BUCKET: &str = "arn:${Partition}:s3:::${BucketName}";
    const OBJECT: &str = "arn:${Partition}:s3:::${BucketName}/${ObjectName}";
    const FUNCTION: &str = "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}";
    const QUEUE: &str = "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}";

    #[test]
    fn bucket_and_object_are_told_apart() {
        assert!(fits(BUCKET, "arn:aws:s3:::b"));
        assert!(!fits(BUCKET, "arn:aws:s3:::b/*"));
        assert!(!fits(BUCKET, "arn:aws:s3:::b/prefix/key"));
        assert!(fits(OBJECT, "arn:aws:s3:::b/*"));
        assert!(fits(OBJECT, "arn:aws:s3:::b/prefix/*"));
        assert!(!fits(OBJECT, "arn:aws:s3:::b"));
    }

    #[test]
    fn a_wildcard_resource_fits_what_some_expansion_fits() {
        assert!(fits(BUCKET, "arn:aws:s3:::b*"));
        assert!(fits(OBJECT, "arn:aws:s3:::b*"));
        assert!(fits(BUCKET, "arn:aws:s3:::b?"));
        // `?` may be the `/` of `b/`.
        assert!(fits(OBJECT, "arn:aws:s3:::b?"));
        assert!(fits(OBJECT, "arn:*:s3:::*"));
        assert!(fits(QUEUE, "arn:aws:sqs:*:*:*"));
        assert!(fits(QUEUE, "*"));
        assert!(fits(QUEUE, "arn:*"));
        assert!(fits(OBJECT, "arn:aws:s3:::home/${aws:username}/*"));
    }

    #[test]
    fn services_and_fields_must_agree() {
        assert!(fits(QUEUE, "arn:aws:sqs:us-east-1:123456789012:events"));
        assert!(!fits(QUEUE, "arn:aws:sns:us-east-1:123456789012:events"));
        // The region placeholder cannot swallow the account's colon.
        assert!(!fits(QUEUE, "arn:aws:sqs:us-east-1:123456789012"));
        assert!(fits(
            FUNCTION,
            "arn:aws:lambda:us-east-1:123456789012:function:f"
        ));
        assert!(fits(
            FUNCTION,
            "arn:aws:lambda:us-east-1:123456789012:function:f:*"
        ));
        assert!(!fits(
            FUNCTION,
            "arn:aws:lambda:us-east-1:123456789012:layer:f"
        ));
    }

    #[test]
    fn case_alone_never_makes_a_mismatch() {
        assert!(fits(QUEUE, "ARN:AWS:SQS:us-east-1:123456789012:Events"));
    }

    #[test]
    fn iam_escapes_are_literal_characters() {
        assert!(Pattern::star().intersects(&Pattern::resource("${*}")));
        assert!(!fits(BUCKET, "arn:aws:s3:::b${?}/k"));
        assert!(Pattern::resource("a${$}b").intersects(&Pattern::resource("a$b")));
    }

    #[test]
    fn only_a_resource_that_can_be_star_fits_star() {
        let star = Pattern::star();
        assert!(star.intersects(&Pattern::resource("*")));
        assert!(star.intersects(&Pattern::resource("?")));
        assert!(!star.intersects(&Pattern::resource("arn:aws:s3:::*")));
        assert!(!star.intersects(&Pattern::resource("arn:*")));
    }

    #[test]
    fn unterminated_placeholders_are_plain_text() {
        assert!(Pattern::resource("a${b").intersects(&Pattern::resource("a${b")));
        assert!(!Pattern::resource("a${b").intersects(&Pattern::resource("a")));
    }
}
