//! Crash injection for the delivery-guarantee tests. Debug builds only: release binaries never
//! read `SELIQ_FAULT`.
//!
//! `SELIQ_FAULT=after-write:N` aborts the process after the N-th batch is durably written and
//! before its checkpoint commits; `partial-write:N` aborts halfway through writing the N-th batch.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    AfterWrite,
    PartialWrite,
}

#[cfg(debug_assertions)]
pub fn armed(point: Point, batch_no: u64) -> bool {
    let Ok(spec) = std::env::var("SELIQ_FAULT") else {
        return false;
    };
    let Some((name, n)) = spec.split_once(':') else {
        return false;
    };
    let wanted = match name {
        "after-write" => Point::AfterWrite,
        "partial-write" => Point::PartialWrite,
        _ => return false,
    };
    wanted == point && n.parse() == Ok(batch_no)
}

#[cfg(not(debug_assertions))]
pub fn armed(_point: Point, _batch_no: u64) -> bool {
    false
}

/// Die the way a killed process does: no destructors, no flush.
pub fn crash() -> ! {
    std::process::abort()
}
