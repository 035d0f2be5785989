//! Load the host image the way a kernel maps it, keep its time, and call
//! `clock_gettime` through it (the README's example).

use std::sync::Arc;

use common::abi::Abi;
use common::clock::CLOCK_MONOTONIC;
use common::note::Variant;
use kernel_side::{DataPages, Mapping, Timekeeper, images, timekeeper::Config};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pages = Arc::new(DataPages::anonymous(Abi::Linux6_6)?); // the kernel's data pages
    let ticker = Timekeeper::new(pages.clone(), Config::default())?.spawn(); // keeps them current
    let image = images::load(Abi::Linux6_6, Variant::Host)?; // target/vdso/linux-6.6/vdso.so, checked
    let process = Mapping::new(&pages, &image)?; // data pages read-only, image above
    let vdso = process.vdso(); // entry points, resolved through the dynamic table
    let (ret, now) = vdso.clock_gettime(CLOCK_MONOTONIC);
    println!(
        "clock_gettime(CLOCK_MONOTONIC) = {ret}: {}.{:09}",
        now.tv_sec, now.tv_nsec
    );
    drop(ticker);
    Ok(())
}
