//! The `paindiary` binary's entry point.

fn main() -> anyhow::Result<()> {
    Ok(())
}
