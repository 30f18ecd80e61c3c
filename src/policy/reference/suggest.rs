//! "Did you mean" for a misspelt service prefix or action name: the closest
//! known name by edit distance, if it is close enough to be a typo rather
//! than a different word.
//!
//! Written here rather than taken from `strsim` (which clap already pulls
//! in) to keep fnctl's direct dependencies as they are: it is twenty lines.

/// The candidate closest to `word` (ignoring ASCII case), when at most
/// [`budget`] edits away; ties go to the first candidate in order, so the
/// answer is stable for a sorted candidate list.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = budget(word.len());
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        // Cheap bound first: the length difference alone costs that many edits.
        if candidate.len().abs_diff(word.len()) > limit {
            continue;
        }
        let distance = edit_distance(&word, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// How many edits still read as a typo: one for short names, up to three
/// for long ones (`PutObjekt` → `PutObject` is one, `SendMesage` one).
pub(crate) fn budget(length: usize) -> usize {
    (length / 5).clamp(1, 3)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours (`PutObjcet`), each costing one.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a = a.as_bytes();
    let b = b.as_bytes();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = value;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("putobjekt", "putobject"), 1);
        assert_eq!(edit_distance("sendmesage", "sendmessage"), 1);
        assert_eq!(edit_distance("putitems", "putitem"), 1);
        assert_eq!(edit_distance("putobjcet", "putobject"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }

    #[test]
    fn closest_prefers_the_nearest_and_refuses_strangers() {
        let names = ["GetObject", "PutObject", "PutObjectAcl"];
        assert_eq!(closest("PutObjekt", names), Some("PutObject"));
        assert_eq!(closest("putobjectacl", names), Some("PutObjectAcl"));
        assert_eq!(closest("DeleteBucket", names), None);
        assert_eq!(closest("sqs", ["sns", "sqs"]), Some("sqs"));
        // Ties go to the first candidate.
        assert_eq!(closest("s4", ["s3", "s5"]), Some("s3"));
    }
}
