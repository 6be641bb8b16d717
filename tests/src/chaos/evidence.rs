//! What a failing run's devstack logged, attached to the failure: a run that breaks a guarantee
//! on a loaded CI machine cannot be replayed by its seed alone (the timing differs), so the CI
//! output itself must say what the fanout and the gateway did for that run.

use std::collections::HashSet;

/// Most log lines attached to one failing run.
const MOST_LINES: usize = 200;

/// The lines of the `STARLING_E2E_LOG` file that mention `tag` (the run's room and users), and
/// those of the connections they name; empty when no log is being written.
pub(super) fn logged_for(tag: &str) -> Vec<String> {
    let Some(path) = std::env::var_os("STARLING_E2E_LOG") else { return Vec::new() };
    std::fs::read_to_string(&path).map(|text| lines_for(&text, tag)).unwrap_or_default()
}

/// The lines of `text` that mention `tag`, and those of the connections they name; the last
/// [`MOST_LINES`].
fn lines_for(text: &str, tag: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let connections: HashSet<&str> = lines
        .iter()
        .filter(|l| l.contains(tag))
        .filter_map(|l| l.split("connection_id=").nth(1))
        .filter_map(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').find(|s| !s.is_empty()))
        .collect();
    let relevant: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(tag) || connections.iter().any(|c| l.contains(c)))
        .map(|l| (*l).to_owned())
        .collect();
    let skip = relevant.len().saturating_sub(MOST_LINES);
    relevant.into_iter().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runs_lines_and_its_connections_lines_are_found_and_no_others() {
        let log = "a connected connection_id=AAA= user=\"s0-c-1\"\n\
                   b post failed connection_id=\"AAA=\" error=x\n\
                   c connected connection_id=BBB= user=\"s0-c-2\"\n\
                   d message delivered room=chaos-c-1 seq=1\n";
        let found = lines_for(log, "c-1");
        let firsts: Vec<char> = found.iter().filter_map(|l| l.trim_start().chars().next()).collect();
        assert_eq!(firsts, vec!['a', 'b', 'd'], "{found:?}");
    }

    #[test]
    fn only_the_last_lines_are_kept() {
        let log: String = (0..MOST_LINES + 50).map(|i| format!("{i} room=chaos-t\n")).collect();
        let found = lines_for(&log, "chaos-t");
        assert_eq!(found.len(), MOST_LINES);
        assert!(found[0].starts_with("50 "), "{}", found[0]);
    }
}
