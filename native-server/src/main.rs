//! The `refract` binary: everything is in [`refract_server::cli`].

fn main() -> std::process::ExitCode {
    refract_server::cli::main()
}
