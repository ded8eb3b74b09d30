//! Live progress: an indicatif bar with the rate and current p99 on a
//! terminal, plain log lines once a second otherwise.

use crate::report::Point;
use crate::Load;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(load: &Load) -> Progress {
        if !std::io::stdout().is_terminal() {
            return Progress { bar: None };
        }
        let bar = match (load.requests, load.duration) {
            (Some(n), _) => ProgressBar::new(n),
            (None, Some(d)) => ProgressBar::new(d.as_secs().max(1)),
            _ => ProgressBar::new_spinner(),
        };
        let style =
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar: Some(bar) }
    }

    pub fn update(&self, point: &Point, completed: u64) {
        let message = format!("{:.0} req/s  p99 {:.2} ms", point.rate, point.p99_ms);
        match &self.bar {
            Some(bar) => {
                if bar.length().is_some_and(|l| l > 10_000) {
                    bar.set_position(completed);
                } else {
                    bar.set_position(point.t as u64);
                }
                bar.set_message(message);
            }
            None => println!("t={:>5.1}s done={completed} rate={message}", point.t),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
