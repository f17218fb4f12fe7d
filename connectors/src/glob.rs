//! Splunk-style `*` wildcard globs: matching, and whether two globs can match a common string.
//!
//! Splunk compares index names and `field=value` search terms case-insensitively, and `*` stands
//! for any run of characters, the empty run included. There is no other metacharacter: `?`, `[`
//! and `\` are literal.

/// The normal form of a glob: lowercase, runs of `*` collapsed to one. Two globs with the same
/// normal form match exactly the same strings.
pub fn normalize(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    for c in glob.chars().flat_map(char::to_lowercase) {
        if c == '*' && out.ends_with('*') {
            continue;
        }
        out.push(c);
    }
    out
}

/// True when `glob` matches all of `s`, case-insensitively. A `*` in `s` is an ordinary character.
pub fn matches(glob: &str, s: &str) -> bool {
    let p: Vec<char> = lower_chars(glob);
    let s: Vec<char> = lower_chars(s);
    // Greedy match with one backtrack point: on a mismatch, the most recent `*` takes one more
    // character. Earlier stars never need to grow, so this is linear-ish and exact.
    let (mut pi, mut si) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match backtrack {
                Some((star, taken)) => {
                    pi = star + 1;
                    si = taken + 1;
                    backtrack = Some((star, taken + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// True when some string is matched by both globs, case-insensitively.
///
/// This is reachability in the product of the two patterns' automata. State `(i, j)` means "a
/// prefix of the common string is matched by `a[..i]` and by `b[..j]`". From it, a `*` on either
/// side may be skipped (it matched the empty run), a `*` on one side may absorb the other side's
/// next literal, and two equal literals advance together. A `*` facing a `*` never needs to
/// consume anything: skipping either one reaches every state that would. Every move increases
/// `i + j`, so a table filled from the end answers in O(|a|·|b|).
pub fn can_overlap(a: &str, b: &str) -> bool {
    let a = lower_chars(a);
    let b = lower_chars(b);
    let (n, m) = (a.len(), b.len());
    let width = m + 1;
    // reach[i * width + j]: the rest a[i..] and b[j..] can match a common string.
    let mut reach = vec![false; (n + 1) * width];
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            let at = |i: usize, j: usize| reach[i * width + j];
            let ok = if i == n && j == m {
                true
            } else {
                let skip_a = i < n && a[i] == '*' && at(i + 1, j);
                let skip_b = j < m && b[j] == '*' && at(i, j + 1);
                let step = i < n
                    && j < m
                    && match (a[i], b[j]) {
                        ('*', '*') => false,
                        ('*', _) => at(i, j + 1),
                        (_, '*') => at(i + 1, j),
                        (x, y) => x == y && at(i + 1, j + 1),
                    };
                skip_a || skip_b || step
            };
            reach[i * width + j] = ok;
        }
    }
    reach[0]
}

fn lower_chars(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Textbook recursive matcher: the reference the fast ones are checked against.
    fn reference_match(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('*', rest)) => (0..=s.len()).any(|k| reference_match(rest, &s[k..])),
            Some((c, rest)) => s.first() == Some(c) && reference_match(rest, &s[1..]),
        }
    }

    /// Every string over `alphabet` of length `0..=max`.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |c| {
                        let mut t = s.clone();
                        t.push(*c);
                        t
                    })
                })
                .collect();
            out.extend(layer.iter().cloned());
        }
        out
    }

    #[test]
    fn star_matches_any_run_including_the_empty_one() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("acme*", "acme"));
        assert!(matches("acme*", "acme_prod"));
        assert!(matches("*prod", "acme_prod"));
        assert!(matches("a*c", "ac"));
        assert!(matches("a*c", "abbbc"));
        assert!(matches("a*b*c", "a_b_b_c"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn literals_must_match_the_whole_string() {
        assert!(matches("notable", "notable"));
        assert!(!matches("notable", "notables"));
        assert!(!matches("notable", "notabl"));
        assert!(!matches("acme*", "globex"));
        assert!(!matches("a*c", "abcd"));
        assert!(!matches("", "a"));
        assert!(matches("", ""));
    }

    #[test]
    fn matching_ignores_case() {
        assert!(matches("ACME*", "acme_prod"));
        assert!(matches("acme*", "ACME_PROD"));
        assert!(can_overlap("ACME*", "acme_prod"));
    }

    #[test]
    fn only_star_is_special() {
        assert!(matches("a?c", "a?c"));
        assert!(!matches("a?c", "abc"));
        assert!(matches("[ab]", "[ab]"));
        assert!(!matches("[ab]", "a"));
        // A `*` in the subject is an ordinary character.
        assert!(matches("a*", "a*"));
        assert!(!matches("a", "*"));
    }

    #[test]
    fn matches_agrees_with_the_reference_on_every_small_case() {
        let patterns = all_strings(&['a', 'b', '*'], 5);
        let subjects = all_strings(&['a', 'b'], 5);
        for p in &patterns {
            let pc: Vec<char> = p.chars().collect();
            for s in &subjects {
                let sc: Vec<char> = s.chars().collect();
                assert_eq!(
                    matches(p, s),
                    reference_match(&pc, &sc),
                    "glob {p:?} on {s:?}"
                );
            }
        }
    }

    #[test]
    fn prefix_and_suffix_globs_overlap() {
        assert!(can_overlap("a*", "*b")); // "ab"
        assert!(can_overlap("*b", "a*"));
    }

    #[test]
    fn a_prefix_glob_overlaps_a_name_it_matches() {
        assert!(can_overlap("acme*", "acme_prod"));
        assert!(can_overlap("acme_prod", "acme*"));
        assert!(can_overlap("acme*", "acme"));
    }

    #[test]
    fn globs_with_different_literal_prefixes_are_disjoint() {
        assert!(!can_overlap("acme*", "globex*"));
        assert!(!can_overlap("globex*", "acme*"));
        assert!(!can_overlap("acme*", "globex_prod"));
        assert!(!can_overlap("*_prod", "*_dev"));
    }

    #[test]
    fn a_lone_star_overlaps_anything() {
        for other in ["", "*", "a", "acme_prod", "a*b*c", "*x*"] {
            assert!(can_overlap("*", other), "* vs {other:?}");
            assert!(can_overlap(other, "*"), "{other:?} vs *");
        }
    }

    #[test]
    fn stars_inside_both_globs_can_meet() {
        assert!(can_overlap("a*c", "ab*")); // "abc"
        assert!(can_overlap("*a*", "*b*")); // "ab"
        assert!(!can_overlap("a*c", "b*"));
        assert!(!can_overlap("a*c", "*b")); // one ends in c, the other in b
    }

    #[test]
    fn distinct_literals_are_disjoint_and_equal_ones_overlap() {
        assert!(!can_overlap("abc", "abd"));
        assert!(!can_overlap("abc", "abcd"));
        assert!(can_overlap("abc", "abc"));
        assert!(can_overlap("", ""));
        assert!(!can_overlap("", "a"));
        assert!(can_overlap("", "**"));
    }

    #[test]
    fn can_overlap_agrees_with_brute_force_on_every_small_pair() {
        // If two globs share a string, they share one no longer than their literals together:
        // a character absorbed by a star on both sides can be dropped from the witness.
        let patterns = all_strings(&['a', 'b', '*'], 4);
        let witnesses = all_strings(&['a', 'b'], 8);
        let matched: Vec<Vec<bool>> = patterns
            .iter()
            .map(|p| witnesses.iter().map(|w| matches(p, w)).collect())
            .collect();
        for (a, ma) in patterns.iter().zip(&matched) {
            for (b, mb) in patterns.iter().zip(&matched) {
                let brute = ma.iter().zip(mb).any(|(x, y)| *x && *y);
                assert_eq!(can_overlap(a, b), brute, "{a:?} vs {b:?}");
                assert_eq!(can_overlap(a, b), can_overlap(b, a), "symmetry {a:?} {b:?}");
            }
        }
    }

    #[test]
    fn long_globs_are_answered_quickly() {
        let a = format!("{}a", "a*".repeat(500));
        assert!(!can_overlap(&a, &format!("{}c", "*b".repeat(500))));
        assert!(can_overlap(&a, &format!("{}a", "*b".repeat(500))));
        assert!(!matches(&"*a".repeat(200), &"a".repeat(199)));
    }

    #[test]
    fn normalize_lowercases_and_collapses_star_runs() {
        assert_eq!(normalize("ACME**_Prod***"), "acme*_prod*");
        assert_eq!(normalize("***"), "*");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("a*b"), "a*b");
    }

    #[test]
    fn normalized_globs_match_the_same_strings() {
        let patterns = all_strings(&['a', 'B', '*'], 4);
        let subjects = all_strings(&['a', 'b'], 4);
        for p in &patterns {
            let n = normalize(p);
            for s in &subjects {
                assert_eq!(matches(p, s), matches(&n, s), "{p:?} vs {n:?} on {s:?}");
            }
        }
    }
}
