//! Splunk version numbers: which servers have the v2 search endpoints.

/// 9.0.2 brought the v2 search endpoints; Splunk Cloud numbers its releases 9.0.YYMM.
pub fn supports_v2(version: &str, cloud: bool) -> bool {
    let want: &[u64] = if cloud { &[9, 0, 2209] } else { &[9, 0, 2] };
    let have: Vec<u64> = version
        .trim()
        .split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .collect();
    for (i, w) in want.iter().enumerate() {
        let h = have.get(i).copied().unwrap_or(0);
        if h != *w {
            return h > *w;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_from_9_0_2_and_cloud_from_9_0_2209() {
        assert!(supports_v2("9.0.2", false));
        assert!(supports_v2("10.2.1", false));
        assert!(!supports_v2("9.0.1", false));
        assert!(!supports_v2("8.2.12", false));
        assert!(supports_v2("9.0.2209.1", true));
        assert!(!supports_v2("9.0.2208", true));
        assert!(supports_v2("9.1.2308.203", true));
    }
}
