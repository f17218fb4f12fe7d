//! A live progress line on stderr while pulling — only when stderr is a terminal, so pipelines
//! and CI logs stay clean.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

pub struct Progress {
    state: Option<Mutex<State>>,
}

struct State {
    names: Vec<String>,
    counts: Vec<u64>,
    started: Instant,
    last_draw: Instant,
}

impl Progress {
    pub fn new(names: &[String]) -> Progress {
        let state = std::io::stderr().is_terminal().then(|| {
            Mutex::new(State {
                names: names.to_vec(),
                counts: vec![0; names.len()],
                started: Instant::now(),
                last_draw: Instant::now(),
            })
        });
        Progress { state }
    }

    pub fn update(&self, index: usize, count: u64) {
        let Some(state) = &self.state else { return };
        let Ok(mut s) = state.lock() else { return };
        if let Some(c) = s.counts.get_mut(index) {
            *c = count;
        }
        if s.last_draw.elapsed().as_millis() >= 100 {
            s.last_draw = Instant::now();
            draw(&s);
        }
    }

    pub fn finish(&self) {
        let Some(state) = &self.state else { return };
        if let Ok(s) = state.lock() {
            draw(&s);
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn draw(s: &State) {
    let parts: Vec<String> = s
        .names
        .iter()
        .zip(&s.counts)
        .map(|(n, c)| format!("{n} {c} ({:.0}/s)", super::rate(*c, s.started)))
        .collect();
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{}", parts.join(" | "));
    let _ = err.flush();
}
