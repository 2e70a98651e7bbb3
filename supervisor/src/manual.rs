//! The manual pages (`supervise man`): clap_mangen's sections (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, SUBCOMMANDS,
//! VERSION), then the text after `--help`'s options as sections of their own, verbatim (`.nf`): clap_mangen would
//! reflow every example into one line. A paragraph headed `Exit status:` becomes EXIT STATUS, `Examples:` EXAMPLES,
//! the others NOTES.

use std::io::{self, Write};
use std::path::Path;

use clap_mangen::Man;

/// The page of `cmd` (a built command or subcommand), in roff.
///
/// # Errors
/// Only those of writing to a `Vec`, which there are none of; kept for the writer's signature.
pub fn render(cmd: &clap::Command) -> io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        let text = text.to_string();
        let mut sections: Vec<(&str, Vec<&str>)> = Vec::new();
        for paragraph in text.split("\n\n").map(|p| p.trim_matches('\n')).filter(|p| !p.is_empty()) {
            let (title, body) = match paragraph.split_once('\n') {
                Some(("Examples:", body)) => ("EXAMPLES", body),
                Some(("Exit status:", body)) => ("EXIT STATUS", body),
                _ => ("NOTES", paragraph),
            };
            match sections.iter_mut().find(|(t, _)| *t == title) {
                Some((_, bodies)) => bodies.push(body),
                None => sections.push((title, vec![body])),
            }
        }
        // The usual order of a manual page: NOTES, EXIT STATUS, EXAMPLES.
        let rank = |title: &str| ["NOTES", "EXIT STATUS", "EXAMPLES"].iter().position(|t| *t == title);
        sections.sort_by_key(|(title, _)| rank(title));
        for (title, bodies) in sections {
            writeln!(page, ".SH \"{title}\"")?;
            for (i, body) in bodies.iter().enumerate() {
                if i > 0 {
                    writeln!(page, ".PP")?;
                }
                writeln!(page, ".nf")?;
                for line in body.lines() {
                    writeln!(page, "{}", verbatim(line.strip_prefix("  ").unwrap_or(line)))?;
                }
                writeln!(page, ".fi")?;
            }
        }
    }
    if cmd.get_version().or_else(|| cmd.get_long_version()).is_some() {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// Writes `supervise.1` and `supervise-COMMAND.1` for each subcommand into `dir`, creating it when missing.
///
/// # Errors
/// If the directory cannot be created or a page cannot be written.
pub fn write_all(cmd: clap::Command, dir: &Path) -> io::Result<()> {
    fn write(cmd: &clap::Command, dir: &Path) -> io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            write(sub, dir)?;
        }
        let name = format!("{}.1", cmd.get_display_name().unwrap_or_else(|| cmd.get_name()));
        std::fs::write(dir.join(name), render(cmd)?)
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    write(&cmd, dir)
}

/// One line of text for no-fill mode: backslashes and dashes escaped, a leading control character neutralised.
fn verbatim(line: &str) -> String {
    let escaped = line.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn examples_keep_their_lines_and_exit_status_is_a_section() {
        let mut cmd = crate::cli::Cli::command();
        cmd.build();
        let page = String::from_utf8(render(&cmd).unwrap()).unwrap();
        assert!(page.contains(".SH \"EXIT STATUS\"\n.nf\n"), "{page}");
        assert!(page.contains("\nsupervise check my\\-profile.json\n"), "one example, one line: {page}");
        assert!(!page.contains(".SH EXTRA"), "{page}");
    }
}
