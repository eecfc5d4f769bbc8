//! `lbctl lab demo` (filled in below).
pub fn run(_unattended: bool) -> anyhow::Result<crate::output::Exit> {
    Ok(crate::output::Exit::Ok)
}
