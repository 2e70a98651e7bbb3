//! Issue 16, item 4: only the person at the terminal answers a question, and item 5: prompts that nobody can
//! answer are said at start. Each test plays the program that tries: typing with TIOCSTI, drawing with escape
//! sequences in its name, its arguments and its file names, answering with keys typed before the question, with
//! the terminal's own answers to its queries, or with a question of its own.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{prompt_policy, sup};
use crate::support::{temp_dir, TIMEOUT};
use crate::tmux::Tmux;

/// A thread of the program pushes `y` into the terminal's input with TIOCSTI (every 10 ms, on fd 0 and on
/// `/dev/tty`, with the request's upper bits set too) while its other thread waits for the answer: every push fails
/// with EPERM, and the question is still waiting until its timeout denies the call. The same push outside
/// supervise works on this machine (`dev.tty.legacy_tiocsti=1`, or root): that is what the filter stops.
#[test]
fn a_program_cannot_type_the_answer_with_tiocsti() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let pusher = r#"
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
tty = os.open("/dev/tty", os.O_RDWR)
codes = []
def push(fd, request):
    c = ctypes.c_char(b"y")
    rc = libc.ioctl(fd, ctypes.c_ulong(request), ctypes.byref(c))
    codes.append(0 if rc == 0 else ctypes.get_errno())
if sys.argv[1] == "once":
    push(0, 0x5412)
    print("control", codes)
    sys.exit(0)
def pusher():
    while True:
        for fd, request in ((0, 0x5412), (tty, 0x5412), (0, 0x1_0000_5412), (tty, 0x541C)):
            push(fd, request)
        time.sleep(0.01)
threading.Thread(target=pusher, daemon=True).start()
time.sleep(0.3)
rc = libc.unlink(b"a")
err = ctypes.get_errno()
open("result.txt", "w").write("unlink %d %d pushes %d ok %d eperm %d\n" % (rc, err, len(codes), codes.count(0), codes.count(1)))
"#;
    std::fs::write(root.join("push.py"), pusher).unwrap();
    let control = Tmux::start(root, "python3 push.py once");
    let screen = control.wait_for("control");
    drop(control);
    let works_here = screen.contains("control [0]");
    let policy = prompt_policy(root, "", 3);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- python3 push.py run", sup()));
    t.wait_for("wants unlink");
    std::thread::sleep(Duration::from_millis(800));
    let screen = t.screen();
    assert!(screen.contains("wants unlink"), "still waiting after 800 ms of pushes: {screen}");
    t.wait_for("no answer in time, denied");
    t.wait_for("EXIT=0");
    let result = std::fs::read_to_string(root.join("result.txt")).unwrap();
    let field = |name: &str| -> u64 {
        let words: Vec<&str> = result.split_whitespace().collect();
        let at = words.iter().position(|w| *w == name).unwrap_or_else(|| panic!("{name} in {result}"));
        words[at + 1].parse().unwrap()
    };
    assert!(result.starts_with("unlink -1 13 "), "denied with the rule's EACCES at the timeout: {result}");
    assert!(field("pushes") > 20, "the pusher ran during the question: {result}");
    assert_eq!(field("ok"), 0, "no push got through: {result}");
    assert_eq!(field("eperm"), field("pushes"), "every push failed with EPERM: {result}");
    assert!(root.join("a").exists());
    if !works_here {
        eprintln!("note: TIOCSTI is refused here even without supervise ({screen}); the filter's part is not shown");
    }
}

/// The program controls its executable's name, its arguments and the file names it passes: escape sequences in
/// them are shown as text (`\x1b[2J`), never obeyed, in the question and in the note after it. A screen cleared by
/// them would lose the marker printed before.
#[test]
fn escape_sequences_in_names_arguments_and_paths_are_shown_not_obeyed() {
    let dir = temp_dir();
    let root = dir.path();
    let evil_file = "f\x1b[2J\x1b[H\x1b]0;owned\x07";
    std::fs::write(root.join(evil_file), "").unwrap();
    let evil_exe = root.join("rm\x1b[2J\x1b[31m");
    std::fs::copy("/usr/bin/rm", &evil_exe).unwrap();
    let runner = format!(
        "import os\nos.execv({}, [{}, '--', {}])",
        py(evil_exe.to_str().unwrap()),
        py("\x1b[2J\x1b[Hrm\u{202e}"),
        py(evil_file)
    );
    std::fs::write(root.join("run.py"), runner).unwrap();
    let policy = prompt_policy(root, "", 30);
    // The program's own output (rm's error message starts with its argv[0]) goes to a file: on the terminal,
    // only supervise's.
    let t = Tmux::start(root, &format!("echo marker-before; {} --policy {policy} -- python3 run.py 2> err.txt", sup()));
    let screen = t.wait_for("wants unlinkat");
    assert!(screen.contains("/rm\\x1b[2J\\x1b[31m"), "the executable's name, escaped: {screen}");
    assert!(screen.contains("\\x1b[2J\\x1b[Hrm\\u{202e} -- f"), "the command line, escaped: {screen}");
    assert!(screen.contains("f\\x1b[2J\\x1b[H\\x1b]0;owned\\x07"), "the path, escaped: {screen}");
    t.keys("n");
    let screen = t.wait_for("EXIT=");
    assert!(screen.contains("marker-before"), "nothing cleared the screen: {screen}");
    assert!(screen.contains("denied once: pid") && screen.contains("\\x1b[2J"), "the note is escaped too: {screen}");
    assert!(root.join(evil_file).exists());
}

/// `text` as a Python string literal (ASCII only, escapes for everything else).
fn py(text: &str) -> String {
    let mut out = String::from("'");
    for c in text.chars() {
        match c {
            '\'' | '\\' => out.push_str(&format!("\\{c}")),
            ' '..='~' => out.push(c),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('\'');
    out
}

/// A `y` typed before the question appeared (here while the program sleeps, before it asks) does not answer it:
/// the question waits and says that a byte was ignored; the key typed after it counts.
#[test]
fn keys_typed_before_the_question_do_not_answer_it() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} -- sh -c 'touch started; sleep 1.5; rm a; echo rm=$?' 2>&1", sup()),
    );
    let start = Instant::now();
    while !root.join("started").exists() {
        assert!(start.elapsed() < TIMEOUT, "the program never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    t.keys("y");
    let screen = t.wait_for("wants unlinkat");
    assert!(screen.contains("typed before this question: ignored"), "{screen}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(t.screen().contains("wants unlinkat"), "the early y did not answer");
    t.keys("n");
    let screen = t.wait_for("EXIT=0");
    assert!(screen.contains("rm=1") && screen.contains("denied once"), "{screen}");
    assert!(root.join("a").exists());
}

/// The terminal answers queries that any program can print (device attributes, the background colour as
/// `rgb:aaaa/…`, the cursor position) by writing into the input, where a question reads its keys. A program that
/// sends them just before it asks gets no answer out of them: escape sequences are never keys.
#[test]
fn the_terminals_answers_to_the_programs_queries_do_not_answer() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    // A light grey background (aaaaaa), then every query, then the call.
    let asker = "import ctypes, os, time\n\
        q = b'\\x1b]11;#aaaaaa\\x07' + b'\\x1b]11;?\\x07\\x1b]10;?\\x07\\x1b[c\\x1b[>c\\x1b[6n\\x1b[21t' * 3\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        def ask(): os.write(1, q)\n\
        ask()\n\
        rc = libc.unlink(b'a')\n\
        open('result.txt', 'w').write('unlink %d %d' % (rc, ctypes.get_errno()))\n";
    std::fs::write(root.join("ask.py"), asker).unwrap();
    let policy = prompt_policy(root, "", 3);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- python3 ask.py", sup()));
    t.wait_for("wants unlink");
    t.wait_for("no answer in time, denied");
    t.wait_for("EXIT=0");
    assert_eq!(std::fs::read_to_string(root.join("result.txt")).unwrap(), "unlink -1 13");
    assert!(root.join("a").exists());
}

/// A program that prints a question of its own (about a harmless file) and keeps printing it while the real one
/// (about `important`) is shown: the real question is alone on the screen, and what the program printed meanwhile
/// comes after the answer, in full.
#[test]
fn a_question_printed_by_the_program_never_shares_the_screen_with_the_real_one() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("important"), "").unwrap();
    let faker = r#"
import ctypes, os, threading, time
fake = "supervise asks: pid 1 /usr/bin/rm\n  rm harmless\n  wants unlinkat(AT_FDCWD, \"/tmp/harmless\", 0)\n"
def keep_faking():
    for i in range(40):
        os.write(1, ("%sfake %d\n" % (fake, i)).encode())
        time.sleep(0.05)
t = threading.Thread(target=keep_faking)
t.start()
time.sleep(0.2)
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.unlink(b"important")
t.join()
print("unlink", rc)
"#;
    std::fs::write(root.join("fake.py"), faker).unwrap();
    let policy = prompt_policy(root, "", 30);
    let t = Tmux::start(root, &format!("{} --policy {policy} -- python3 fake.py", sup()));
    let screen = t.wait_for("/important\")");
    for _ in 0..10 {
        let screen = t.screen();
        if !screen.contains("/important\")") {
            break;
        }
        assert!(!screen.contains("harmless"), "the program's text shares the screen with the question: {screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(screen.matches("supervise asks").count(), 1, "{screen}");
    t.keys("n");
    t.wait_for("EXIT=0");
    let history = t.history();
    for i in 0..40 {
        assert_eq!(history.matches(&format!("fake {i}\n")).count(), 1, "fake {i} is shown once: {history}");
    }
    assert!(history.contains("unlink -1") && history.contains("denied once"), "{history}");
    assert!(root.join("important").exists());
}

/// Without a terminal (`setsid`: no controlling terminal), supervise says once, at start, that prompt rules cannot
/// be answered and what applies instead; each call is denied at once.
#[test]
fn a_run_without_a_terminal_says_at_start_that_prompts_cannot_be_answered() {
    let dir = temp_dir();
    let root = dir.path();
    std::fs::write(root.join("a"), "").unwrap();
    std::fs::write(root.join("b"), "").unwrap();
    let policy = prompt_policy(root, "", 30);
    let mut cmd = Command::new("setsid");
    cmd.current_dir(root).args([sup().as_str(), "--policy", &policy, "--", "sh", "-c", "rm a; rm b"]);
    let out = crate::support::run_with(cmd, b"", TIMEOUT);
    assert!(out.stderr.contains(UNANSWERABLE), "{}", out.stderr);
    assert_eq!(out.stderr.matches("onTimeout applies at once").count(), 1, "once, not per call: {}", out.stderr);
    assert!(root.join("a").exists() && root.join("b").exists());
}

/// For `serve` (no terminal), supervise says once, at start, that prompt rules cannot be answered and what applies
/// instead.
#[test]
fn serve_says_at_start_that_prompts_cannot_be_answered() {
    let dir = temp_dir();
    let root = dir.path();
    let policy = prompt_policy(root, "", 30);
    let socket = root.join("agent.sock");
    let stderr = root.join("serve.stderr");
    let mut serve = Command::new(crate::support::supervise())
        .args(["serve", "--socket", socket.to_str().unwrap(), "--policy", &policy])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(&stderr).unwrap_or_default();
        if log.contains("onTimeout") || start.elapsed() > Duration::from_secs(10) {
            break log;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(log.contains(UNANSWERABLE), "serve: {log}");
}

/// What supervise says about the test policy's prompt rule when nobody can answer it.
const UNANSWERABLE: &str = "nobody can answer them here; their onTimeout applies at once, without asking (denied: \
                            syscalls[0] (unlink, unlinkat))";

/// An answer is remembered for the executable file, not its name: after "always allow mkdir by /usr/bin/mkdir, any
/// path", a binary bind-mounted over /usr/bin/mkdir in the program's own mount namespace (busybox, whose `mkdir`
/// applet makes the same call) is asked again, named as not the file at that path.
#[test]
fn an_answer_for_a_file_does_not_pass_to_an_impostor_with_its_name() {
    if !crate::support::needs_root("a bind mount in a private mount namespace") {
        return;
    }
    if !std::path::Path::new("/usr/bin/busybox").exists() {
        return eprintln!("skipped: no /usr/bin/busybox");
    }
    let dir = temp_dir();
    let root = dir.path();
    // Asked about under the test's directory only (mount makes a directory of its own in /run).
    let real = root.canonicalize().unwrap().display().to_string();
    let mkdir = format!(
        r#"{{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY",
        "supervise": {{ "decision": "prompt", "timeout": 30, "onTimeout": "deny", "errnoRet": "EACCES",
                        "paths": ["{real}/**"] }} }},
        {{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY", "supervise": {{ "decision": "allow" }} }},"#
    );
    let policy = prompt_policy(root, &mkdir, 30);
    let impostor = "unshare -m --propagation private sh -c 'mount --bind /usr/bin/busybox /usr/bin/mkdir && mkdir b'";
    let t = Tmux::start(
        root,
        &format!("{} --policy {policy} -- sh -c \"/usr/bin/mkdir a; {impostor}; echo b=\\$?\"", sup()),
    );
    t.wait_for("wants mkdir");
    t.keys("a");
    t.wait_for("for what?");
    t.keys("s");
    let screen = t.wait_for("(not the file at that path)");
    assert!(screen.contains("/usr/bin/mkdir (not the file at that path)"), "asked again, as an impostor: {screen}");
    t.keys("n");
    let screen = t.wait_for("EXIT=");
    assert!(root.join("a").is_dir() && !root.join("b").exists(), "{screen}");
    assert!(screen.contains("b=1"), "the impostor's mkdir was denied: {screen}");
}
