#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    seliq_gateway::cli::main()
}
