//! The text of a question: what the program controls shown inert, every line fitted to the terminal's width.
//!
//! The executable path, the command line, the arguments and the paths come from the program, which can put any
//! bytes in them. [`clean`] escapes what a terminal would act on or what would reorder the text: C0 and C1 controls
//! and DEL (`\x1b`, `\u{9b}`), bidirectional overrides and invisible format characters (`\u{202e}`). Lines never
//! wrap by themselves: each is cut to the width (with `…`), and the one that matters most, the call with its
//! paths, is broken over several lines instead, up to a limit, past which its middle is left out with a count.

use std::time::{Duration, SystemTime};

use super::scope::{self, Lasting};
use super::{Menu, Question, Status};
use proto::OnTimeout;

/// Escapes controls and invisible or reordering characters as `\xNN` / `\u{NNNN}`; everything else is kept.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let invisible =
            matches!(c as u32, 0xad | 0x061c | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2069 | 0xfeff);
        if c.is_control() && (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else if c.is_control() || invisible {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The lines of a question for a terminal `width` columns wide and `height` rows high (each line shorter than
/// `width`, so the terminal never wraps it), with the time the answer is due (`deadline`, local time), how many
/// other questions wait (and how many of them are like this one), and the second step of an "always" answer.
pub fn lines(q: &Question, width: usize, height: usize, deadline: SystemTime, status: &Status) -> Vec<String> {
    let width = width.clamp(20, 1000) - 1;
    let mut out = vec![fit(&format!("supervise asks: pid {} {}", q.pid, clean(&q.exe)), width)];
    out.push(fit(&format!("  {}", clean(&q.cmdline)), width));
    let mut below = Vec::new();
    if status.alike > 0 {
        let dir = scope::slash(&scope::directories(&q.paths, status.menu.as_ref().map_or(0, |m| m.up)).join(" "));
        let line =
            format!("  {} more like this: {} under {} ([a] then [u] answers them too)", status.alike, q.syscall, dir);
        below.push(fit(&clean(&line), width));
    }
    match &status.menu {
        None => below.push(fit(keys(width), width)),
        Some(menu) => below.extend(step(q, menu, width)),
    }
    // The call gets whatever rows the rest leaves, at least 3.
    let call = format!("wants {}({})", clean(&q.syscall), clean(&q.args));
    out.extend(wrap(&call, width, height.saturating_sub(6 + below.len()).max(3)));
    out.extend(below);
    let then = match q.on_timeout {
        OnTimeout::Allow => "allow",
        OnTimeout::Deny => "deny",
    };
    let waiting = status.waiting;
    let queued = if waiting > 0 { format!(" · {waiting} more waiting") } else { String::new() };
    let due = format!("  no answer by {} ({} s): {then}{queued}", clock(deadline), seconds(q.timeout));
    out.push(fit(&due, width));
    out
}

fn keys(width: usize) -> &'static str {
    const WIDE: &str = "  [y] allow once  [n] deny once  [a] always allow…  [d] always deny…";
    if width > WIDE.len() {
        WIDE
    } else {
        "  y/n: once  a/d: always…"
    }
}

/// The second step of an "always" answer: what it covers (scope keys end the step) and for how long.
fn step(q: &Question, menu: &Menu, width: usize) -> Vec<String> {
    let verb = if menu.allow { "allow" } else { "deny" };
    let again = if menu.allow { 'a' } else { 'd' };
    let mut out = vec![fit(&format!("  {verb} {}, {}, for what?", clean(&q.syscall), menu.lasting.describe()), width)];
    if q.paths.is_empty() {
        out.push(fit(&format!("  [Enter/{again}] any arguments  [Backspace] back"), width));
    } else {
        let this = if q.paths.len() == 1 { "this path" } else { "these paths" };
        out.push(fit(&format!("  [Enter/{again}] {this} (default)  [s] any path for {}", clean(&q.syscall)), width));
        let dirs = scope::directories(&q.paths, menu.up);
        let dirs: Vec<String> = dirs.iter().map(|d| clean(&scope::slash(d))).collect();
        let under = format!("[u] under {} and below  [.] up", dirs.join(" and "));
        out.extend(wrap(&under, width, 2));
    }
    let timed = Lasting::For(menu.timed).describe();
    let mut how = format!("  for how long: [o] once  [m] {timed}  [x] until exit");
    if menu.saving {
        how.push_str("  [f] always (saved)");
    }
    how.push_str("  [Backspace] back");
    out.push(fit(&how, width));
    out
}

fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `line`, cut to `width` characters with `…`.
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` broken into lines of `width` characters (continuations indented), at most `max` of them; a longer text
/// keeps its beginning and its end, with the number of characters left out between them.
pub fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    const INDENT: &str = "    ";
    let first = width.saturating_sub(2).max(8);
    let rest = width.saturating_sub(2 + INDENT.len()).max(8);
    let chars: Vec<char> = text.chars().collect();
    let capacity = first + rest * max.saturating_sub(1);
    let body: Vec<char> = if chars.len() <= capacity {
        chars
    } else {
        // Keep the start and the end (the file name), and say how much is left out.
        let mut marker: Vec<char> = format!(" …({} characters)… ", chars.len()).chars().collect();
        let keep = capacity.saturating_sub(marker.len() + 8);
        let head = keep / 2;
        let tail = keep - head;
        marker.splice(0..0, chars[..head].iter().copied());
        marker.extend_from_slice(&chars[chars.len() - tail..]);
        marker
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() || out.is_empty() {
        let take = if out.is_empty() { first } else { rest };
        let end = (at + take).min(body.len());
        let piece: String = body[at..end].iter().collect();
        out.push(if out.is_empty() { format!("  {piece}") } else { format!("  {INDENT}{piece}") });
        at = end;
    }
    out
}

/// `HH:MM:SS` in local time.
fn clock(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let time = libc::time_t::try_from(secs).unwrap_or(0);
    let Some((h, m, s)) = crate::kernel::clock::local_hms(time) else { return "?".into() };
    format!("{h:02}:{m:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(exe: &str, cmdline: &str, args: &str) -> Question {
        Question {
            pid: 42,
            exe: exe.into(),
            cmdline: cmdline.into(),
            syscall: "unlinkat".into(),
            args: args.into(),
            paths: Vec::new(),
            timeout: Duration::from_secs(30),
            deny_errno: proto::Errno::EPERM,
            on_timeout: OnTimeout::Deny,
        }
    }

    #[test]
    fn what_the_program_controls_is_inert() {
        let q = question("/tmp/\x1b[2J\x1b[Hevil", "evil \x1b]0;x\x07 \u{202e}txt.exe \u{9b}31m", "\"a\\x1bb\"");
        let text = lines(&q, 200, 50, SystemTime::now(), &Status::default()).join("\n");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(text.contains("/tmp/\\x1b[2J\\x1b[Hevil"), "{text}");
        assert!(text.contains("\\u{202e}txt.exe") && text.contains("\\u{9b}31m"), "{text}");
        assert!(text.contains("\"a\\x1bb\""), "already escaped arguments stay as they are: {text}");
    }

    #[test]
    fn every_line_fits_the_width() {
        let long = format!("AT_FDCWD, \"/{}/file.txt\", 0", "d".repeat(5000));
        let q = question(&format!("/usr/bin/{}", "x".repeat(300)), &"arg ".repeat(100), &long);
        for width in [40, 80, 200] {
            let text = lines(&q, width, 24, SystemTime::now(), &Status { waiting: 3, ..Status::default() });
            assert!(text.iter().all(|l| l.chars().count() < width), "{width}: {text:#?}");
            assert!(text.len() <= 24, "{width}: {} lines", text.len());
            let all = text.join("");
            assert!(all.contains("file.txt\", 0)"), "the end of the path is kept: {all}");
            assert!(all.contains("characters)…"), "and the cut is said: {all}");
            assert!(all.contains("3 more waiting") || width < 60, "{all}");
        }
        let keys = lines(&q, 40, 24, SystemTime::now(), &Status::default()).join("\n");
        assert!(keys.contains("y/n: once  a/d: always…"), "{keys}");
    }

    #[test]
    fn a_short_call_is_one_line() {
        let q = question("/usr/bin/rm", "rm a", "AT_FDCWD, \"/tmp/a\", 0");
        let text = lines(&q, 80, 24, SystemTime::now(), &Status::default());
        assert_eq!(text.len(), 5, "{text:#?}");
        assert_eq!(text[2], "  wants unlinkat(AT_FDCWD, \"/tmp/a\", 0)");
        assert!(text[4].contains("(30 s): deny"), "{text:#?}");
    }
}
