//! A classic-BPF interpreter for seccomp programs: what the kernel returns for one call's `seccomp_data`, for the
//! instructions libseccomp and the terminal [`guard`](super::guard) emit. Used to say which rule decides a call
//! (`supervise --audit`, `check --explain`) and by the guard's tests.

use super::Insn;

/// What the kernel's classic-BPF interpreter returns for `seccomp_data` {nr, arch, instruction_pointer 0, args},
/// or `None` for an instruction this interpreter does not model (libseccomp emits none of those today) or a
/// program that runs off its end.
pub fn eval(insns: &[Insn], arch: u32, nr: i32, args: &[u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
    loop {
        let i = *insns.get(pc)?;
        pc += 1;
        let k = i.k;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match u32::from(i.code) {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                let o = k as usize;
                a = u32::from_ne_bytes(data.get(o..o + 4)?.try_into().ok()?);
            }
            c if c == libc::BPF_LD | libc::BPF_MEM => a = *mem.get(k as usize)?,
            c if c == libc::BPF_LD | libc::BPF_IMM => a = k,
            c if c == libc::BPF_LDX | libc::BPF_MEM => x = *mem.get(k as usize)?,
            c if c == libc::BPF_LDX | libc::BPF_IMM => x = k,
            c if c == libc::BPF_ST => *mem.get_mut(k as usize)? = a,
            c if c == libc::BPF_STX => *mem.get_mut(k as usize)? = x,
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_K => a &= k,
            c if c == libc::BPF_ALU | libc::BPF_OR | libc::BPF_K => a |= k,
            c if c == libc::BPF_ALU | libc::BPF_AND | libc::BPF_X => a &= x,
            c if c == libc::BPF_ALU | libc::BPF_OR | libc::BPF_X => a |= x,
            c if c == libc::BPF_MISC | libc::BPF_TAX => x = a,
            c if c == libc::BPF_MISC | libc::BPF_TXA => a = x,
            c if c == libc::BPF_JMP | libc::BPF_JA => pc += k as usize,
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += jump(a == k),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => pc += jump(a > k),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => pc += jump(a >= k),
            c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => pc += jump(a & k != 0),
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_X => pc += jump(a == x),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_X => pc += jump(a > x),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_X => pc += jump(a >= x),
            c if c == libc::BPF_RET | libc::BPF_K => return Some(k),
            c if c == libc::BPF_RET | libc::BPF_A => return Some(a),
            _ => return None,
        }
    }
}
