//! `--args SYSCALL[:INDEX]`: the syscalls whose argument values `record` and `--audit` turn into `args`
//! conditions ([`Watch`]).

use proto::Arch;

use crate::kernel::syscalls;
use crate::modes::syscall_names::{known_syscalls, suggest};

/// A syscall whose argument values are recorded (`--args NAME[:INDEX]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub name: String,
    pub index: u8,
}

impl Watch {
    /// Parses `NAME` or `NAME:INDEX`; the name must be a syscall on this machine.
    ///
    /// # Errors
    /// A message naming the bad item, with a suggestion for a misspelt name.
    pub fn parse(item: &str) -> Result<Watch, String> {
        let (name, index) = match item.split_once(':') {
            Some((name, index)) => {
                let index = index
                    .parse::<u8>()
                    .ok()
                    .filter(|i| *i <= 5)
                    .ok_or_else(|| format!("--args {item:?}: the argument index must be 0 to 5"))?;
                (name.trim(), index)
            }
            None => (item.trim(), 0),
        };
        if syscalls::number_of(name, Arch::native()).is_none() {
            let known = known_syscalls();
            let hint = suggest(name, &known).map_or(String::new(), |s| format!("; did you mean {s:?}?"));
            return Err(format!("--args {item:?}: {name:?} is not a syscall on {}{hint}", Arch::native()));
        }
        Ok(Watch { name: name.to_string(), index })
    }
}
