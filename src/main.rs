#![forbid(unsafe_code)]

/// mimalloc instead of glibc's malloc. `serve` allocates and frees small buffers on every vendor
/// request of thousands of integrations from two worker threads, and glibc's malloc spent about
/// a sixth of an idle `serve`'s CPU in its bins (`malloc_consolidate`, `unlink_chunk`); see the
/// README's performance notes for the A/B figures. Built with `no_thp`: mimalloc would otherwise
/// advise transparent huge pages on its arenas, and a `pull` of 200,000 alerts peaked at
/// 105–134 MiB instead of 72–90 MiB for the same CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    seliq_gateway::cli::main()
}
