//! The text of a question: what the program controls shown inert, every line fitted to the terminal's width.
//!
//! The executable path, the command line, the arguments and the paths come from the program, which can put any
//! bytes in them. [`clean`] escapes what a terminal would act on or what would reorder the text: C0 and C1 controls
//! and DEL (`\x1b`, `\u{9b}`), bidirectional overrides and invisible format characters (`\u{202e}`). Lines never
//! wrap by themselves: each is cut to the width (with `…`), and the one that matters most, the call with its
//! paths, is broken over several lines instead, up to a limit, past which its middle is left out with a count.
//!
//! A question about a call with a socket address says what it is about in the words of a firewall, in the place of
//! the bare command line: `curl (pid 123, `curl https://…`) wants to connect to 93.184.216.34 port 443 (TCP)`. The
//! command line is shortened first, then the sentence is broken before `wants`, so that the address is always shown
//! whole.

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
    match &q.address {
        Some(address) => out.extend(sentence(q, address, width)),
        None => out.push(fit(&format!("  {}", clean(&q.cmdline)), width)),
    }
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
    out.extend(wrap(&call, width, height.saturating_sub(out.len() + 4 + below.len()).max(3)));
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

/// What a call with a socket address does, in words: `connect to`, `bind to`, `send to`.
pub fn wants_to(syscall: &str) -> String {
    match syscall {
        "connect" => "connect to".into(),
        "bind" => "bind to".into(),
        "sendto" | "sendmsg" | "sendmmsg" => "send to".into(),
        other => format!("{} with", clean(other)),
    }
}

/// The name of a program for people: its executable's file name.
pub fn program(exe: &str) -> &str {
    exe.rsplit('/').next().filter(|name| !name.is_empty()).unwrap_or(exe)
}

/// `curl (pid 123, `curl https://…`) wants to connect to 93.184.216.34 port 443 (TCP)`, on one line if the command
/// line can be shortened to fit, else broken before `wants` (the address wrapped if it is longer than a line).
fn sentence(q: &Question, address: &proto::net::Address, width: usize) -> Vec<String> {
    let who = format!("  {} (pid {}", clean(program(&q.exe)), q.pid);
    let what = format!("wants to {} {}", wants_to(&q.syscall), clean(&address.describe(q.socket_type)));
    let cmdline = clean(&q.cmdline);
    let with_cmdline = |room: usize| match cmdline.as_str() {
        "" => format!("{who})"),
        c => format!("{who}, `{}`)", fit(c, room.max(1))),
    };
    // The shortest command line worth showing on the sentence's line (with the 6 characters around it).
    const SHORTEST: usize = 12;
    let fixed = who.chars().count() + 6 + what.chars().count();
    if fixed + SHORTEST.min(cmdline.chars().count()) <= width {
        return vec![format!("{} {what}", with_cmdline(width - fixed))];
    }
    let mut out = vec![fit(&with_cmdline(width.saturating_sub(who.chars().count() + 5)), width)];
    out.extend(wrap_words(&what, width, 4));
    out
}

/// [`wrap`], broken between words where it can be (a word longer than a line is broken inside).
pub fn wrap_words(text: &str, width: usize, max: usize) -> Vec<String> {
    let first = width.saturating_sub(2).max(8);
    let rest = width.saturating_sub(6).max(8);
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let room = if lines.len() == 1 { first } else { rest };
            let line = lines.last_mut().expect("one line at least");
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= room {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word);
                break;
            }
            if used == 0 {
                // Longer than a whole line: break it inside.
                line.extend(word.drain(..room));
            }
            lines.push(String::new());
        }
    }
    if lines.len() > max {
        return wrap(text, width, max);
    }
    lines.iter().enumerate().map(|(i, l)| if i == 0 { format!("  {l}") } else { format!("      {l}") }).collect()
}

/// The second step of an "always" answer: what it covers (scope keys end the step) and for how long.
fn step(q: &Question, menu: &Menu, width: usize) -> Vec<String> {
    let verb = if menu.allow { "allow" } else { "deny" };
    let again = if menu.allow { 'a' } else { 'd' };
    let mut out = vec![fit(&format!("  {verb} {}, {}, for what?", clean(&q.syscall), menu.lasting.describe()), width)];
    if q.address.is_some() {
        out.extend(destinations(q, again, width));
    } else if q.paths.is_empty() {
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

/// The scope keys of a question about a call with a socket address: this destination, this host, any.
fn destinations(q: &Question, again: char, width: usize) -> Vec<String> {
    use proto::net::{Address, UnixAddr};
    let any = format!("[s] any destination for {}", clean(&q.syscall));
    let Some(address) = q.destination() else {
        return vec![fit(&format!("  [Enter/{again}] any destination  [Backspace] back"), width)];
    };
    let this = match address {
        Address::Unix(UnixAddr::Path(_)) => "this socket path",
        Address::Unix(UnixAddr::Abstract(_)) => "this abstract name",
        _ => "this address and port",
    };
    let mut out = wrap(&format!("[Enter/{again}] {this}: {} (default)", clean(&address.to_string())), width, 2);
    match address.ip() {
        Some(ip) => out.push(fit(&format!("  [h] this host, any port: {ip}  {any}"), width)),
        None => out.push(fit(&format!("  {any}"), width)),
    }
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
            address: None,
            socket_type: None,
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

    fn connect(cmdline: &str, address: proto::net::Address) -> Question {
        Question {
            syscall: "connect".into(),
            args: format!("3, {address}, 16"),
            address: Some(address),
            socket_type: Some(proto::net::SockType::Stream),
            ..question("/usr/bin/curl", cmdline, "")
        }
    }

    #[test]
    fn an_address_question_reads_like_a_firewalls_and_keeps_the_address_whole() {
        let web = proto::net::Address::V4 { ip: [93, 184, 216, 34].into(), port: 443, mapped: false };
        let q = connect("curl https://example.com/", web.clone());
        let text = lines(&q, 200, 50, SystemTime::now(), &Status::default());
        assert_eq!(
            text[1],
            "  curl (pid 42, `curl https://example.com/`) wants to connect to 93.184.216.34 port 443 (TCP)"
        );
        assert_eq!(text[2], "  wants connect(3, 93.184.216.34 port 443, 16)");
        let long = connect(&format!("curl {}", "https://example.com/x".repeat(10)), web);
        let sock =
            proto::net::Address::Unix(proto::net::UnixAddr::Path(format!("/run/{}.sock", "s".repeat(90)).into()));
        let unix = connect("app --socket", sock);
        for width in [40, 80, 120, 200] {
            for (q, whole) in [(&long, "wants to connect to 93.184.216.34 port 443 (TCP)"), (&unix, "ssss.sock")] {
                let text = lines(q, width, 24, SystemTime::now(), &Status::default());
                assert!(text.iter().all(|l| l.chars().count() < width), "{width}: {text:#?}");
                let joined: String = text.iter().map(|l| l.trim_start()).collect::<Vec<_>>().join(" ");
                assert!(joined.contains(whole), "{width}: {text:#?}");
                assert!(joined.contains("curl (pid 42") || joined.contains("curl (pid…"), "{width}: {text:#?}");
            }
        }
        let text = lines(&long, 120, 24, SystemTime::now(), &Status::default());
        assert!(
            text[1].starts_with("  curl (pid 42, `curl https://")
                && text[1].ends_with("…`) wants to connect to 93.184.216.34 port 443 (TCP)"),
            "the command line is shortened first: {text:#?}"
        );
    }

    #[test]
    fn the_second_step_of_an_address_question_offers_this_address_this_host_or_any() {
        let web = proto::net::Address::V4 { ip: [127, 0, 0, 1].into(), port: 8080, mapped: false };
        let menu = Menu {
            allow: true,
            lasting: Lasting::Run,
            up: 0,
            scope: super::super::ScopeKey::Path,
            saving: false,
            timed: scope::TIMED,
        };
        let status = Status { menu: Some(menu), ..Status::default() };
        let text = lines(&connect("nc", web), 200, 50, SystemTime::now(), &status).join("\n");
        assert!(text.contains("[Enter/a] this address and port: 127.0.0.1 port 8080 (default)"), "{text}");
        assert!(text.contains("[h] this host, any port: 127.0.0.1  [s] any destination for connect"), "{text}");
        let name = proto::net::Address::Unix(proto::net::UnixAddr::Abstract(b"bus".to_vec()));
        let text = lines(&connect("nc", name), 200, 50, SystemTime::now(), &status).join("\n");
        assert!(text.contains("[Enter/a] this abstract name: abstract:bus (default)"), "{text}");
        assert!(!text.contains("[h]"), "{text}");
    }
}
